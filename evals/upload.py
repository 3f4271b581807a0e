"""`python -m evals upload [PATH ...] [--results RUN.json] [--dataset NAME]`: cases and results to
LangSmith as a dataset and an experiment, with the official `langsmith` SDK.

What was chosen:
- Nothing is sent without LANGSMITH_API_KEY: the command says what to set, that nothing was sent,
  and exits 0. LANGSMITH_ENDPOINT picks another LangSmith (self-hosted, EU); unset means the SDK's
  default. Both are passed to the client explicitly.
- The dataset (`--dataset`, default `hibachi-evals`) gets one example per case: inputs are the case
  as the runner reads it without its expectations (id, kind, channel, clock, customer, fixtures,
  turns), reference outputs are its `expect` (or `expect_slots`), metadata names the case id, kind,
  file and categories. Uploading again updates the examples of the cases already there (matched by
  the case id in their metadata) and adds the new ones; examples of cases not uploaded are kept.
- `--results` is a `python -m evals run --json` file (replay or `--simulate`). It becomes an
  experiment: a project linked to the dataset, named `<dataset>-<UTC time>`, with the run's summary in
  its metadata and its summary line as description; one run per case run (inputs: the case id and the
  customer's messages; outputs: the transcript, expected / actual, failures, violations; the case's
  error as the run's error; linked to the case's example), and feedback on each: `passed` (1 / 0),
  `slot_accuracy` (when fields were graded) and `violations`. A result whose case is not in the
  dataset is still uploaded, unlinked, and counted in the output. The file is read and checked
  before anything is sent (a malformed one exits 2).
- Runs are sent synchronously (no background batching), so the command ends when all is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .cases import Case, ConversationCase, load_cases

if TYPE_CHECKING:
    from langsmith import Client

NOT_CONFIGURED = (
    "evals: upload needs LANGSMITH_API_KEY (and LANGSMITH_ENDPOINT for a self-hosted or EU LangSmith); nothing was sent"
)
EXPECTATIONS = frozenset({"expect", "expect_slots"})


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def example_of(path: Path, case: Case) -> dict[str, Any]:
    """One dataset example for a case: inputs without the expectations, the expectations as outputs."""
    raw = case.model_dump(mode="json", exclude_none=True)
    inputs = {key: value for key, value in raw.items() if key not in EXPECTATIONS}
    outputs = raw["expect"] if isinstance(case, ConversationCase) else {"expect_slots": raw["expect_slots"]}
    metadata = {"case_id": case.id, "kind": case.kind, "path": str(path), "categories": case.categories}
    return {"inputs": inputs, "outputs": outputs, "metadata": metadata}


def read_results(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The summary and results of a `--json` file; UsageError when it is not one."""
    from .cli import UsageError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"--results {path}: cannot read: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise UsageError(f"--results {path}: not a `python -m evals run --json` file (no results list)")
    results: list[dict[str, Any]] = data["results"]
    for index, result in enumerate(results):
        if not isinstance(result, dict) or not isinstance(result.get("case_id"), str) or "passed" not in result:
            raise UsageError(f"--results {path}: results[{index}] has no case_id / passed")
    summary = data.get("summary")
    return (summary if isinstance(summary, dict) else {}), results


def _client() -> Client:
    from langsmith import Client

    return Client(api_url=_env("LANGSMITH_ENDPOINT"), api_key=_env("LANGSMITH_API_KEY"), auto_batch_tracing=False)


def upload_dataset(client: Client, name: str, cases: Sequence[tuple[Path, Case]]) -> tuple[Any, dict[str, str], int]:
    """The dataset with one example per case: (dataset, example id by case id, examples created)."""
    if client.has_dataset(dataset_name=name):
        dataset = client.read_dataset(dataset_name=name)
        existing = {
            str((example.metadata or {}).get("case_id")): str(example.id)
            for example in client.list_examples(dataset_id=dataset.id)
        }
    else:
        dataset = client.create_dataset(name, description="Hibachi booking agent eval cases (EVALS.md)")
        existing = {}
    ids: dict[str, str] = {}
    new: list[dict[str, Any]] = []
    for path, case in cases:
        example = example_of(path, case)
        if case.id in existing:
            ids[case.id] = existing[case.id]
            client.update_example(
                existing[case.id],
                inputs=example["inputs"],
                outputs=example["outputs"],
                metadata=example["metadata"],
                dataset_id=dataset.id,
            )
        else:
            ids[case.id] = str(uuid.uuid4())
            new.append(
                {
                    "id": ids[case.id],
                    "inputs": example["inputs"],
                    "reference_outputs": example["outputs"],
                    "metadata": example["metadata"],
                }
            )
    if new:
        client.create_examples(dataset_id=dataset.id, examples=new)
    return dataset, ids, len(new)


