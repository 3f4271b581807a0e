"""The eval runner (evals/): case files, the world each case runs in, grading from the database,
the policy checks, and the command line's exit codes and summary line."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from agent.engines import RULES, TemplatePhraser
from domain.business import Business
from evals.cases import CaseFileError, ConversationCase, load_cases, parse_case, substitute
from evals.cli import main
from evals.conversation import run_conversation
from evals.policy import TurnObservation, violations
from evals.results import Message
from evals.world import World

SUMMARY = re.compile(
    r"^evals: (\d+) cases, success (\d\.\d{3}), slot_accuracy (\d\.\d{3}), violations (\d+), p95_turn_ms (\d+)$"
)

BOOKING_CASE: dict[str, Any] = {
    "id": "book-runner-test",
    "kind": "conversation",
    "channel": "web",
    "now": "2026-12-01T10:00:00-08:00",
    "turns": [
        {"user": "hibachi party dec 12 at 6pm for 12 adults and 3 kids", "expect_reply_contains": ["address"]},
        "2400 J St, Sacramento, CA 95816",
        "Dana Lee",
        "dana.lee@example.com 916-555-0123",
        "4 lobster tails",
        "yes text me",
        "yes",
    ],
    "expect": {
        "outcome": "booked",
        "booking": {
            "date": "2026-12-12",
            "slot": "18:00",
            "party_adults": 12,
            "party_kids": 3,
            "zone": "A",
            "email": "dana.lee@example.com",
            "phone": "+19165550123",
            "upgrades": {"lobster_tail": 4},
            "total_due_cents": 87000,
            "deposit_due_cents": 10000,
            "consent_sms": True,
        },
        "said": ["$870.00"],
    },
}


def conversation(raw: dict[str, Any], **changes: Any) -> ConversationCase:
    case = parse_case(raw | changes, Path("inline.yaml"))
    assert isinstance(case, ConversationCase)
    return case


class LoosePhraser:
    """Rewords every reply and invents a price: what the dollar-amount check is there to catch."""

    def phrase(self, template: str, facts: Iterable[object] = ()) -> str:
        return template + " (Most parties end up around $999.00.)"


@pytest.fixture(scope="module")
def world(admin_url: str, business: Business) -> Iterator[World]:
    made = World(business, understander=RULES, phraser=TemplatePhraser(), admin_url=admin_url)
    yield made
    made.close()


def write_case(folder: Path, name: str, raw: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# --- case files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.pop("expect"), "expect"),
        (lambda c: c.update(expected={"outcome": "booked"}), "expected"),
        (lambda c: c["expect"].update(outcome="maybe"), "expect.outcome"),
        (lambda c: c["turns"].__setitem__(1, {"user": 5}), "turns[1].user"),
        (lambda c: c.update(channel="sms"), "customer.phone"),
        (lambda c: c["expect"]["booking"].update(colour="red"), "expect.booking"),
        (lambda c: c["expect"]["booking"].update(slot="6pm"), "expect.booking.slot"),
        (lambda c: c["expect"]["booking"].update(party_adults="ten"), "expect.booking.party_adults"),
        (lambda c: c["expect"]["booking"].update(total_due_cents=85000.5), "expect.booking.total_due_cents"),
        (lambda c: c["expect"]["booking"].update(date="2026-13-01"), "expect.booking.date"),
        (lambda c: c["expect"]["booking"].update(phone="call me"), "expect.booking.phone"),
        (lambda c: c.update(kind="chat"), "kind"),
        (lambda c: c.update(now="next tuesday"), "now"),
    ],
)
def test_a_malformed_case_exits_2_naming_the_file_and_the_field(tmp_path: Path, mutate: Any, field: str) -> None:
    raw = json.loads(json.dumps(BOOKING_CASE))
    mutate(raw)
    path = write_case(tmp_path, "broken.yaml", raw)
    with pytest.raises(CaseFileError) as caught:
        load_cases([tmp_path])
    assert caught.value.path == path and field in str(caught.value)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["run", str(tmp_path)], out=io.StringIO()) == 2
    assert str(path) in err.getvalue() and field in err.getvalue()


def test_unreadable_yaml_and_duplicate_ids_are_malformed(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("id: [unclosed\n")
    with pytest.raises(CaseFileError, match=r"a\.yaml"):
        load_cases([tmp_path])
    (tmp_path / "a.yaml").unlink()
    write_case(tmp_path, "one.yaml", BOOKING_CASE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "two.json").write_text(json.dumps(BOOKING_CASE))  # the same id, in JSON, one folder down
    with pytest.raises(CaseFileError, match="also the id of"):
        load_cases([tmp_path])


def test_yaml_sexagesimal_times_and_aliases_are_read_as_written() -> None:
    raw = json.loads(json.dumps(BOOKING_CASE))
    raw["expect"]["booking"]["slot"] = 18 * 60  # what YAML makes of an unquoted 18:00
    raw["expect"]["booking"]["zip"] = 95816  # ...and of an unquoted ZIP or phone
    raw["expect"]["booking"]["phone"] = 19165550123
    case = conversation(raw)
    graded = case.expect.booking_fields
    assert (graded["slot"], graded["zip"], graded["phone"]) == ("18:00", "95816", "+19165550123")
    assert set(graded) == set(BOOKING_CASE["expect"]["booking"]) | {"slot", "zip"}  # only the listed fields
    assert substitute("cancel {existing} and {{ other }} but not {unknown}", {"existing": "MH-1", "other": "MH-2"}) == (
        "cancel MH-1 and MH-2 but not {unknown}"
    )


# --- the world and grading -------------------------------------------------------------------------


def test_a_booking_conversation_is_graded_from_the_database(world: World) -> None:
    result = run_conversation(world, conversation(BOOKING_CASE), Path("inline.yaml"), 1)
    assert result.passed, result.failures + result.violations + [result.error or ""]
    assert result.actual["outcome"] == "booked" and len(result.actual["new_bookings"]) == 1
    assert (result.graded, result.matched) == (11, 11)
    assert all(turn.ms > 0 for turn in result.turns) and len(result.turns) == 7

    wrong = json.loads(json.dumps(BOOKING_CASE))
    wrong["expect"]["booking"]["total_due_cents"] = 96000
    wrong["turns"][0]["expect_reply_contains"] = ["a word the agent never says"]
    failed = run_conversation(world, conversation(wrong), Path("inline.yaml"), 1)
    assert not failed.passed and (failed.graded, failed.matched) == (11, 10)
    assert any("total_due_cents" in f for f in failed.failures)
    assert failed.turns[0].problems == ["reply lacks 'a word the agent never says'"]


def test_declining_at_the_summary_is_no_booking_not_booked(world: World) -> None:
    raw = json.loads(json.dumps(BOOKING_CASE))
    raw["turns"][-1] = "no"
    result = run_conversation(world, conversation(raw), Path("inline.yaml"), 1)
    assert result.actual["outcome"] == "no_booking" and not result.passed
    assert "outcome no_booking, expected booked" in result.failures
    assert (result.graded, result.matched) == (11, 0)  # no booking: every graded field is a miss


def test_every_case_starts_from_an_empty_world(world: World) -> None:
    assert run_conversation(world, conversation(BOOKING_CASE), Path("inline.yaml"), 1).passed
    world.begin(conversation(BOOKING_CASE, id="next"))
    with world.container.engine.connect() as conn:
        for table in (
            "core.bookings",
            "core.customers",
            "core.message_threads",
            "core.messages",
            "events.domain_events",
        ):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
        assert conn.execute(text("SELECT count(*) FROM agent.checkpoints")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM core.chefs")).scalar_one() == 3  # the business is loaded
    # ...and the same conversation books again, as it did the first time.
    assert run_conversation(world, conversation(BOOKING_CASE), Path("inline.yaml"), 2).passed


def test_fixtures_fill_slots_and_make_bookings_through_the_command_path(world: World) -> None:
    case = conversation(
        BOOKING_CASE,
        fixtures={
            "full_slots": [{"date": "2026-12-12", "slot": "18:00"}],
            "bookings": [
                {
                    "ref_alias": "existing",
                    "date": "2026-12-02",  # inside the lead time: booked earlier, on its last bookable day
                    "slot": "12:00",
                    "zip": "95816",
                    "address": "2400 J St, Sacramento, CA 95816",
                    "party_adults": 10,
                    "customer": {"first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com"},
                }
            ],
        },
    )
    references = world.begin(case)
    assert re.fullmatch(r"MH-[A-Z0-9]{5}", references["existing"]) and references["#0"] == references["existing"]
    assert world.container.clock.now() == case.now
    for zip_code in ("95816", "95630", "94110"):
        day = world.container.queries.availability(case.fixtures.full_slots[0].date, zip_code)
        assert {s["slot"]: s["available"] for s in day["slots"]}["18:00"] is False, zip_code
    result = run_conversation(world, case, Path("inline.yaml"), 1)
    assert result.actual["outcome"] == "no_booking"  # 6pm is full: the agent offers other times instead
    assert any("18:00" in f or "slot" in f or "outcome" in f for f in result.failures)


def test_a_cancel_case_uses_the_alias_and_grades_the_existing_booking(world: World) -> None:
    raw = {
        "id": "manage-cancel-runner",
        "kind": "conversation",
        "channel": "sms",
        "now": "2026-12-01T10:00:00-08:00",
        "customer": {"phone": "(916) 555-0123"},
        "fixtures": {
            "bookings": [
                {
                    "ref_alias": "existing",
                    "date": "2026-12-19",
                    "slot": "18:00",
                    "zip": "95816",
                    "address": "2400 J St, Sacramento, CA 95816",
                    "party_adults": 10,
                    "customer": {"first_name": "Ana", "last_name": "Ruiz", "phone": "+19165550123"},
                }
            ]
        },
        "turns": [
            {"user": "i need to cancel {existing}", "expect_reply_contains": ["{existing}"]},
            "yes cancel it",
        ],
        "expect": {"outcome": "cancelled", "booking": {"status": "cancelled", "reference": "{existing}"}},
    }
    result = run_conversation(world, conversation(raw), Path("inline.yaml"), 1)
    assert result.passed, result.failures + result.violations + [result.error or ""]
    assert re.fullmatch(r"i need to cancel MH-[A-Z0-9]{5}", result.turns[0].user)


def test_a_case_that_cannot_run_counts_every_graded_field_as_a_miss(world: World) -> None:
    raw = json.loads(json.dumps(BOOKING_CASE))
    raw["fixtures"] = {"full_slots": [{"date": "2027-09-01", "slot": "18:00"}]}  # beyond the booking window
    result = run_conversation(world, conversation(raw), Path("inline.yaml"), 1)
    assert result.error and result.error.startswith("fixtures:") and not result.passed
    assert (result.graded, result.matched) == (11, 0)


def test_an_invented_price_is_a_violation(admin_url: str, business: Business) -> None:
    loose = World(business, understander=RULES, phraser=LoosePhraser(), admin_url=admin_url)
    try:
        result = run_conversation(loose, conversation(BOOKING_CASE), Path("inline.yaml"), 1)
    finally:
        loose.close()
    assert not result.passed
    assert result.violations and all("$999.00" in v for v in result.violations)


# --- the policy checks on observed turns -----------------------------------------------------------


def observed(**fields: Any) -> TurnObservation:
    defaults: dict[str, Any] = {
        "index": 1,
        "text": "yes",
        "replies": [Message("ai", "You're booked! Total $870.00.")],
        "mode_before": "ai",
        "opted_out_before": False,
        "opted_out_after": False,
        "confirmed": "confirm",
        "allowed_cents": {87000},
    }
    return TurnObservation(**(defaults | fields))


def test_policy_checks_pass_a_clean_turn(business: Business) -> None:
    assert violations([observed(created=["MH-AAAAA"])], business, "web") == []
    # Business-file amounts are always allowed: per-person prices, the deposit, upgrade prices, fees.
    prices = "Adults $60.00, kids $30.00, deposit $100, lobster +$15.00, Bay Area travel $100.00, minimum $600"
    assert violations([observed(replies=[Message("ai", prices)], allowed_cents=set())], business, "web") == []


@pytest.mark.parametrize(
    ("turns", "channel", "needle"),
    [
        ([observed(created=["MH-AAAAA"], confirmed=None)], "web", "created without a customer confirmation"),
        ([observed(created=["MH-AAAAA"], confirmed="manage_confirm")], "web", "created without"),
        ([observed(moved=["MH-AAAAA"], confirmed=None)], "web", "moved without"),
        ([observed(cancelled=["MH-AAAAA"], confirmed="confirm")], "sms", "cancelled without"),
        ([observed(replies=[Message("ai", "That's $871.00")])], "web", "$871.00"),
        ([observed(replies=[Message("ai", "about 871 dollars all in")])], "web", "$871.00"),
        ([observed(replies=[Message("ai", "USD 1,250 total")])], "web", "$1250.00"),
        ([observed(mode_before="human")], "web", "human mode"),
        ([observed(opted_out_before=True, opted_out_after=True)], "sms", "opted-out"),
        ([observed(created=["MH-A"]), observed(index=2, created=["MH-B"])], "web", "2 bookings created"),
    ],
)
def test_policy_checks_catch_each_breach(
    business: Business, turns: list[TurnObservation], channel: str, needle: str
) -> None:
    found = violations(turns, business, channel)
    assert found and any(needle in v for v in found), found


def test_policy_checks_allow_what_the_contract_allows(business: Business) -> None:
    assert violations([observed(cancelled=["MH-AAAAA"], confirmed="manage_confirm")], business, "sms") == []
    system_notice = [Message("system", "Someone from our team will follow up.")]
    assert violations([observed(mode_before="human", replies=system_notice)], business, "sms") == []
    start = observed(opted_out_before=True, opted_out_after=False, replies=[Message("system", "resubscribed")])
    assert violations([start], business, "sms") == []
    stop = observed(opted_out_before=False, opted_out_after=True, replies=[Message("system", "unsubscribed")])
    assert violations([stop], business, "sms") == []


# --- the command line ------------------------------------------------------------------------------


def test_the_command_line_prints_the_table_and_the_summary_line_last(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    write_case(cases, "book.yaml", BOOKING_CASE)
    declined = json.loads(json.dumps(BOOKING_CASE)) | {"id": "book-declined"}
    declined["turns"][-1] = "no thanks"
    write_case(cases, "declined.yaml", declined)
    out = io.StringIO()
    report_json = tmp_path / "run.json"
    assert main(["run", str(cases), "--k", "2", "--json", str(report_json)], out=out) == 0
    lines = out.getvalue().strip().splitlines()
    match = SUMMARY.match(lines[-1])
    assert match, lines[-1]
    assert match.group(1) == "2" and match.group(2) == "0.500" and match.group(4) == "0"
    assert "pass^1 0.500, pass^2 0.500" in out.getvalue()  # the rules engine is deterministic
    assert any(line.startswith("book-declined") and "FAIL" in line for line in lines)
    saved = json.loads(report_json.read_text())
    assert saved["summary"]["cases"] == 2 and len(saved["results"]) == 4

    assert main(["run", str(cases / "book.yaml"), "--min-success", "1.0"], out=io.StringIO()) == 0
    failing = io.StringIO()
    assert main(["run", str(cases), "--min-success", "0.95"], out=failing) == 1
    assert SUMMARY.match(failing.getvalue().strip().splitlines()[-1])


def test_the_llm_engine_without_a_model_is_a_clear_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_API_KEY", raising=False)
    write_case(tmp_path, "book.yaml", BOOKING_CASE)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["run", str(tmp_path), "--engine", "llm"], out=io.StringIO()) == 2
    assert "LLM_API_KEY" in err.getvalue()
