"""The tamper-evident audit log's pure half: the canonical encoding, the hash chain, what a command
or an auth event may say in an entry (never personal data), and the walk that verifies a chain.

Choices (db.audit holds the SQL; README "Audit log" says the same for operators):
- An entry is (position, at, actor, action, subject, detail, prev_hash, hash). Positions are 1, 2,
  3, ... with no gaps; the first entry's prev_hash is 32 zero bytes (GENESIS).
- hash = SHA-256(prev_hash || canonical), canonical = the JSON object of position, at, actor,
  action, subject and detail with sorted keys, separators "," and ":", ASCII only; `at` in UTC as
  `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Changing any field, the order or the link changes the hash.
- `detail` is normalised before it is hashed and stored (`normalise_detail`): keys are strings;
  dates and times become ISO strings; floats become their repr (jsonb's numeric would not give
  every float back bit for bit, and the hash must be recomputable from what the database returns).
- No personal data: a command's entry lists the names of the fields it carried and the values of
  an allowlist of non-personal fields only (ids, references, dates, slots, statuses, counts,
  amounts, booleans); names, phones, emails, addresses, message bodies, notes and reasons never.
  An allowlisted string that does not look like an identifier (spaces, "@", a long run of digits)
  is left out too, so a name put in the wrong field cannot leak.
- Actors: `user:<uuid>` (a person, the same spelling as identity.auth_events and
  `Principal.actor`), `service:<client>`, `agent:<thread id>`, `provider:<name>` (a webhook),
  `customer:<channel>` (an inbound message), `cli`, `system` (the default when nothing says who).
- Verification reports the first break: `entry N changed` (its fields or link no longer match its
  hash), `entry N missing (deleted)` (a gap, or the rows after it renumbered down),
  `entry N inserted` (an entry the chain does not link through). A chain is only as good as its
  head: whoever can rewrite the table can recompute every hash after a change or cut the tail, so
  keep the head that `hibachi audit verify` prints somewhere else (a ticket, another system).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any, Literal

GENESIS = bytes(32)

# A string value is kept only when it looks like an identifier, a code or an ISO date.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:\-]{1,120}$")
_LONG_DIGITS = re.compile(r"\d{7,}")  # a phone number written without punctuation

# Command fields whose values are not personal (anything else: its name only).
COMMAND_VALUE_FIELDS = frozenset(
    {
        "source",
        "thread_id",
        "customer_id",
        "assignee_id",
        "reference",
        "date",
        "slot",
        "adults",
        "kids",
        "upgrades",
        "channel",
        "granted",
        "consent_sms",
        "provider",
        "provider_message_id",
        "source_message_id",
        "author",
        "in_reply_to",
        "by",
        "corrected",
        "until",
        "as_ai",
        "amount_cents",
        "event_id",
        "event_type",
        "session_id",
        "provider_id",
        "payment_id",
        "refunded_total_cents",
        "transaction_id",
        "score",
        "outbox_id",
    }
)

# identity.auth_events detail keys whose values are not personal. Left out on purpose: the IP
# address (personal data; identity.auth_events keeps it with its own retention), emails, names,
# the OIDC `subject` (the person's id at the provider) and free-text reasons.
AUTH_VALUE_FIELDS = frozenset(
    {
        "method",
        "session_id",
        "mfa_pending",
        "scope",
        "scopes",
        "wait_seconds",
        "until",
        "sessions",
        "service",
        "client_id",
        "role",
        "replaced",
        "recovery_codes",
        "recovery_codes_left",
        "provider",
        "password",
        "jti",
    }
)


@dataclass(frozen=True)
class Entry:
    position: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    detail: Mapping[str, Any]
    prev_hash: bytes
    hash: bytes


def utc_text(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _normalise(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        try:
            return utc_text(value) if value.tzinfo else value.isoformat()
        except OverflowError:  # a time at the edge of the calendar (year 9999) has no UTC form
            return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return _normalise(value.value)
    if isinstance(value, Mapping):
        return {str(key): _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_normalise(item) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return str(value)


def normalise_detail(detail: Mapping[str, object]) -> dict[str, Any]:
    """The JSON-safe form that is both stored and hashed (so the hash can be recomputed from it)."""
    return {str(key): _normalise(value) for key, value in detail.items()}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_parts(
    at: datetime, actor: str, action: str, subject: str | None, detail: Mapping[str, Any]
) -> tuple[bytes, bytes]:
    """The canonical encoding around the position: canonical = prefix + str(position) + suffix.
    The database chains an entry at commit, when its position is known, and hashes these bytes
    itself (built-in sha256(); no extension needed)."""
    prefix = (
        f'{{"action":{_json(action)},"actor":{_json(actor)},"at":{_json(utc_text(at))},'
        f'"detail":{_json(detail)},"position":'
    )
    suffix = f',"subject":{_json(subject)}}}'
    return prefix.encode("ascii"), suffix.encode("ascii")


def canonical(
    position: int, at: datetime, actor: str, action: str, subject: str | None, detail: Mapping[str, Any]
) -> bytes:
    """JSON of the entry's fields, sorted keys, no spaces, ASCII (= json.dumps(sort_keys=True))."""
    prefix, suffix = canonical_parts(at, actor, action, subject, detail)
    return prefix + str(position).encode("ascii") + suffix


