"""Eval case files (the format of ../shared/EVALS.md): reading, validating, and the case models.

One case per `*.yaml` / `*.yml` / `*.json` file; a folder is read recursively, sorted by path. A case
that does not follow the format stops the run before anything runs (`CaseFileError`, exit 2) with
the file and the field named.

Choices where EVALS.md is silent:
- `channel` defaults to `web`; a naive `now` (no UTC offset) is read in the business's time zone.
- Besides the documented keys a case may carry `tags` (report categories; by default the case id's
  prefix before the first `-`), `description` and `notes`. Any other key is an error, so a typo such
  as `expected:` is caught rather than silently ungraded.
- A fixture booking's alias is written `{alias}` (or `{{alias}}`) in the user turns and in the
  expected reply texts; the runner puts the real reference there.
- A turn may be a bare string (the user's message, nothing checked).
- `customer`: an SMS case's phone is the sender; an email is passed to the channel as known. Names
  are accepted and not used (no channel of ours knows a customer's name before they say it).
- Expected values are typed (`ExpectedBooking`, `ExpectedSlots`): "6pm" as a slot or "ten" as a
  count is a malformed case. YAML's unquoted `18:00` (read as 1080) and 5-digit ZIPs and phones
  read as numbers are taken back as written.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.contact import normalize_phone
from domain.errors import DomainError

CASE_SUFFIXES = (".yaml", ".yml", ".json")
Outcome = Literal["booked", "handoff", "no_booking", "opted_out", "rescheduled", "cancelled"]

ALIAS = re.compile(r"\{\{?\s*([A-Za-z_][\w-]*)\s*\}?\}")


class CaseFileError(Exception):
    """A case file that does not follow EVALS.md: names the file and the field."""

    def __init__(self, path: Path, field: str, reason: str) -> None:
        self.path, self.field, self.reason = path, field, reason
        where = f"{field}: " if field else ""
        super().__init__(f"{path}: {where}{reason}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _hhmm(value: Any) -> Any:
    # YAML reads an unquoted 18:00 as the integer 1080 (sexagesimal); take it back to HH:MM.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return value


def _zip_text(value: Any) -> Any:
    # YAML reads an unquoted ZIP as a number; a 5-digit one is taken back (a leading zero is lost: quote it).
    if isinstance(value, int) and not isinstance(value, bool) and 10000 <= value <= 99999:
        return str(value)
    return value


def _e164(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return value
    try:
        return normalize_phone(value)
    except DomainError as error:
        raise ValueError(error.message) from None


Slot = Annotated[str, BeforeValidator(_hhmm), Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Zip = Annotated[str, BeforeValidator(_zip_text), Field(pattern=r"^\d{5}$")]
Phone = Annotated[str, BeforeValidator(_e164)]
Count = Annotated[int, Field(ge=0, strict=True)]
Cents = Annotated[int, Field(ge=0, strict=True)]


class Turn(_Strict):
    user: str = Field(min_length=1)
    expect_reply_contains: list[str] = Field(default_factory=list)
    expect_reply_not_contains: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _bare_text(cls, value: Any) -> Any:
        return {"user": value} if isinstance(value, str) else value


class Person(_Strict):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: Phone | None = None


class FullSlot(_Strict):
    date: date
    slot: Slot


class FixtureBooking(_Strict):
    ref_alias: str | None = None
    date: date
    slot: Slot
    zip: Zip
    address: str = Field(min_length=1)
    party_adults: int = Field(ge=0)
    party_kids: int = Field(default=0, ge=0)
    upgrades: dict[str, int] = Field(default_factory=dict)
    customer: Person
    consent_sms: bool = False

    @model_validator(mode="after")
    def _customer_named(self) -> FixtureBooking:
        if not (self.customer.first_name and self.customer.last_name):
            raise ValueError("customer needs first_name and last_name")
        if not (self.customer.email or self.customer.phone):
            raise ValueError("customer needs an email or a phone")
        return self


class Fixtures(_Strict):
    full_slots: list[FullSlot] = Field(default_factory=list)
    bookings: list[FixtureBooking] = Field(default_factory=list)


class ExpectedBooking(_Strict):
    """The booking fields a case may grade, typed: a value that could never match is an error in
    the case file, not a quiet failure."""

    date: dt.date | None = None
    slot: Slot | None = None
    party_adults: Count | None = None
    party_kids: Count | None = None
    zip: Zip | None = None
    zone: str | None = None
    address: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: Phone | None = None
    upgrades: dict[str, Count] | None = None
    total_due_cents: Cents | None = None
    deposit_due_cents: Cents | None = None
    consent_sms: bool | None = None
    status: Literal["deposit_pending", "deposit_paid", "cancelled", "completed"] | None = None
    reference: str | None = None


class ExpectedSlots(_Strict):
    date: dt.date | None = None
    time: Slot | None = None
    party_total: Count | None = None
    party_adults: Count | None = None
    party_kids: Count | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: Phone | None = None
    zip: Zip | None = None


def _graded(model: BaseModel | None) -> dict[str, Any]:
    """The fields a case listed, as plain values (dates as YYYY-MM-DD)."""
    return model.model_dump(mode="json", exclude_unset=True) if model is not None else {}


class Expect(_Strict):
    outcome: Outcome
    booking: ExpectedBooking | None = None
    said: list[str] = Field(default_factory=list)

    @property
    def booking_fields(self) -> dict[str, Any]:
        return _graded(self.booking)


class _Case(_Strict):
    id: str = Field(min_length=1)
    now: datetime
    tags: list[str] = Field(default_factory=list)
    description: str | None = None
    notes: str | None = None

    @property
    def categories(self) -> list[str]:
        return self.tags or [self.id.split("-", 1)[0]]


class ConversationCase(_Case):
    kind: Literal["conversation"]
    channel: Literal["web", "sms"] = "web"
    customer: Person = Field(default_factory=Person)
    fixtures: Fixtures = Field(default_factory=Fixtures)
    turns: list[Turn] = Field(min_length=1)
    expect: Expect

    @model_validator(mode="after")
    def _consistent(self) -> ConversationCase:
        if self.channel == "sms" and not self.customer.phone:
            raise ValueError("customer.phone: an sms case needs the sender's phone")
        aliases = [b.ref_alias for b in self.fixtures.bookings if b.ref_alias]
        if len(aliases) != len(set(aliases)):
            raise ValueError("fixtures.bookings: ref_alias values must be unique")
        if self.expect.outcome in ("rescheduled", "cancelled") and self.existing_index() is None:
            raise ValueError(
                f"expect.outcome {self.expect.outcome!r} needs the fixture booking `existing`"
                " (ref_alias: existing, or a single fixture booking)"
            )
        return self

    def existing_index(self) -> int | None:
        """The fixture booking a reschedule / cancel case is about: alias `existing`, else the only one."""
        for index, booking in enumerate(self.fixtures.bookings):
            if booking.ref_alias == "existing":
                return index
        return 0 if len(self.fixtures.bookings) == 1 else None


class ExtractionCase(_Case):
    kind: Literal["extraction"]
    turns: list[str] = Field(min_length=1)
    expect_slots: ExpectedSlots

    @field_validator("expect_slots")
    @classmethod
    def _not_empty(cls, value: ExpectedSlots) -> ExpectedSlots:
        if not _graded(value):
            raise ValueError("lists no slot to grade")
        return value

    @property
    def slots_expected(self) -> dict[str, Any]:
        return _graded(self.expect_slots)


Case = ConversationCase | ExtractionCase


def substitute(text: str, references: dict[str, str]) -> str:
    """Put real booking references where a case wrote `{alias}`; unknown names are left as written."""
    return ALIAS.sub(lambda m: references.get(m.group(1), m.group(0)), text)


def case_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in CASE_SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise CaseFileError(path, "", "no such file or folder")


def _field_path(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part not in ("ConversationCase", "ExtractionCase"):
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def parse_case(raw: Any, path: Path) -> Case:
    if not isinstance(raw, dict):
        raise CaseFileError(path, "", "a case file holds one mapping (id, kind, ...)")
    kind = raw.get("kind")
    model: type[Case]
    if kind == "conversation":
        model = ConversationCase
    elif kind == "extraction":
        model = ExtractionCase
    else:
        raise CaseFileError(path, "kind", f"must be 'conversation' or 'extraction', got {kind!r}")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CaseFileError(path, _field_path(first["loc"]), message) from None


def read_case(path: Path) -> Case:
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as error:
        raise CaseFileError(path, "", f"cannot read: {error}") from None
    return parse_case(raw, path)


def load_cases(paths: Iterable[Path]) -> list[tuple[Path, Case]]:
    """Every case under `paths`, in path order; ids must be unique across the run."""
    loaded: list[tuple[Path, Case]] = []
    seen: dict[str, Path] = {}
    for path in case_files(paths):
        case = read_case(path)
        if case.id in seen:
            raise CaseFileError(path, "id", f"{case.id!r} is also the id of {seen[case.id]}")
        seen[case.id] = path
        loaded.append((path, case))
    return loaded
