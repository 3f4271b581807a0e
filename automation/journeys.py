"""Journey definitions: the follow-ups a good business sends without anyone remembering to, one YAML
file each under `journeys/`, checked here (file, line and problem for each mistake).

A journey:

    name: deposit-reminder                 # unique; lower case, digits and dashes
    description: ...                       # optional
    trigger:
      event: BookingCreated                # a domain event type (domain/events.py)
      where: {source: [web, sms]}          # optional: payload field -> value or list of values
    exit: [deposit_paid, booking_cancelled]  # conditions that end the run whenever they hold
    steps:                                 # run in order; each step is exactly one of:
      - wait: 24h                          #   a duration (30m, 24h, 2d; combined: 1d12h)
      - wait_until: {before_event: 72h}    #   a time relative to the booking: before_event /
                                           #   after_event (a duration), optionally `at: "10:00"`
                                           #   (local time that day: "next day at 10:00")
      - if: deposit_unpaid                 #   a condition: the run stops here when it is false
      - send_sms: deposit_reminder         #   an action, with its message template
      - send_email: deposit_reminder
      - staff_task: "Call about the deposit"
      - hand_to_staff: deposit_unpaid      #   the thread goes to staff with this reason
      - command: release_hold              #   a command of COMMANDS

Conditions, templates and commands are names from fixed registries (below), not expressions: a
journey file can only ask for what the engine knows how to do, and the checker can tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from domain import events as domain_events

JOURNEYS_DIR = Path(__file__).resolve().parent.parent / "journeys"

EVENTS = frozenset(
    name
    for name, value in vars(domain_events).items()
    if isinstance(value, type)
    and issubclass(value, domain_events.DomainEvent)
    and value is not domain_events.DomainEvent
)
CONDITIONS = frozenset(
    {
        "deposit_paid",
        "deposit_unpaid",
        "balance_due",
        "booking_active",
        "booking_cancelled",
        "event_passed",
        "sms_consent",
        "email_on_file",
        "no_booking",
    }
)
SMS_TEMPLATES = frozenset(
    {
        "deposit_reminder",
        "deposit_last_call",
        "menu_and_allergies",
        "chef_arrival",
        "thank_you",
        "balance_reminder",
        "quote_follow_up",
    }
)
EMAIL_TEMPLATES = frozenset({"deposit_reminder", "menu_and_allergies", "thank_you", "balance_reminder"})
HANDOFF_REASONS = frozenset({"deposit_unpaid", "needs_follow_up"})
COMMANDS = frozenset({"release_hold"})
ACTIONS = ("send_sms", "send_email", "staff_task", "hand_to_staff", "command")
STEP_KINDS = ("wait", "wait_until", "if", *ACTIONS)

_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Step:
    kind: str  # one of STEP_KINDS
    value: Any  # timedelta (wait), RelativeTime (wait_until), str (condition, template, text, command)
    line: int


@dataclass(frozen=True)
class RelativeTime:
    """`before_event` / `after_event` the booking's start, optionally at a local clock time that day."""

    offset: timedelta  # negative: before the event
    at: time | None = None


@dataclass(frozen=True)
class Journey:
    name: str
    file: str
    event: str
    where: dict[str, tuple[str, ...]]
    exits: tuple[str, ...]
    steps: tuple[Step, ...]
    description: str = ""


@dataclass
class CheckResult:
    journeys: list[Journey] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class InvalidJourneys(Exception):
    """At least one journey file is wrong: the app refuses to start (each problem names file:line)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def parse_duration(text: str) -> timedelta | None:
    found = _DURATION.match(text.strip()) if text.strip() else None
    if found is None or not any(found.groups()):
        return None
    days, hours, minutes = (int(g or 0) for g in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


class _File:
    """One file's checking: problems collected with the line of the node they are about."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.problems: list[Problem] = []

    def problem(self, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(Problem(self.name, line, message))

    def scalar(self, node: Node, what: str) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag.endswith(":null"):
            self.problem(node, f"{what} must be a single value")
            return None
        return str(node.value)

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]] | None:
        if not isinstance(node, MappingNode):
            self.problem(node, f"{what} must be a mapping (key: value)")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            name = str(key.value)
            if name in out:
                self.problem(key, f"{what}: {name} appears twice")
            out[name] = (key, value)
        return out

    def names(self, node: Node, what: str, allowed: frozenset[str]) -> tuple[str, ...]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        found: list[str] = []
        for item in items:
            name = self.scalar(item, what)
            if name is None:
                continue
            if name not in allowed:
                self.problem(item, f"{what}: unknown {name!r} (known: {', '.join(sorted(allowed))})")
            found.append(name)
        return tuple(found)


def _check_step(f: _File, node: Node, index: int) -> Step | None:
    fields = f.mapping(node, f"step {index}")
    if fields is None:
        return None
    if len(fields) != 1:
        f.problem(node, f"step {index} must be exactly one of: {', '.join(STEP_KINDS)}")
        return None
    ((kind, (key, value)),) = fields.items()
    line = key.start_mark.line + 1
    if kind == "wait":
        text = f.scalar(value, "wait")
        duration = parse_duration(text) if text is not None else None
        if text is not None and duration is None:
            f.problem(value, f"wait: {text!r} is not a duration (like 30m, 24h, 2d, 1d12h)")
        return Step(kind, duration, line) if duration else None
    if kind == "wait_until":
        return _check_wait_until(f, value, line)
    if kind == "if":
        (condition,) = f.names(value, "if", CONDITIONS) or (None,)
        return Step(kind, condition, line) if condition else None
    if kind in ("send_sms", "send_email", "hand_to_staff", "command"):
        allowed = {
            "send_sms": SMS_TEMPLATES,
            "send_email": EMAIL_TEMPLATES,
            "hand_to_staff": HANDOFF_REASONS,
            "command": COMMANDS,
        }[kind]
        (name,) = f.names(value, kind, allowed) or (None,)
        return Step(kind, name, line) if name else None
    if kind == "staff_task":
        task = f.scalar(value, "staff_task")
        if task is not None and not 1 <= len(task.strip()) <= 200:
            f.problem(value, "staff_task: say what to do, in at most 200 characters")
        return Step(kind, task, line) if task else None
    f.problem(key, f"step {index}: unknown kind {kind!r} (known: {', '.join(STEP_KINDS)})")
    return None


