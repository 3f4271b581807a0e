"""Accuracy of the rules understanding engine on the SGD extraction cases (../shared/data/sgd).

    .venv/bin/python bench/understanding_accuracy.py [FOLDER] [--split train|dev]

Each case's turns are understood in order, each with what was understood before (merge), pending
None; the accumulated slots are compared with `expect_slots`, key by key, as EVALS.md grades an
extraction case. Prints one summary line per split and overall, then every failing case with the
expected and the actual values, and the mean time per message.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.schema import Context, Slots
from agent.understanding import merge, understand

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "sgd"
KEYS = ("date", "time", "party_total")


def load_cases(folder: Path) -> list[dict[str, Any]]:
    cases = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".json":
            cases.append(json.loads(path.read_text()))
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            cases.append(yaml.safe_load(path.read_text()))
    return [c for c in cases if c.get("kind") == "extraction"]


def run_case(case: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The accumulated slots (as plain values) and the number of messages understood."""
    now = datetime.fromisoformat(case["now"])
    known = Slots()
    for turn in case["turns"]:
        ctx = Context(now=now, known=known, pending=None)
        known = merge(known, understand(turn, ctx).slots)
    return known.model_dump(), len(case["turns"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--split", choices=["train", "dev"], help="only cases whose id contains -<split>-")
    args = parser.parse_args()
    if not args.folder.is_dir():
        print(f"no such folder: {args.folder}", file=sys.stderr)
        return 2
    cases = load_cases(args.folder)
    if args.split:
        cases = [c for c in cases if f"-{args.split}-" in c["id"]]

    groups: dict[str, list[bool]] = {"train": [], "dev": [], "all": []}
    by_key: dict[str, Counter[str]] = {g: Counter() for g in groups}
    graded: dict[str, Counter[str]] = {g: Counter() for g in groups}
    failures: list[str] = []
    messages, elapsed = 0, 0.0
    for case in cases:
        started = time.perf_counter()
        got, n = run_case(case)
        elapsed += time.perf_counter() - started
        messages += n
        expected: dict[str, Any] = case["expect_slots"]
        split = "dev" if "-dev-" in case["id"] else "train"
        ok = True
        wrong = {}
        for key, value in expected.items():
            right = got.get(key) == value
            ok &= right
            if not right:
                wrong[key] = (value, got.get(key))
            for g in (split, "all"):
                graded[g][key] += 1
                by_key[g][key] += right
        for g in (split, "all"):
            groups[g].append(ok)
        if not ok:
            detail = ", ".join(f"{k}: expected {e!r} got {a!r}" for k, (e, a) in wrong.items())
            failures.append(f"  {case['id']}: {detail}")

    for g in ("all", "train", "dev"):
        results = groups[g]
        if not results:
            continue
        keys = " ".join(f"{k} {by_key[g][k] / graded[g][k]:.3f}" for k in KEYS if graded[g][k])
        label = "sgd" if g == "all" else f"sgd[{g}]"
        print(f"{label}: {len(results)} cases, fully right {sum(results) / len(results):.3f}, by key: {keys}")
    if failures:
        print(f"failing cases ({len(failures)}):")
        print("\n".join(failures))
    if messages:
        print(f"{messages} messages, {elapsed / messages * 1e3:.3f} ms per message (with merge)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