def _line(summary: dict[str, Any]) -> str:
    try:
        return (
            f"evals: {summary['cases']} cases, success {summary['success']:.3f},"
            f" slot_accuracy {summary['slot_accuracy']:.3f}, violations {summary['violations']},"
            f" p95_turn_ms {round(summary['p95_turn_ms'])}"
        )
    except (KeyError, TypeError, ValueError):
        return "evals run"


def upload_experiment(
    client: Client,
    dataset: Any,
    example_ids: dict[str, str],
    summary: dict[str, Any],
    results: list[dict[str, Any]],
    source: Path,
) -> tuple[str, int]:
    """The results as an experiment on the dataset: (its name, results whose case is not in it)."""
    started = datetime.now(UTC)
    name = f"{dataset.name}-{started:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    project = client.create_project(
        name,
        description=_line(summary),
        metadata={"summary": summary, "results_file": source.name, "source": "python -m evals upload"},
        reference_dataset_id=dataset.id,
    )
    unlinked = 0
    clock = started
    for result in results:
        case_id = result["case_id"]
        turns = [t for t in result.get("turns") or [] if isinstance(t, dict)]
        elapsed = timedelta(milliseconds=sum(float(t.get("ms") or 0) for t in turns))
        run_id = uuid.uuid4()
        reference = example_ids.get(case_id)
        unlinked += reference is None
        client.create_run(
            name=case_id,
            run_type="chain",
            id=run_id,
            project_name=name,
            inputs={"case_id": case_id, "messages": [t.get("user") for t in turns]},
            outputs={
                "passed": bool(result["passed"]),
                "transcript": turns,
                "expected": result.get("expected"),
                "actual": result.get("actual"),
                "failures": result.get("failures") or [],
                "violations": result.get("violations") or [],
            },
            error=result.get("error") or None,
            start_time=clock,
            end_time=clock + elapsed,
            reference_example_id=reference,
            extra={"metadata": {"run": result.get("run"), "kind": result.get("kind"), "path": result.get("path")}},
        )
        clock += elapsed
        feedback: dict[str, float] = {
            "passed": 1.0 if result["passed"] else 0.0,
            "violations": float(len(result.get("violations") or [])),
        }
        graded = int(result.get("graded") or 0)
        if graded:
            feedback["slot_accuracy"] = int(result.get("matched") or 0) / graded
        for key, score in feedback.items():
            client.create_feedback(run_id, key, score=score, session_id=project.id)
    client.update_project(project.id, end_time=max(clock, datetime.now(UTC)))
    return name, unlinked


def upload(args: argparse.Namespace, out: TextIO, *, client: Client | None = None) -> int:
    from .cli import DEFAULT_CASES

    if client is None and not _env("LANGSMITH_API_KEY"):
        out.write(NOT_CONFIGURED + "\n")
        return 0
    cases = load_cases(args.paths or [DEFAULT_CASES])
    run = read_results(args.results) if args.results else None
    client = client or _client()
    dataset, example_ids, created = upload_dataset(client, args.dataset, cases)
    out.write(
        f"evals: dataset {dataset.name!r}: {len(cases)} cases ({created} new examples,"
        f" {len(cases) - created} updated)\n"
    )
    if run is None:
        out.write("evals: no --results file; no experiment uploaded\n")
        return 0
    summary, results = run
    name, unlinked = upload_experiment(client, dataset, example_ids, summary, results, args.results)
    note = f"; {unlinked} not linked (case not in the dataset)" if unlinked else ""
    out.write(f"evals: experiment {name!r}: {len(results)} runs{note}\n")
    return 0
