"""`python -m evals run --engine llm --simulate`: an LLM-simulated customer (openevals) pursues each
conversation case's `expect` as its goal instead of replaying the fixed turns.

What was chosen:
- "A model is configured" means LLM_API_KEY is set (the project's LLM settings: LLM_MODEL,
  LLM_BASE_URL, LLM_API_KEY; `agent.engines.chat_model`). Without `--engine llm`, or without a key,
  the run prints one line saying what to set and that nothing ran, and exits 0: skipped, not failed.
  The agent under test runs the llm engine; the simulated customer uses the same model.
- The customer is openevals' `create_llm_simulated_user`, driven by `run_multiturn_simulation`. Its
  system prompt states the goal read from `expect` (the outcome, and the booking fields a customer
  would know: date, slot, party, address / ZIP, name, email, phone, upgrades, SMS consent), the
  channel, the case's clock, the fixture booking's reference for a reschedule or cancel, and the
  case's scripted turns as facts to draw on (an address when `expect` only names a ZIP). Its first
  message is the case's first turn, word for word.
- Each customer message goes through the channel path of the replay (`evals.conversation.Conversation`:
  `services.conversations.handle_inbound`, the database read around the turn) and the case is graded
  exactly like the replay: outcome, booking fields, `said`, policy violations. Only the first
  turn's reply checks apply (the later scripted turns are not what the simulated customer says).
- The conversation ends after `len(turns) + 6` customer messages, when the customer says DONE (its
  prompt asks for that once the goal is reached or cannot be), when a booking was created, moved or
  cancelled, when the thread is handed to staff, or, in an opt-out case, once the customer is opted
  out. The DONE message itself is not sent to the agent.
- Extraction cases have no customer to simulate: they are left out, and the run says how many.
- The table, the per-category lines, `--json`, `--report`, `--min-success` / `--max-violations` and
  the summary line are those of the replay.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from domain.business import Business

from .cases import Case, ConversationCase, substitute
from .results import CaseResult, by_category, summarize, table

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

    from agent.engines import Phraser, Understander

    from .cli import Progress
    from .conversation import Conversation
    from .world import World

DONE = "DONE"
EXTRA_TURNS = 6
SKIPPED = (
    "evals: --simulate needs --engine llm and a model: set LLM_API_KEY (and LLM_BASE_URL / LLM_MODEL as"
    " needed); skipped, nothing ran"
)


def model_configured() -> bool:
    """LLM_API_KEY is set (settings are read case-insensitively, as hibachi.settings does)."""
    return any(name.upper() == "LLM_API_KEY" and value.strip() for name, value in os.environ.items())


def _customer_model() -> BaseChatModel:
    from agent.engines import chat_model
    from hibachi.settings import SettingsError, fresh_keys, load_settings

    from .cli import UsageError

    try:
        settings = load_settings(
            agent_engine="llm", **{name.lower(): value for name, value in fresh_keys("evals").items()}
        )
    except SettingsError as error:
        raise UsageError(f"--simulate: {error}") from None
    return chat_model(settings)


def _clock(slot: str) -> str:
    hour, minute = (int(part) for part in slot.split(":"))
    suffix = "am" if hour < 12 else "pm"
    shown = hour % 12 or 12
    return f"{shown}{suffix}" if minute == 0 else f"{shown}:{minute:02d}{suffix}"


def _day(value: str) -> str:
    try:
        day = datetime.fromisoformat(value).date()
    except ValueError:
        return value
    return f"{day:%A}, {day:%B} {day.day}, {day.year} ({value})"


GOALS = {
    "booked": "book a hibachi party with the details below, and confirm the booking when the agent's summary"
    " matches them.",
    "handoff": "end up with a staff member (a person) taking over from the automated agent, as the scripted"
    " customer below does; ask for a person if the conversation calls for it. Do not confirm a booking.",
    "no_booking": "get what the scripted customer below wants to know or do, without making a booking: never"
    " confirm a booking summary.",
    "opted_out": "stop receiving text messages from the business (text STOP, or say it your way, as the"
    " scripted customer below does); after that, reply DONE.",
    "rescheduled": "move your existing booking to the date and time below, and confirm the change when asked.",
    "cancelled": "cancel your existing booking, and confirm the cancellation when asked.",
}


def _details(case: ConversationCase) -> list[str]:
    """The graded booking fields a customer would know, as facts to give when asked."""
    booking = case.expect.booking_fields
    lines: list[str] = []
    if "date" in booking:
        lines.append(f"date: {_day(str(booking['date']))}")
    if "slot" in booking:
        lines.append(f"start time: {_clock(str(booking['slot']))}")
    if "party_adults" in booking or "party_kids" in booking:
        lines.append(f"guests: {booking.get('party_adults', 0)} adults and {booking.get('party_kids', 0)} kids")
    if "address" in booking:
        lines.append(f"party address: {booking['address']}")
    elif "zip" in booking:
        lines.append(f"the party is at an address in ZIP {booking['zip']} (use the scripted customer's address if any)")
    name = " ".join(str(booking[key]) for key in ("first_name", "last_name") if key in booking)
    if name:
        lines.append(f"your name: {name}")
    for key in ("email", "phone"):
        value = booking.get(key) or getattr(case.customer, key)
        if value:
            lines.append(f"your {key}: {value}")
    if "upgrades" in booking:
        wanted = {code: n for code, n in dict(booking["upgrades"] or {}).items() if n}
        upgrades = ", ".join(f"{code.replace('_', ' ')} for {n} guests" for code, n in wanted.items())
        lines.append(f"upgrades: {upgrades or 'none, no thanks'}")
    if "consent_sms" in booking:
        lines.append("text messages about the booking: " + ("yes, you agree" if booking["consent_sms"] else "no"))
    return lines


def customer_prompt(case: ConversationCase, references: dict[str, str], business: Business) -> str:
    """The simulated customer's system prompt: who they are, the goal from `expect`, the facts."""
    channel = "texting the business's SMS line" if case.channel == "sms" else "chatting on the business's website"
    now = case.now
    lines = [
        f"You are a customer {channel}: {business.name}, a private-chef hibachi catering business. You are talking"
        " with its booking assistant.",
        f"It is now {now:%A}, {now:%B} {now.day}, {now.year}, {_clock(now.strftime('%H:%M'))}.",
        f"Your goal: {GOALS[case.expect.outcome]}",
    ]
    existing = case.existing_index()
    if existing is not None and case.fixtures.bookings:
        fixture = case.fixtures.bookings[existing]
        reference = references.get(f"#{existing}", "")
        lines.append(
            f"You already have a booking, reference {reference}, on {_day(fixture.date.isoformat())} at"
            f" {_clock(fixture.slot)}."
        )
    details = _details(case)
    if details:
        lines.append("Details to give when the assistant asks:")
        lines += [f"- {detail}" for detail in details]
    lines.append("A scripted customer in this case said, in order (draw facts from it; you need not copy it):")
    lines += [f"{i}. {substitute(turn.user, references)}" for i, turn in enumerate(case.turns, start=1)]
    lines.append(
        "Write only your next message to the assistant: short, plain text, no labels or quotes. Answer what it"
        " asks; give a detail only when it is asked for or natural to mention. When your goal is reached, or the"
        f" assistant clearly cannot help further, reply with exactly {DONE}."
    )
    return "\n".join(lines)


