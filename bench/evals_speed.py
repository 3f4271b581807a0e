"""How long the eval suite takes: the project's conversation cases, repeated until at least
--cases case runs (default 100), through `evals.cli.run_cases` exactly as `python -m evals run` runs
them (one scratch database, emptied before each case). Target: 100 conversation cases in < 60 s.

    .venv/bin/python bench/evals_speed.py [--cases 100] [PATH ...]

Prints the wall time (set-up of the scratch database included), case runs per second, and the
p50/p95 of one case's and one turn's wall time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evals.cases import ConversationCase, load_cases
from evals.cli import DEFAULT_CASES, run_cases
from evals.results import percentile, summarize
from hibachi.business_file import load_business


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[DEFAULT_CASES])
    parser.add_argument("--cases", type=int, default=100, help="case runs to time, at least")
    args = parser.parse_args()
    cases = [(p, c) for p, c in load_cases(args.paths) if isinstance(c, ConversationCase)]
    if not cases:
        print("no conversation cases", file=sys.stderr)
        return 2
    k = math.ceil(args.cases / len(cases))
    started = time.perf_counter()
    results = run_cases(cases, load_business(), k=k)
    wall = time.perf_counter() - started
    case_s = [sum(t.ms for t in r.turns) / 1000 for r in results]
    turns = [t.ms for r in results for t in r.turns]
    summary = summarize(results, k)
    print(f"{len(results)} conversation case runs ({len(cases)} cases x {k}), {len(turns)} turns")
    print(f"wall {wall:.1f} s (scratch database set-up included), {len(results) / wall:.1f} case runs/s")
    print(f"per case: p50 {percentile(case_s, 0.5):.2f} s, p95 {percentile(case_s, 0.95):.2f} s")
    print(f"per turn: p50 {percentile(turns, 0.5):.0f} ms, p95 {percentile(turns, 0.95):.0f} ms")
    print(f"100 cases would take {wall / len(results) * 100:.1f} s (target < 60 s)")
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
