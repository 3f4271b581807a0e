"""`python -m evals run [PATH ...] [--business FILE] [--k N] [--engine rules|llm] [--json FILE]
[--report FILE.html] [--min-success X] [--max-violations N]` (EVALS.md), and `python -m evals upload`.

Exit codes: 0 ran; 1 success below `--min-success`, more violations than `--max-violations`, or (with
the rules engine and `--k` > 1) a case that passed some runs and failed others; 2 a case file, the
business file or an option is wrong (the message names the file and the field).

The per-case table, then the summary line, go to standard output; the progress bar to standard
error, only when it is a terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from agent.engines import RULES, Phraser, TemplatePhraser, Understander
from domain.business import Business
from hibachi.business_file import DEFAULT_BUSINESS_FILE, BusinessFileError, load_business

from .cases import Case, CaseFileError, ConversationCase, load_cases
from .results import CaseResult, Summary, by_category, summarize, table

DEFAULT_CASES = Path(__file__).resolve().parent / "cases"


class UsageError(Exception):
    """A wrong option or a missing setting: exit 2 with this message."""


class Progress:
    """A one-line progress bar on a terminal; silent otherwise (CI logs stay clean)."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.live = stream.isatty() and total > 0

    def step(self, label: str, passed: bool) -> None:
        self.done += 1
        if not self.live:
            return
        width = 30
        filled = width * self.done // self.total
        mark = "." if passed else "x"
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {mark} {label[:40]:<40}")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def engines(name: str) -> tuple[Understander, Phraser]:
    if name == "rules":
        return RULES, TemplatePhraser()
    from agent.engines import make_engine, make_phraser
    from hibachi.settings import SettingsError, fresh_keys, load_settings

    try:
        # The runner brings its own keys (see evals.world); only the LLM_* settings matter here.
        settings = load_settings(
            agent_engine="llm", **{name.lower(): value for name, value in fresh_keys("evals").items()}
        )
    except SettingsError as error:
        raise UsageError(f"--engine llm: {error} (set LLM_API_KEY, and LLM_BASE_URL / LLM_MODEL as needed)") from None
    return make_engine(settings), make_phraser(settings)


def run_cases(
    cases: Sequence[tuple[Path, Case]],
    business: Business,
    *,
    k: int = 1,
    engine: str = "rules",
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Every case k times; conversation cases on one scratch database (see evals.world)."""
    from .extraction import run_extraction

    understander, phraser = engines(engine)
    results: list[CaseResult] = []
    world = None
    try:
        if any(isinstance(case, ConversationCase) for _, case in cases):
            from .world import World

            world = World(business, understander=understander, phraser=phraser)
        for run in range(1, k + 1):
            for path, case in cases:
                if isinstance(case, ConversationCase):
                    from .conversation import run_conversation

                    assert world is not None
                    result = run_conversation(world, case, path, run)
                else:
                    result = run_extraction(understander, case, path, run, timezone=business.timezone)
                results.append(result)
                if progress:
                    progress.step(case.id, result.passed)
    finally:
        if progress:
            progress.close()
        if world is not None:
            world.close()
    return results


def nondeterministic(results: Sequence[CaseResult]) -> list[str]:
    outcomes: dict[str, set[bool]] = {}
    for result in results:
        outcomes.setdefault(result.case_id, set()).add(result.passed)
    return sorted(case_id for case_id, seen in outcomes.items() if len(seen) > 1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description="Replay and score eval cases (EVALS.md).")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run cases and print the per-case table and the summary line")
    run.add_argument("paths", nargs="*", type=Path, help=f"case files or folders (default {DEFAULT_CASES})")
    run.add_argument("--business", type=Path, default=DEFAULT_BUSINESS_FILE, help="business file")
    run.add_argument("--k", type=int, default=1, help="run every case K times and report pass^k")
    run.add_argument("--engine", choices=["rules", "llm"], default="rules")
    run.add_argument("--json", type=Path, help="write every result and the summary as JSON here")
    run.add_argument("--report", type=Path, help="write a self-contained HTML report here")
    run.add_argument("--min-success", type=float, help="exit 1 when success is below this")
    run.add_argument("--max-violations", type=int, help="exit 1 when there are more policy violations than this")
    run.add_argument(
        "--simulate",
        action="store_true",
        help="with --engine llm: an LLM-simulated customer pursues each conversation case's goal",
    )
    upload = commands.add_parser("upload", help="push cases and results to LangSmith (needs LANGSMITH_API_KEY)")
    upload.add_argument("paths", nargs="*", type=Path)
    upload.add_argument("--results", type=Path, help="a --json file of a run to upload as an experiment")
    upload.add_argument("--dataset", default="hibachi-evals", help="LangSmith dataset name")
    return parser


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    if args.k < 1:
        raise UsageError("--k: must be 1 or more")
    try:
        business = load_business(args.business)
    except BusinessFileError as error:
        raise UsageError(f"--business: {error}") from None
    cases = load_cases(args.paths or [DEFAULT_CASES])
    if args.simulate:
        from .simulate import run_simulated

        return run_simulated(cases, business, args, out)
    results = run_cases(cases, business, k=args.k, engine=args.engine, progress=Progress(len(cases) * args.k))
    summary = summarize(results, args.k)
    out.write(table(results) + "\n\n")
    for category, (passed, total) in by_category(results).items():
        out.write(f"  {category:<24} {passed}/{total}\n")
    flaky = nondeterministic(results)
    if args.k > 1:
        out.write(f"pass^1 {summary.pass_1:.3f}, pass^{args.k} {summary.success:.3f}\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"summary": asdict(summary), "results": [r.to_json() for r in results]}, indent=2, default=str)
        )
    if args.report:
        from .report import write_report

        args.report.parent.mkdir(parents=True, exist_ok=True)
        write_report(args.report, results, summary)
    status = _status(args, summary, flaky, out)
    out.write(summary.line() + "\n")
    out.flush()
    return status


def _status(args: argparse.Namespace, summary: Summary, flaky: list[str], out: TextIO) -> int:
    status = 0
    if args.min_success is not None and summary.success < args.min_success:
        out.write(f"FAILED: success {summary.success:.3f} is below --min-success {args.min_success}\n")
        status = 1
    if args.max_violations is not None and summary.violations > args.max_violations:
        out.write(f"FAILED: {summary.violations} policy violations (at most {args.max_violations} allowed)\n")
        status = 1
    if flaky and args.engine == "rules":
        out.write(f"FAILED: determinism check: the rules engine passed and failed the same case: {flaky}\n")
        status = 1
    return status


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        if args.command == "upload":
            from .upload import upload

            return upload(args, out)
        return cmd_run(args, out)
    except CaseFileError as error:
        print(f"evals: malformed case file {error}", file=sys.stderr)
        return 2
    except UsageError as error:
        print(f"evals: {error}", file=sys.stderr)
        return 2