def _check_wait_until(f: _File, node: Node, line: int) -> Step | None:
    fields = f.mapping(node, "wait_until")
    if fields is None:
        return None
    offset: timedelta | None = None
    at: time | None = None
    sides = [side for side in ("before_event", "after_event") if side in fields]
    if len(sides) != 1:
        f.problem(node, "wait_until needs exactly one of before_event, after_event")
    for name, (key, value) in fields.items():
        text = f.scalar(value, f"wait_until.{name}")
        if text is None:
            continue
        if name in ("before_event", "after_event"):
            duration = parse_duration(text)
            if duration is None:
                f.problem(value, f"wait_until.{name}: {text!r} is not a duration (like 72h, 1d)")
            else:
                offset = -duration if name == "before_event" else duration
        elif name == "at":
            clock = _CLOCK.match(text)
            if clock is None:
                f.problem(value, f'wait_until.at: {text!r} is not a 24-hour time like "10:00"')
            else:
                at = time(int(clock.group(1)), int(clock.group(2)))
        else:
            f.problem(key, f"wait_until: unknown {name!r} (known: before_event, after_event, at)")
    return Step("wait_until", RelativeTime(offset, at), line) if offset is not None and len(sides) == 1 else None


def check_file(path: Path) -> tuple[Journey | None, list[Problem]]:
    f = _File(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        return None, [Problem(f.name, (mark.line + 1) if mark else 1, f"not valid YAML: {error.problem}")]
    except OSError as error:
        return None, [Problem(f.name, 1, f"cannot be read: {error.strerror}")]
    fields = f.mapping(root, "a journey") if root is not None else None
    if fields is None:
        if root is None:
            f.problem(None, "the file is empty")
        return None, f.problems
    known = {"name", "description", "trigger", "exit", "steps"}
    for field_name, (key, _) in fields.items():
        if field_name not in known:
            f.problem(key, f"unknown field {field_name!r} (known: {', '.join(sorted(known))})")
    for required in ("name", "trigger", "steps"):
        if required not in fields:
            f.problem(root, f"missing {required!r}")
    name = f.scalar(fields["name"][1], "name") if "name" in fields else None
    if name is not None and not _NAME.match(name):
        f.problem(fields["name"][1], f"name: {name!r} must be lower case words joined by dashes")
    event, where = _check_trigger(f, fields["trigger"][1]) if "trigger" in fields else (None, {})
    exits = f.names(fields["exit"][1], "exit", CONDITIONS) if "exit" in fields else ()
    steps: list[Step] = []
    if "steps" in fields:
        node = fields["steps"][1]
        if not isinstance(node, SequenceNode) or not node.value:
            f.problem(node, "steps must be a list of at least one step")
        else:
            for index, item in enumerate(node.value, start=1):
                step = _check_step(f, item, index)
                if step is not None:
                    steps.append(step)
            if steps and not any(s.kind in ACTIONS for s in steps):
                f.problem(node, "steps: a journey must do something (send_sms, send_email, staff_task, ...)")
    description = (f.scalar(fields["description"][1], "description") if "description" in fields else "") or ""
    if f.problems or name is None or event is None:
        return None, f.problems
    return Journey(name, f.name, event, where, exits, tuple(steps), description), []


def _check_trigger(f: _File, node: Node) -> tuple[str | None, dict[str, tuple[str, ...]]]:
    fields = f.mapping(node, "trigger")
    if fields is None:
        return None, {}
    event: str | None = None
    where: dict[str, tuple[str, ...]] = {}
    for name, (key, value) in fields.items():
        if name == "event":
            (event,) = f.names(value, "trigger.event", EVENTS) or (None,)
        elif name == "where":
            filters = f.mapping(value, "trigger.where") or {}
            for field_name, (_, wanted) in filters.items():
                items = wanted.value if isinstance(wanted, SequenceNode) else [wanted]
                values = [f.scalar(item, f"trigger.where.{field_name}") for item in items]
                where[field_name] = tuple(v for v in values if v is not None)
        else:
            f.problem(key, f"trigger: unknown {name!r} (known: event, where)")
    if "event" not in fields:
        f.problem(node, "trigger needs an event")
    return (event if event in EVENTS else None), where


def check_journeys(folder: Path = JOURNEYS_DIR) -> CheckResult:
    """Every *.yaml / *.yml journey in `folder`, checked; names must be unique across files."""
    result = CheckResult()
    seen: dict[str, str] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        journey, problems = check_file(path)
        result.problems.extend(problems)
        if journey is None:
            continue
        if journey.name in seen:
            result.problems.append(Problem(journey.file, 1, f"name {journey.name!r} is also {seen[journey.name]}'s"))
            continue
        seen[journey.name] = journey.file
        result.journeys.append(journey)
    return result


def load_journeys(folder: Path = JOURNEYS_DIR) -> list[Journey]:
    """The journeys, or InvalidJourneys naming every problem (start-up refuses a wrong file)."""
    result = check_journeys(folder)
    if result.problems:
        raise InvalidJourneys(result.problems)
    return result.journeys
