"""Journey files: the shipped ones check clean; each kind of mistake is named with its file and line;
`hibachi journeys check` and start-up refuse a wrong file."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from automation.journeys import (
    JOURNEYS_DIR,
    InvalidJourneys,
    RelativeTime,
    check_journeys,
    load_journeys,
    parse_duration,
)
from tests.test_migrations_and_cli import keys, run_cli

GOOD = """\
name: nudge
trigger:
  event: BookingCreated
  where: {source: [web, sms]}
exit: [deposit_paid]
steps:
  - wait: 1d12h
  - if: deposit_unpaid
  - send_sms: deposit_reminder
  - wait_until: {after_event: 1d, at: "10:00"}
  - staff_task: Call them
"""


def write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body)
    return path


def test_the_shipped_journeys_check_clean() -> None:
    result = check_journeys(JOURNEYS_DIR)
    assert result.problems == []
    assert {j.name for j in result.journeys} >= {"deposit-reminder", "pre-event", "post-event", "balance-reminder"}
    deposit = next(j for j in result.journeys if j.name == "deposit-reminder")
    assert deposit.event == "BookingCreated" and deposit.exits == ("deposit_paid", "booking_cancelled")
    assert [s.kind for s in deposit.steps][:3] == ["wait", "send_sms", "send_email"]
    assert deposit.steps[0].value == timedelta(hours=24)


def test_a_good_file_reads_into_steps(tmp_path: Path) -> None:
    write(tmp_path, "nudge.yaml", GOOD)
    (journey,) = load_journeys(tmp_path)
    assert journey.where == {"source": ("web", "sms")}
    assert journey.steps[0].value == timedelta(days=1, hours=12) and journey.steps[0].line == 7
    assert journey.steps[3].value == RelativeTime(timedelta(days=1), time(10, 0))


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("event: BookingCreated", "event: BookingMade"), 3, "trigger.event: unknown 'BookingMade'"),
        (("wait: 1d12h", "wait: soon"), 7, "'soon' is not a duration"),
        (("if: deposit_unpaid", "if: deposit_late"), 8, "if: unknown 'deposit_late'"),
        (("send_sms: deposit_reminder", "send_sms: hello"), 9, "send_sms: unknown 'hello'"),
        (("send_sms: deposit_reminder", "send_fax: deposit_reminder"), 9, "unknown kind 'send_fax'"),
        (('at: "10:00"', 'at: "25:00"'), 10, "not a 24-hour time"),
        (("exit: [deposit_paid]", "exit: [paid]"), 5, "exit: unknown 'paid'"),
        (("name: nudge", "name: Nudge Me"), 1, "lower case words joined by dashes"),
        (("  - staff_task: Call them", "  - staff_task: Call them\n    send_sms: thank_you"), 11, "exactly one of"),
        (("steps:", "stepz:"), 6, "unknown field 'stepz'"),
        (("  event: BookingCreated\n", "  event: [BookingCreated\n"), 4, "not valid YAML"),
    ],
)
def test_each_mistake_is_named_with_its_line(tmp_path: Path, change: tuple[str, str], line: int, words: str) -> None:
    path = write(tmp_path, "nudge.yaml", GOOD.replace(*change, 1))
    problems = check_journeys(tmp_path).problems
    assert problems, "the mistake went unnoticed"
    assert any(p.file == str(path) and p.line == line and words in p.message for p in problems), problems


def test_durations() -> None:
    assert parse_duration("30m") == timedelta(minutes=30) and parse_duration("2d") == timedelta(days=2)
    assert parse_duration("") is None and parse_duration("h") is None and parse_duration("24 hours") is None


def test_two_files_may_not_share_a_name(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)
    (problem,) = check_journeys(tmp_path).problems
    assert problem.file.endswith("b.yaml") and "also" in problem.message
    with pytest.raises(InvalidJourneys):
        load_journeys(tmp_path)


def test_the_cli_checks_and_start_up_refuses_a_wrong_file(tmp_path: Path) -> None:
    folder = tmp_path / "journeys"
    write(folder, "nudge.yaml", GOOD)
    ok = run_cli("journeys", "check", "--dir", str(folder), env=keys(), tmp_path=tmp_path)
    assert ok.returncode == 0 and "1 journey(s) ok: nudge" in ok.stdout
    write(folder, "broken.yaml", GOOD.replace("name: nudge", "name: other").replace("wait: 1d12h", "wait: soon"))
    bad = run_cli("journeys", "check", "--dir", str(folder), env=keys(), tmp_path=tmp_path)
    assert bad.returncode == 1 and f"{folder / 'broken.yaml'}:7: wait: 'soon' is not a duration" in bad.stdout
    refused = run_cli("load-business", env=keys() | {"JOURNEYS_DIR": str(folder)}, tmp_path=tmp_path)
    assert refused.returncode == 2 and "broken.yaml:7" in refused.stderr