def entry_hash(
    prev_hash: bytes,
    position: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    detail: Mapping[str, Any],
) -> bytes:
    return hashlib.sha256(prev_hash + canonical(position, at, actor, action, subject, detail)).digest()


def chain_entry(
    prev_hash: bytes,
    position: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    detail: Mapping[str, object],
) -> Entry:
    """The next entry after one whose hash is `prev_hash`."""
    clean = normalise_detail(detail)
    digest = entry_hash(prev_hash, position, at, actor, action, subject, clean)
    return Entry(position, at, actor, action, subject, clean, prev_hash, digest)


def _hash_at(entry: Entry, position: int) -> bytes:
    return entry_hash(entry.prev_hash, position, entry.at, entry.actor, entry.action, entry.subject, entry.detail)


# ---------------------------------------------------------------- what an entry may say


def _safe_value(value: Any) -> tuple[bool, Any]:
    """(True, value) for a value that cannot carry personal data, else (False, None)."""
    if value is None or isinstance(value, bool | int | date | time):
        return True, value
    if isinstance(value, str):
        if _IDENTIFIER.match(value) and not _LONG_DIGITS.search(value.replace("-", "")):
            return True, value
        return False, None
    if isinstance(value, Mapping):
        kept = {}
        for key, item in value.items():
            ok_key, _ = _safe_value(str(key))
            ok, clean = _safe_value(item)
            if not (ok_key and ok):
                return False, None
            kept[str(key)] = clean
        return True, kept
    if isinstance(value, list | tuple):
        items = [_safe_value(item) for item in value]
        if all(ok for ok, _ in items):
            return True, [clean for _, clean in items]
    return False, None


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _flatten(f"{prefix}{item.name}.", getattr(value, item.name))
    else:
        yield prefix.rstrip("."), value


