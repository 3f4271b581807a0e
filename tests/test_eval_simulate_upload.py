"""`python -m evals run --simulate` and `python -m evals upload`.

The simulated customer is a scripted chat model (it answers the agent's last question from a table,
so it follows whatever the agent asks) and the agent runs the rules engine: no network. Upload goes
through the real `langsmith` SDK to a fake LangSmith API on loopback that records every request.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from agent.engines import RULES, TemplatePhraser
from evals import cli
from evals.cases import load_cases
from evals.simulate import SKIPPED, customer_prompt, run_simulated, simulate_cases
from evals.upload import NOT_CONFIGURED
from hibachi.business_file import load_business

BOOKING_CASE: dict[str, Any] = {
    "id": "book-simulated-web",
    "kind": "conversation",
    "channel": "web",
    "now": "2026-12-01T10:00:00-08:00",
    "turns": [
        {"user": "hi! do you do hibachi parties on dec 12?", "expect_reply_contains": ["12"]},
        "6pm, 12 adults and 3 kids",
        "2400 J St, Sacramento, CA 95816",
        "Dana Lee",
        "dana.lee@example.com, 916-555-0123",
        "4 lobster tails",
        "yes you can text me",
        "yes",
    ],
    "expect": {
        "outcome": "booked",
        "booking": {
            "date": "2026-12-12",
            "slot": "18:00",
            "party_adults": 12,
            "party_kids": 3,
            "zip": "95816",
            "first_name": "Dana",
            "last_name": "Lee",
            "email": "dana.lee@example.com",
            "phone": "+19165550123",
            "upgrades": {"lobster_tail": 4},
            "total_due_cents": 87000,
            "consent_sms": True,
            "status": "deposit_pending",
        },
        "said": ["$870.00"],
    },
}
QUESTION_CASE: dict[str, Any] = {
    "id": "faq-simulated-price",
    "kind": "conversation",
    "channel": "web",
    "now": "2026-12-01T10:00:00-08:00",
    "turns": ["how much is a party for 10 adults?"],
    "expect": {"outcome": "no_booking"},
}
EXTRACTION_CASE: dict[str, Any] = {
    "id": "sgd-simulated-1",
    "kind": "extraction",
    "now": "2019-03-01T09:00:00-08:00",
    "turns": ["a table on the 8th please"],
    "expect_slots": {"date": "2019-03-08"},
}
# The customer's answers, by a phrase of the agent's question (first match wins); worded unlike the
# case's turns, so a pass shows the conversation followed the simulated customer.
ANSWERS = [
    ("shall i book", "yes please, book it"),
    ("what time", "6pm please, for 12 adults and 3 kids"),
    ("address", "2400 J St, Sacramento, CA 95816"),
    ("first and last name", "Dana Lee"),
    ("email", "dana.lee@example.com, 916-555-0123"),
    ("upgrade", "4 lobster tails"),
    ("text you", "yes you can text me"),
]


class ScriptedCustomer(BaseChatModel):
    """A chat model playing the customer: when its system prompt's goal is a booking, it answers the
    agent's last message from `answers`; DONE when none fits, or when the goal is anything else."""

    answers: list[tuple[str, str]] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-customer"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        booking = "Your goal: book" in str(messages[0].content)
        last = str(messages[-1].content).casefold()
        text = next((answer for phrase, answer in self.answers if booking and phrase in last), "DONE")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def write_case(folder: Path, raw: dict[str, Any]) -> Path:
    path = folder / f"{raw['id']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def no_model(settings_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    settings_env.delenv("LLM_API_KEY", raising=False)
    return settings_env


# --- --simulate ---------------------------------------------------------------------------------


def test_simulate_without_a_key_is_skipped_with_a_clear_message(no_model: pytest.MonkeyPatch, tmp_path: Path) -> None:
    case = write_case(tmp_path, BOOKING_CASE)
    out = StringIO()
    assert cli.main(["run", str(case), "--engine", "llm", "--simulate"], out=out) == 0
    assert out.getvalue() == SKIPPED + "\n"
    assert "LLM_API_KEY" in SKIPPED and "nothing ran" in SKIPPED