def simulated_customer(
    case: ConversationCase, references: dict[str, str], business: Business, model: BaseChatModel
) -> Callable[..., Any]:
    """The openevals simulated user for one case: the goal prompt, and the case's first turn first."""
    from openevals.simulators import create_llm_simulated_user

    first = substitute(case.turns[0].user, references)
    simulator: Callable[..., Any] = create_llm_simulated_user(
        system=customer_prompt(case, references, business), client=model, fixed_responses=[first]
    )
    return simulator


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        return " ".join(part for part in parts if part).strip()
    return str(content or "").strip()


def _is_done(text_: str) -> bool:
    return not text_ or text_.strip(" .!\"'").upper() == DONE


def _should_stop(conversation: Conversation, case: ConversationCase, said: list[str]) -> bool:
    if said and _is_done(said[-1]):
        return True
    last = conversation.observations[-1] if conversation.observations else None
    if last is not None and (last.created or last.moved or last.cancelled):
        return True
    if conversation.observer.mode() == "human":
        return True
    return case.expect.outcome == "opted_out" and conversation.observer.opted_out()


def simulate_case(world: World, case: ConversationCase, path: Path, run: int, model: BaseChatModel) -> CaseResult:
    """One conversation case with a simulated customer, graded like the replay."""
    from openevals.simulators import run_multiturn_simulation

    from .conversation import Conversation, _turn_problems

    try:
        conversation = Conversation(world, case, path, run)
    except Exception as error:  # a fixture the command path refused: the case cannot run
        result = CaseResult(case.id, "conversation", str(path), case.categories, run, passed=False)
        result.error = f"fixtures: {type(error).__name__}: {error}"
        return result
    references = conversation.references
    said: list[str] = []

    def app(inputs: dict[str, Any], **_: Any) -> dict[str, Any]:
        message = _text(inputs.get("content"))
        said.append(message)
        if _is_done(message):
            return {"role": "assistant", "content": ""}
        record = conversation.turn(message)
        if len(conversation.result.turns) == 1:
            first = case.turns[0]
            record.problems = _turn_problems(
                first.expect_reply_contains, first.expect_reply_not_contains, record, references
            )
        return {"role": "assistant", "content": record.reply}

    try:
        run_multiturn_simulation(
            app=app,
            user=simulated_customer(case, references, world.business, model),
            max_turns=len(case.turns) + EXTRA_TURNS,
            stopping_condition=lambda _trajectory, **__: _should_stop(conversation, case, said),
            thread_id=f"evals-{case.id}-{run}-{uuid.uuid4().hex[:8]}",
        )
    except Exception as error:
        return conversation.fail(error)
    return conversation.finish()


