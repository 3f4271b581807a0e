"""The message bus: runs a command's handler in its own unit of work, with idempotency and
retries on concurrency conflicts.

Every command that runs leaves an audit entry (db.audit) in its own transaction: action the
command's class name, actor the caller's (`actor=`; else domain.audit.command_actor's reading of
the command), subject its reference / thread / credit id, detail its field names and non-personal
values. A refused command (a DomainError or no free slot) is recorded too, in a transaction of its
own, with `outcome: refused` and the error's code. An idempotent replay changes nothing and is not
recorded again."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from sqlalchemy.exc import IntegrityError, OperationalError

from db.audit import append_entry
from db.idempotency import StoredResponse
from db.uow import UnitOfWork
from domain.audit import command_actor, command_detail, command_subject
from domain.commands import Command
from domain.errors import ConcurrencyConflict, DomainError, SlotUnavailable
from services.context import ServiceContext
from services.handlers import HANDLERS

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRYABLE = (ConcurrencyConflict, IntegrityError, OperationalError, psycopg.IntegrityError, psycopg.OperationalError)


class CommandFailed(Exception):
    """Retries ran out; the command may be sent again."""


class DatabaseUnavailable(CommandFailed):
    """Every attempt lost its connection or found none (Postgres restarting or unreachable)."""


@dataclass(frozen=True)
class CommandResult:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_hash(command: Command) -> str:
    canonical = json.dumps(asdict(command), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{type(command).__name__}:{canonical}".encode()).hexdigest()


class MessageBus:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], context: ServiceContext) -> None:
        self.uow_factory = uow_factory
        self.context = context

    def handle(
        self, command: Command, *, idempotency_key: str | None = None, actor: str | None = None
    ) -> CommandResult:
        """Run `command`; `actor` names who sent it in the audit log (`Principal.actor`,
        `agent:<thread id>`), when the command itself does not say."""
        name, handler, success_status = HANDLERS[type(command)]
        actor = actor or command_actor(command)
        digest = request_hash(command) if idempotency_key else ""
        connection_lost = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            committing = False
            try:
                with self.uow_factory() as uow:
                    if idempotency_key:
                        stored = uow.idempotency.claim(name, idempotency_key, digest, self.context.clock.now())
                        if stored is not None:
                            return CommandResult(stored.status, stored.body, replayed=True)
                    body = handler(command, uow, self.context)
                    if idempotency_key:
                        uow.idempotency.save(name, idempotency_key, StoredResponse(success_status, body))
                    self._audit(uow, command, actor, body)
                    committing = True
                    uow.commit()
                    return CommandResult(success_status, body)
            except (
                ConcurrencyConflict,
                IntegrityError,
                OperationalError,
                psycopg.IntegrityError,
                psycopg.OperationalError,
            ) as error:
                # IntegrityError: a unique index caught a race the locks did not (a new customer's
                # contact inserted twice, a reference drawn twice); OperationalError: a deadlock,
                # a serialization failure or a dropped connection (Postgres restarted).
                if isinstance(error, OperationalError | psycopg.OperationalError):
                    if not _retryable(error):
                        raise
                    connection_lost = _connection_lost(error)
                    if connection_lost and committing and not idempotency_key:
                        # The commit may have landed before the answer was lost: without a key to
                        # find it by, running the command again could do it twice.
                        raise DatabaseUnavailable(
                            f"{name}: the database went away while committing; look before trying again"
                        ) from None
                else:
                    connection_lost = False
                log.info("%s attempt %d conflicted: %s", name, attempt, type(error).__name__)
            except (DomainError, SlotUnavailable) as refusal:
                code = refusal.code if isinstance(refusal, DomainError) else "slot_unavailable"
                with self.uow_factory() as uow:
                    self._audit(uow, command, actor, None, refused=code)
                    uow.commit()
                raise
        if connection_lost:  # the last attempt found no database: say so, not "busy"
            raise DatabaseUnavailable(f"{name}: the database is not answering; try again shortly")
        raise CommandFailed(f"{name} kept conflicting with concurrent writers; try again")

    def _audit(
        self, uow: UnitOfWork, command: Command, actor: str, body: dict[str, Any] | None, *, refused: str | None = None
    ) -> None:
        detail = command_detail(command)
        detail["outcome"] = "refused" if refused else "ok"
        if refused:
            detail["error"] = refused
        append_entry(
            uow.conn,
            at=self.context.clock.now(),
            actor=actor,
            action=type(command).__name__,
            subject=command_subject(command, body),
            detail=detail,
        )


def _sqlstate(error: OperationalError | psycopg.OperationalError) -> str | None:
    cause = error.orig if isinstance(error, OperationalError) else error
    return getattr(cause, "sqlstate", None)


def _connection_lost(error: OperationalError | psycopg.OperationalError) -> bool:
    """The connection broke, or none could be made, or the server is shutting down or starting up
    (class 08, 57P): a new connection may work once Postgres is back."""
    if isinstance(error, OperationalError) and error.connection_invalidated:
        return True
    code = _sqlstate(error)
    return code is None or code.startswith(("08", "57P"))


def _retryable(error: OperationalError | psycopg.OperationalError) -> bool:
    # serialization_failure, deadlock_detected, or a lost connection (a retry takes a fresh one)
    return _sqlstate(error) in ("40001", "40P01") or _connection_lost(error)