def safe_detail(values: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """`fields`: the names given (not None); `values`: the allowlisted, identifier-like ones."""
    present = sorted(name for name, value in values.items() if value is not None and value != () and value != {})
    kept: dict[str, Any] = {}
    for name in present:
        value = values[name]
        if isinstance(value, list | tuple) and value and dataclasses.is_dataclass(value[0]):
            kept[name] = len(value)  # nested records (match suggestions): how many, not what
            continue
        if name.rsplit(".", 1)[-1] not in allowed:
            continue
        ok, clean = _safe_value(value)
        if ok:
            kept[name] = clean
    return {"fields": present, "values": kept}


def command_detail(command: object) -> dict[str, Any]:
    """What a command's entry says about it (field names, non-personal values)."""
    return safe_detail(dict(_flatten("", command)), COMMAND_VALUE_FIELDS)


def auth_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    return safe_detail(detail, AUTH_VALUE_FIELDS)


def command_subject(command: object, result: Mapping[str, Any] | None = None) -> str | None:
    """What the command is about: a booking reference, a thread, a credit, a customer or an outbox message id."""
    for name in ("reference", "thread_id", "transaction_id", "customer_id", "session_id", "outbox_id"):
        value = getattr(command, name, None)
        if isinstance(value, str) and value:
            return value
    for name in ("reference", "thread_id", "customer_id"):
        value = (result or {}).get(name)
        if isinstance(value, str) and value:
            return value
    return None


def command_actor(command: object) -> str:
    """Who sent a command when the caller did not say: its `by`, its thread's agent, the webhook's
    provider, the customer's channel; else `system`."""
    by = getattr(command, "by", None)
    thread_id = getattr(command, "thread_id", None)
    if isinstance(by, str) and by:
        if ":" in by:
            return by
        if by == "agent":
            return f"agent:{thread_id}" if thread_id else "agent"
        if by in ("system", "staff", "matcher", "cli"):
            return "system:matcher" if by == "matcher" else by
        return f"user:{by}"
    if getattr(command, "author", None) == "ai" and thread_id:
        return f"agent:{thread_id}"
    if getattr(command, "source", None) == "agent" and thread_id:
        return f"agent:{thread_id}"
    provider = getattr(command, "provider", None)
    if isinstance(provider, str) and getattr(command, "event_id", None):
        return f"provider:{provider}"
    channel = getattr(command, "channel", None)
    if type(command).__name__ == "ReceiveMessage" and isinstance(channel, str):
        return f"customer:{channel}"
    return "system"


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class ChainProblem:
    position: int
    kind: Literal["changed", "missing", "inserted"]

    def __str__(self) -> str:
        words = {"changed": "changed", "missing": "missing (deleted)", "inserted": "inserted"}
        return f"entry {self.position} {words[self.kind]}"


@dataclass(frozen=True)
class ChainReport:
    entries: int  # how many entries are good: all of them, or those before the first problem
    head: bytes  # the last good entry's hash
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(entries: Iterable[Entry]) -> ChainReport:
    """Walk entries in position order (an iterator: a million entries never sit in memory) and
    report the first break. Each entry must sit at the next position, link to the hash before it
    and hash to its stored hash. A break is named by looking one entry back and one ahead:
    - the entry links to the hash before it but does not hash right: it was changed;
    - positions skip, or the entry was written one position later than it sits (the rows after a
      deletion renumbered): the position it should hold is missing;
    - the entry links to the one two back: the one between was inserted (and accepted, because
      whoever forged it hashed it right);
    - the next entry links past this one: this one was inserted;
    - otherwise its link was altered: changed.
    """
    expected, head, before_head = 1, GENESIS, b""
    walked = 0
    stream = iter(entries)
    current = next(stream, None)
    while current is not None:
        following = next(stream, None)
        if current.position > expected:
            return ChainReport(walked, head, ChainProblem(expected, "missing"))
        if current.position < expected:  # a duplicate position (a unique index stops it)
            return ChainReport(walked, head, ChainProblem(current.position, "inserted"))
        hashes_right = _hash_at(current, expected) == current.hash
        links = current.prev_hash == head
        if links and hashes_right:
            before_head, head = head, current.hash
            expected += 1
            walked += 1
            current = following
            continue
        if links:
            problem = ChainProblem(expected, "changed")
        elif before_head and current.prev_hash == before_head:
            problem, head = ChainProblem(expected - 1, "inserted"), before_head
        elif _hash_at(current, expected + 1) == current.hash:
            problem = ChainProblem(expected, "missing")
        elif following is not None and following.prev_hash == head:
            problem = ChainProblem(expected, "inserted")
        else:
            problem = ChainProblem(expected, "changed")
        return ChainReport(problem.position - 1, head, problem)
    return ChainReport(walked, head, None)
