"""Service clients of the OAuth client-credentials grant, and the access tokens they get.

A client (the agent as its own process, an integration, a script) has an id (a UUID, its
`client_id`), a unique name (its tokens' subject is `service:NAME`), a role and the scopes it may
ask for (a subset of the role's permissions). Its secret is shown once when it is made or rotated
and stored only as an argon2id hash.

Each operation is one transaction through the unit of work; every token issued, whether through
the grant or `hibachi token create`, is recorded on the identity audit trail as `token_issued`.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from db.identity import record_auth_event
from db.tables import service_clients
from domain.access import Permission, Role, parse_scopes, permissions_of
from domain.errors import DomainError, NotFound
from services.tokens import AccessToken, scope_text

if TYPE_CHECKING:  # bootstrap imports the services; only the type here
    from hibachi.bootstrap import Container

NAME_MAX = 64
SECRET_MAX = 512  # longer than any secret we make: refused before hashing
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class ClientAuthFailed(Exception):
    """Unknown client, wrong secret or a deactivated client: one answer for all (`invalid_client`)."""


class ScopeRefused(Exception):
    """A scope the client may not ask for, or one that does not exist (`invalid_scope`)."""


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str  # shown once; only its hash is kept


@dataclass(frozen=True)
class ServiceClient:
    id: str
    name: str
    role: Role
    scopes: frozenset[Permission]
    active: bool


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(32))


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return secret, _hasher.hash(secret)


def _verify(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def _client(row: Any) -> ServiceClient:
    role = cast(Role, row.role)
    # Scopes stored before a change of the matrix never outlive it: the role bounds them.
    known = {p.value for p in Permission}
    scopes = frozenset(Permission(s) for s in row.scopes if s in known) & permissions_of(role)
    return ServiceClient(str(row.id), row.name, role, scopes, bool(row.active))


def _row(conn: Connection, client_id: str, *, lock: bool = False) -> Any:
    """The client's row, or None (also for an id that is not a UUID: no query for it)."""
    if not _valid_id(client_id):
        return None
    query = select(service_clients).where(service_clients.c.id == client_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def _valid_id(client_id: str) -> bool:
    try:
        uuid.UUID(client_id)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def create_client(
    container: Container,
    name: str,
    scopes: str | list[str] | tuple[str, ...] | None = None,
    role: Role = "ai_service",
    *,
    actor: str = "system",
) -> ClientCredentials:
    """A new client allowed `scopes` (default: all its role may do). ValueError for an unknown scope
    or one beyond the role; DomainError for a bad or taken name."""
    granted = parse_scopes(scopes, role)
    name = name.strip()
    if not name or len(name) > NAME_MAX or not all(c.isalnum() or c in "-_." for c in name):
        raise DomainError(f"a service name is 1-{NAME_MAX} letters, digits, '-', '_' or '.'", field="name")
    secret, secret_hash = _new_secret()
    with container.uow() as uow:
        if uow.conn.execute(select(service_clients.c.id).where(service_clients.c.name == name)).first():
            raise DomainError(f"a service client named {name!r} exists already", field="name")
        try:
            client_id = uow.conn.execute(
                insert(service_clients)
                .values(name=name, secret_hash=secret_hash, role=role, scopes=sorted(granted))
                .returning(service_clients.c.id)
            ).scalar_one()
        except IntegrityError:  # made by someone else in the meantime
            raise DomainError(f"a service client named {name!r} exists already", field="name") from None
        record_auth_event(
            uow.conn,
            "service_client_created",
            at=container.clock.now(),
            actor=actor,
            client_id=str(client_id),
            service=name,
            role=role,
            scopes=sorted(granted),
        )
        uow.commit()
    return ClientCredentials(str(client_id), secret)


def get_client(container: Container, client_id: str) -> ServiceClient | None:
    with container.uow() as uow:
        row = _row(uow.conn, client_id)
    return _client(row) if row else None


def rotate_secret(container: Container, client_id: str, *, actor: str = "system") -> ClientCredentials:
    """A new secret for the client (shown once); the old one stops working at once."""
    secret, secret_hash = _new_secret()
    with container.uow() as uow:
        row = _locked(uow.conn, client_id)
        uow.conn.execute(
            update(service_clients).where(service_clients.c.id == client_id).values(secret_hash=secret_hash)
        )
        record_auth_event(
            uow.conn,
            "service_secret_rotated",
            at=container.clock.now(),
            actor=actor,
            client_id=client_id,
            service=row.name,
        )
        uow.commit()
    return ClientCredentials(client_id, secret)


def deactivate(container: Container, client_id: str, *, actor: str = "system") -> None:
    """The client gets no more tokens (tokens already issued run out within 15 minutes)."""
    with container.uow() as uow:
        row = _locked(uow.conn, client_id)
        uow.conn.execute(update(service_clients).where(service_clients.c.id == client_id).values(active=False))
        record_auth_event(
            uow.conn,
            "service_client_deactivated",
            at=container.clock.now(),
            actor=actor,
            client_id=client_id,
            service=row.name,
        )
        uow.commit()


def _locked(conn: Connection, client_id: str) -> ServiceClient:
    row = _row(conn, client_id, lock=True)
    if row is None:
        raise NotFound("no such service client", field="client_id")
    return _client(row)


def authenticate(container: Container, client_id: str, client_secret: str) -> ServiceClient:
    """The active client with this id and secret, else ClientAuthFailed. An unknown id verifies the
    secret against a dummy hash, so the answer takes as long whether or not the client exists."""
    with container.uow() as uow:
        row = _row(uow.conn, client_id)
    return _check(row, client_secret)


def _check(row: Any, client_secret: str) -> ServiceClient:
    # Always one argon2 verification, of a real or a dummy hash: timing does not tell them apart.
    secret = client_secret if len(client_secret) <= SECRET_MAX else ""
    verified = _verify(row.secret_hash if row is not None else _dummy_hash(), secret)
    if row is None or not verified or not row.active:
        raise ClientAuthFailed("the client is unknown, its secret is wrong, or it is deactivated")
    return _client(row)


def grant_client_credentials(
    container: Container, client_id: str, client_secret: str, scope: str | None = None, *, ip: str | None = None
) -> AccessToken:
    """The client-credentials grant: authenticate the client, grant the scopes asked (default: all
    the client's), issue a token and record it, in one transaction."""
    with container.uow() as uow:
        client = _check(_row(uow.conn, client_id), client_secret)
        scopes = _granted(client, scope)
        token = container.tokens.issue(client.name, scopes, role=client.role)
        _record_issue(container, uow.conn, token, actor=f"service:{client.name}", ip=ip, client_id=client.id)
        uow.commit()
    return token


def _granted(client: ServiceClient, scope: str | None) -> frozenset[Permission]:
    if scope is None or not scope.strip():
        return client.scopes
    asked: set[Permission] = set()
    for name in scope.split(" "):
        if not name:
            continue
        try:
            permission = Permission(name)
        except ValueError:
            raise ScopeRefused(f"unknown scope {name!r}") from None
        if permission not in client.scopes:
            raise ScopeRefused(f"scope {name!r} is not granted to this client")
        asked.add(permission)
    return frozenset(asked)


def issue_local_token(
    container: Container, service: str, scopes: str | list[str] | tuple[str, ...] | None = None, *, actor: str = "cli"
) -> AccessToken:
    """An ai_service token for local use (`hibachi token create`): scopes default to all the role
    may do; ValueError names an unknown scope or one beyond the role."""
    granted = parse_scopes(scopes, "ai_service")
    service = service.strip()
    if not service or len(service) > NAME_MAX:
        raise ValueError(f"a service name is 1-{NAME_MAX} characters")
    with container.uow() as uow:
        token = container.tokens.issue(service, granted, role="ai_service")
        _record_issue(container, uow.conn, token, actor=actor, service=service)
        uow.commit()
    return token


def _record_issue(container: Container, conn: Connection, token: AccessToken, *, actor: str, **detail: Any) -> None:
    claims = container.tokens.verify(token.token)
    record_auth_event(
        conn,
        "token_issued",
        at=container.clock.now(),
        actor=actor,
        scopes=scope_text(token.scopes).split(),
        jti=claims.token_id,
        expires_at=claims.expires_at,
        role=claims.role,
        **detail,
    )