def test_simulate_with_the_rules_engine_is_skipped_even_with_a_key(
    no_model: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_model.setenv("LLM_API_KEY", "sk-test")
    case = write_case(tmp_path, BOOKING_CASE)
    out = StringIO()
    assert cli.main(["run", str(case), "--simulate"], out=out) == 0
    assert out.getvalue() == SKIPPED + "\n"
    assert "--engine llm" in SKIPPED


def test_the_customer_prompt_states_the_goal_from_expect(tmp_path: Path) -> None:
    ((_, case),) = load_cases([write_case(tmp_path, BOOKING_CASE)])
    assert case.kind == "conversation"
    prompt = customer_prompt(case, {}, load_business())
    assert "Your goal: book a hibachi party" in prompt
    for fact in (
        "Saturday, December 12, 2026",
        "6pm",
        "12 adults and 3 kids",
        "ZIP 95816",
        "Dana Lee",
        "dana.lee@example.com",
        "+19165550123",
        "lobster tail for 4 guests",
        "text messages about the booking: yes",
        "chatting on the business's website",
        "2400 J St",  # from the scripted turns: expect names only the ZIP
        "DONE",
    ):
        assert fact in prompt, fact


def test_a_simulated_customer_drives_a_conversation_to_a_booking(admin_url: str, tmp_path: Path) -> None:
    cases = load_cases([write_case(tmp_path, BOOKING_CASE), write_case(tmp_path, QUESTION_CASE)])
    customer = ScriptedCustomer(answers=ANSWERS)
    results = simulate_cases(
        cases,
        load_business(),
        customer_model=customer,
        understander=RULES,
        phraser=TemplatePhraser(),
        admin_url=admin_url,
    )
    booked, question = results
    assert booked.case_id == "book-simulated-web"
    assert booked.passed, (booked.error, booked.failures, booked.violations)
    assert booked.actual["outcome"] == "booked"
    assert booked.graded == booked.matched == len(BOOKING_CASE["expect"]["booking"])
    said = [turn.user for turn in booked.turns]
    assert said[0] == "hi! do you do hibachi parties on dec 12?"  # the case's first turn, word for word
    assert said[1] == "6pm please, for 12 adults and 3 kids"  # then the simulated customer
    assert said[-1] == "yes please, book it"  # the booking ends the conversation
    assert "You're booked" in booked.turns[-1].reply
    # The model saw the goal as its system prompt and the agent's replies as the other side.
    system = customer.seen[0][0]
    assert system.type == "system" and "Your goal: book a hibachi party" in str(system.content)
    assert customer.seen[0][1].type == "ai" and str(customer.seen[0][1].content) == said[0]
    assert customer.seen[0][2].type == "human" and "December 12" in str(customer.seen[0][2].content)

    # DONE ends the conversation and is not sent to the agent.
    assert question.passed, (question.error, question.failures, question.violations)
    assert [turn.user for turn in question.turns] == ["how much is a party for 10 adults?"]
    assert question.actual["outcome"] == "no_booking"


def test_the_simulated_run_prints_the_table_and_the_summary_line(
    no_model: pytest.MonkeyPatch, admin_url: str, tmp_path: Path
) -> None:
    no_model.setenv("LLM_API_KEY", "sk-test")  # a model is configured; the injected ones are used
    write_case(tmp_path, BOOKING_CASE)
    write_case(tmp_path, EXTRACTION_CASE)
    report = tmp_path / "sim.json"
    args = cli._parser().parse_args(
        ["run", str(tmp_path), "--engine", "llm", "--simulate", "--json", str(report), "--min-success", "1"]
    )
    out = StringIO()
    status = run_simulated(
        load_cases([tmp_path]),
        load_business(),
        args,
        out,
        customer_model=ScriptedCustomer(answers=ANSWERS),
        agent=(RULES, TemplatePhraser()),
        admin_url=admin_url,
    )
    lines = out.getvalue().splitlines()
    assert status == 0, out.getvalue()
    assert lines[0] == "evals: --simulate: 1 extraction case(s) left out (no customer)"
    assert lines[1].startswith("case") and lines[2].startswith("book-simulated-web")
    assert " pass " in lines[2]
    assert lines[-1].startswith("evals: 1 cases, success 1.000, slot_accuracy 1.000, violations 0, p95_turn_ms ")
    saved = json.loads(report.read_text())
    assert saved["simulated"] is True and saved["results"][0]["passed"] is True


# --- upload --------------------------------------------------------------------------------------


class FakeLangSmith:
    """Just enough of the LangSmith REST API for the SDK calls upload makes; records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]], Any, str | None]] = []
        self.datasets: dict[str, dict[str, Any]] = {}
        self.examples: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.runs: list[dict[str, Any]] = []
        self.feedback: list[dict[str, Any]] = []
        self.tenant = str(uuid.uuid4())
        self.unknown: list[str] = []  # requests this fake has no answer for

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        now = datetime.now(UTC).isoformat()
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["info"]:
            return 200, {"version": "0.0.0-fake"}
        if method == "GET" and parts == ["datasets"]:
            name = query.get("name", [None])[0]
            return 200, [d for d in self.datasets.values() if name is None or d["name"] == name]
        if method == "GET" and parts[:1] == ["datasets"] and len(parts) == 2:
            return (200, self.datasets[parts[1]]) if parts[1] in self.datasets else (404, {"detail": "not found"})
        if method == "POST" and parts == ["datasets"]:
            dataset = {"id": str(uuid.uuid4()), "created_at": now, **body}
            self.datasets[dataset["id"]] = dataset
            return 200, dataset
        if method == "GET" and parts == ["examples"]:
            wanted = query.get("dataset", [None])[0]
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["100"])[0])
            rows = [e for e in self.examples.values() if e["dataset_id"] == wanted]
            return 200, rows[offset : offset + limit]
        if method == "POST" and parts == ["examples", "bulk"]:
            for example in body:
                self.examples[example["id"]] = {"created_at": now, **example}
            return 200, [{"id": example["id"]} for example in body]
        if method == "PATCH" and parts[:1] == ["examples"] and len(parts) == 2:
            self.examples[parts[1]].update(body)
            return 200, self.examples[parts[1]]
        if method == "GET" and parts == ["sessions"]:
            return 200, list(self.sessions.values())[:1]
        if method == "POST" and parts == ["sessions"]:
            session = {"tenant_id": self.tenant, "start_time": now, "reference_dataset_id": None, **body}
            self.sessions[session["id"]] = session
            return 200, session
        if method == "PATCH" and parts[:1] == ["sessions"] and len(parts) == 2:
            session = self.sessions[parts[1]]
            session.update({key: value for key, value in body.items() if value is not None})
            return 200, session
        if method == "POST" and parts == ["runs"]:
            self.runs.append(body)
            return 200, {}
        if method == "POST" and parts == ["feedback"]:
            self.feedback.append(body)
            return 200, body
        self.unknown.append(f"{method} {path}")
        return 404, {"detail": f"fake LangSmith: no {method} {path}"}


@pytest.fixture
def langsmith_api() -> Iterator[tuple[FakeLangSmith, str]]:
    fake = FakeLangSmith()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            query = parse_qs(url.query)
            fake.requests.append((self.command, url.path, query, body, self.headers.get("x-api-key")))
            status, payload = fake.answer(self.command, url.path, query, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def langsmith_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING"):
        monkeypatch.setenv(name, "false")
    return monkeypatch


def test_upload_without_a_key_says_what_to_set_and_sends_nothing(
    langsmith_env: pytest.MonkeyPatch, langsmith_api: tuple[FakeLangSmith, str], tmp_path: Path
) -> None:
    fake, url = langsmith_api
    langsmith_env.setenv("LANGSMITH_ENDPOINT", url)  # reachable, yet nothing may be sent without a key
    out = StringIO()
    assert cli.main(["upload", str(write_case(tmp_path, BOOKING_CASE))], out=out) == 0
    assert out.getvalue() == NOT_CONFIGURED + "\n"
    assert "LANGSMITH_API_KEY" in NOT_CONFIGURED and "nothing was sent" in NOT_CONFIGURED
    assert fake.requests == []


def test_upload_creates_a_dataset_and_an_experiment_from_a_run(
    langsmith_env: pytest.MonkeyPatch, langsmith_api: tuple[FakeLangSmith, str], admin_url: str, tmp_path: Path
) -> None:
    fake, url = langsmith_api
    cases = tmp_path / "cases"
    cases.mkdir()
    write_case(cases, BOOKING_CASE)
    write_case(cases, EXTRACTION_CASE)
    results = tmp_path / "run.json"
    langsmith_env.setenv("EVALS_DATABASE_URL", admin_url)  # the runner's scratch database server
    assert cli.main(["run", str(cases), "--json", str(results)], out=StringIO()) == 0

    langsmith_env.setenv("LANGSMITH_API_KEY", "ls-test-key")
    langsmith_env.setenv("LANGSMITH_ENDPOINT", url)
    out = StringIO()
    assert cli.main(["upload", str(cases), "--results", str(results), "--dataset", "evals-test"], out=out) == 0
    assert all(key == "ls-test-key" for *_, key in fake.requests)
    assert fake.unknown == []

    # The dataset: one example per case, inputs without expectations, expectations as outputs.
    (dataset,) = fake.datasets.values()
    assert dataset["name"] == "evals-test"
    examples = {e["metadata"]["case_id"]: e for e in fake.examples.values()}
    assert set(examples) == {"book-simulated-web", "sgd-simulated-1"}
    assert all(e["dataset_id"] == dataset["id"] for e in examples.values())
    booking = examples["book-simulated-web"]
    assert booking["inputs"]["turns"][1]["user"] == "6pm, 12 adults and 3 kids" and "expect" not in booking["inputs"]
    assert booking["outputs"]["outcome"] == "booked"
    assert booking["outputs"]["booking"]["email"] == "dana.lee@example.com"
    assert examples["sgd-simulated-1"]["outputs"] == {"expect_slots": {"date": "2019-03-08"}}

    # The experiment: a project on the dataset, one run per result linked to its example, feedback.
    (session,) = fake.sessions.values()
    assert session["reference_dataset_id"] == dataset["id"]
    assert session["name"].startswith("evals-test-") and session["end_time"]
    assert session["description"].startswith("evals: 2 cases, success 1.000")
    assert session["extra"]["metadata"]["summary"]["cases"] == 2
    runs = {run["name"]: run for run in fake.runs}
    assert set(runs) == {"book-simulated-web", "sgd-simulated-1"}
    assert all(run["session_name"] == session["name"] for run in runs.values())
    assert runs["book-simulated-web"]["reference_example_id"] == examples["book-simulated-web"]["id"]
    assert runs["book-simulated-web"]["outputs"]["passed"] is True
    assert runs["book-simulated-web"]["outputs"]["actual"]["outcome"] == "booked"
    assert len(runs["book-simulated-web"]["outputs"]["transcript"]) == len(BOOKING_CASE["turns"])
    scores = {(f["run_id"], f["key"]): f["score"] for f in fake.feedback}
    assert scores[(runs["book-simulated-web"]["id"], "passed")] == 1
    assert scores[(runs["book-simulated-web"]["id"], "slot_accuracy")] == 1
    assert scores[(runs["sgd-simulated-1"]["id"], "violations")] == 0
    assert all(f["session_id"] == session["id"] for f in fake.feedback)
    assert out.getvalue().splitlines() == [
        "evals: dataset 'evals-test': 2 cases (2 new examples, 0 updated)",
        f"evals: experiment {session['name']!r}: 2 runs",
    ]

    # Again: the examples are updated in place, not duplicated; a second experiment is recorded.
    out = StringIO()
    assert cli.main(["upload", str(cases), "--dataset", "evals-test"], out=out) == 0
    assert len(fake.datasets) == 1 and len(fake.examples) == 2 and len(fake.sessions) == 1
    assert out.getvalue().splitlines() == [
        "evals: dataset 'evals-test': 2 cases (0 new examples, 2 updated)",
        "evals: no --results file; no experiment uploaded",
    ]


def test_upload_refuses_a_results_file_that_is_not_a_run_before_sending(
    langsmith_env: pytest.MonkeyPatch, langsmith_api: tuple[FakeLangSmith, str], tmp_path: Path
) -> None:
    fake, url = langsmith_api
    langsmith_env.setenv("LANGSMITH_API_KEY", "ls-test-key")
    langsmith_env.setenv("LANGSMITH_ENDPOINT", url)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"summary": {}}))
    case = write_case(tmp_path, BOOKING_CASE)
    assert cli.main(["upload", str(case), "--results", str(bad)], out=StringIO()) == 2
    assert fake.requests == []