def simulate_cases(
    cases: Sequence[tuple[Path, Case]],
    business: Business,
    *,
    customer_model: BaseChatModel,
    understander: Understander,
    phraser: Phraser,
    k: int = 1,
    admin_url: str | None = None,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Every conversation case k times with a simulated customer, on one scratch database."""
    from .world import World

    conversations = [(path, case) for path, case in cases if isinstance(case, ConversationCase)]
    results: list[CaseResult] = []
    if not conversations:
        return results
    world = World(business, understander=understander, phraser=phraser, admin_url=admin_url)
    try:
        for run in range(1, k + 1):
            for path, case in conversations:
                result = simulate_case(world, case, path, run, customer_model)
                results.append(result)
                if progress:
                    progress.step(case.id, result.passed)
    finally:
        if progress:
            progress.close()
        world.close()
    return results


def run_simulated(
    cases: Sequence[tuple[Path, Case]],
    business: Business,
    args: argparse.Namespace,
    out: TextIO,
    *,
    customer_model: BaseChatModel | None = None,
    agent: tuple[Understander, Phraser] | None = None,
    admin_url: str | None = None,
) -> int:
    """The `--simulate` run: skipped (exit 0) without `--engine llm` and a model; else the replay's
    table and summary line. `customer_model`, `agent` and `admin_url` let tests run without network."""
    from .cli import Progress, _status, engines

    if args.engine != "llm" or not model_configured():
        out.write(SKIPPED + "\n")
        out.flush()
        return 0
    conversations = sum(isinstance(case, ConversationCase) for _, case in cases)
    if conversations < len(cases):
        out.write(f"evals: --simulate: {len(cases) - conversations} extraction case(s) left out (no customer)\n")
    if not conversations:
        out.write("evals: --simulate: no conversation cases; nothing ran\n")
        return 0
    understander, phraser = agent or engines("llm")
    results = simulate_cases(
        cases,
        business,
        customer_model=customer_model or _customer_model(),
        understander=understander,
        phraser=phraser,
        k=args.k,
        admin_url=admin_url,
        progress=Progress(conversations * args.k),
    )
    summary = summarize(results, args.k)
    out.write(table(results) + "\n\n")
    for category, (passed, total) in by_category(results).items():
        out.write(f"  {category:<24} {passed}/{total}\n")
    if args.k > 1:
        out.write(f"pass^1 {summary.pass_1:.3f}, pass^{args.k} {summary.success:.3f}\n")
    if args.json:
        payload = {"summary": asdict(summary), "simulated": True, "results": [r.to_json() for r in results]}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    if args.report:
        from .report import write_report

        write_report(args.report, results, summary)
    status = _status(args, summary, [], out)
    out.write(summary.line() + "\n")
    out.flush()
    return status
