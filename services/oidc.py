"""Single sign-on with any OpenID Connect provider (Google Workspace, Microsoft Entra, Okta,
Keycloak, ...): the authorization code flow with PKCE.

`begin` reads the provider's discovery document and answers the authorization URL to send the
browser to. It carries a random `state` (stored only as its SHA-256), a random `nonce`, and the
PKCE challenge of a random verifier (S256 only; the verifier is stored encrypted). The request
row in `identity.oidc_requests` lives 10 minutes and is consumed once.

`complete` takes the provider's answer at the callback: it consumes the request row (an unknown,
used, expired or other provider's state is refused), exchanges the code at the token endpoint
with the verifier, and verifies the ID token with joserfc against the provider's JWKS: the
signature (RS256 or ES256 only, never `none` nor an HMAC keyed with a public key), `iss` equal to
the discovered issuer, `aud` holding our client id (and `azp` ours when present), `exp` and `iat`
against the container's clock (60 seconds' leeway), `nonce` equal to the stored one. The token
must carry an `email` the provider has verified (`email_verified` true).

No auto-provisioning: the verified email must belong to an existing, active staff account (an
owner or admin creates it first, with its role). Anyone holding an account at the provider (any
Google account, anyone in the tenant) would otherwise get in, with a role nobody chose. Single
sign-on proves the email, nothing more: MFA still applies to owners, admins and the enrolled
(the session starts with its second factor pending), and an account's password lockout does not
block it (the provider did the authentication).

Every outcome is in the identity audit trail: `oidc_login` (with `login` from the session start)
or `oidc_failed` with its reason. The discovery document and the JWKS are cached for an hour;
an ID token naming a key id the cached JWKS lacks refetches the JWKS once (key rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError, MissingClaimError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import delete, insert, select, update

from db.identity import StaffSession, StaffUser, record_auth_event
from db.tables import oidc_requests
from db.uow import UnitOfWork
from domain.errors import NotFound
from hibachi.bootstrap import Container
from hibachi.settings import OidcProviderSettings, is_secure_url, parse_oidc_providers
from services.identity import open_session

REQUEST_LIFETIME = timedelta(minutes=10)
PURGE_AFTER = timedelta(days=1)  # used and abandoned requests kept a day (a replay still says "used")
CACHE_SECONDS = 3600.0
LEEWAY_SECONDS = 60
HTTP_TIMEOUT = 10.0
# Asymmetric algorithms only: the JWKS holds public keys, and an HMAC "keyed" with one is forgeable.
SIGNING_ALGORITHMS = ("RS256", "ES256")
REQUESTS_TABLE = "identity.oidc_requests"
SESSION_METHOD = "oidc"


class OidcError(Exception):
    """A single sign-on refused: `reason` is a stable code (the audit trail's), `message` says
    what happened in words a person can act on. `status` is the HTTP status to answer."""

    def __init__(self, reason: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True)
class OidcLogin:
    """A completed single sign-on: the user, the new session and its cookie token."""

    provider: str
    user: StaffUser
    token: str
    session: StaffSession
    return_to: str | None


@dataclass(frozen=True)
class _Pending:
    nonce: str
    code_verifier: str
    return_to: str | None


def state_hash(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


def safe_return_to(value: str | None) -> str | None:
    """A local path to return to after login, or None: never another site (`//host`, `/\\host`,
    `https://...`), which would make the login an open redirect."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if any(ch in value for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in value):
        return None
    return value


def _start_session(uow: UnitOfWork, user: StaffUser, ip: str | None, at: datetime) -> tuple[str, StaffSession]:
    # The one place a single sign-on becomes a session (services.identity decides whether the
    # second factor is still due, and records the `login` event).
    return open_session(uow, user, SESSION_METHOD, ip, at)


class OidcService:
    """The configured providers, their cached discovery documents and key sets, and the flow.
    `http` reaches the providers (tests point it at a loopback provider)."""

    def __init__(
        self,
        providers: Iterable[OidcProviderSettings] = (),
        *,
        redirect_base_url: str | None = None,
        http: httpx.Client | None = None,
        cache_seconds: float = CACHE_SECONDS,
        leeway_seconds: int = LEEWAY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._providers = {p.name: p for p in providers}
        self.redirect_base_url = redirect_base_url.rstrip("/") if redirect_base_url else None
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
        self._cache_seconds = cache_seconds
        self._leeway = leeway_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._discovery: dict[str, tuple[float, dict[str, Any]]] = {}
        self._jwks: dict[str, tuple[float, KeySet]] = {}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> OidcService:
        """The providers `OIDC_PROVIDERS` and `OIDC_<NAME>_*` name (see hibachi.settings)."""
        env = os.environ if environ is None else environ
        return cls(
            parse_oidc_providers(env.get("OIDC_PROVIDERS", ""), env),
            redirect_base_url=env.get("OIDC_REDIRECT_BASE_URL") or None,
        )

    @property
    def providers(self) -> tuple[OidcProviderSettings, ...]:
        return tuple(self._providers.values())

    def provider(self, name: str) -> OidcProviderSettings:
        found = self._providers.get(name)
        if found is None:
            raise NotFound("no such provider", field="provider")
        return found

    # ------------------------------------------------------------------ the provider's documents
    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError):
            raise OidcError(
                "provider_unavailable", f"the sign-in provider's {what} could not be read", status=502
            ) from None
        if not isinstance(body, dict):
            raise OidcError("provider_unavailable", f"the sign-in provider's {what} is not a JSON object", status=502)
        return body

    def discovery(self, provider: OidcProviderSettings) -> dict[str, Any]:
        """The provider's discovery document, checked: it names the configured issuer and secure
        endpoints, and offers PKCE with S256 if it lists methods at all."""
        now = self._monotonic()
        with self._lock:
            cached = self._discovery.get(provider.name)
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1]
        doc = self._get_json(provider.issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery document")
        issuer = doc.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != provider.issuer.rstrip("/"):
            raise OidcError(
                "provider_misconfigured", "the provider's discovery document names another issuer", status=502
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = doc.get(key)
            if not isinstance(value, str) or not is_secure_url(value):
                raise OidcError("provider_misconfigured", f"the provider's {key} is missing or not https", status=502)
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise OidcError("provider_misconfigured", "the provider does not offer PKCE with S256", status=502)
        with self._lock:
            self._discovery[provider.name] = (now, doc)
        return doc

    def _key_set(self, provider: OidcProviderSettings, doc: dict[str, Any], *, refresh: bool = False) -> KeySet:
        now = self._monotonic()
        with self._lock:
            cached = self._jwks.get(provider.name)
        if cached and not refresh and now - cached[0] < self._cache_seconds:
            return cached[1]
        body = self._get_json(str(doc["jwks_uri"]), "key set (JWKS)")
        keys = body.get("keys")
        # Only public signing keys: an encryption key or a symmetric key has no business here.
        usable = [
            k
            for k in keys or []
            if isinstance(k, dict) and k.get("kty") in ("RSA", "EC") and k.get("use", "sig") == "sig" and "d" not in k
        ]
        try:
            key_set = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError):
            raise OidcError(
                "provider_misconfigured", "the provider's key set (JWKS) could not be read", status=502
            ) from None
        with self._lock:
            self._jwks[provider.name] = (now, key_set)
        return key_set

    # ------------------------------------------------------------------ the flow
    def begin(self, container: Container, name: str, redirect_uri: str, return_to: str | None = None) -> str:
        """The authorization URL to send the browser to (and the request stored to meet it)."""
        provider = self.provider(name)
        doc = self.discovery(provider)
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]: RFC 7636 allows 43-128
        key = state_hash(state)
        now = container.clock.now()
        with container.uow() as uow:
            uow.conn.execute(delete(oidc_requests).where(oidc_requests.c.created_at < now - PURGE_AFTER))
            uow.conn.execute(
                insert(oidc_requests).values(
                    state_hash=key,
                    provider=provider.name,
                    nonce=nonce,
                    code_verifier_enc=container.cipher.encrypt(
                        verifier, table=REQUESTS_TABLE, column="code_verifier_enc", row_id=key.hex()
                    ),
                    return_to=safe_return_to(return_to),
                    created_at=now,
                )
            )
            uow.commit()
        params = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": provider.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        endpoint = str(doc["authorization_endpoint"])
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    def complete(
        self,
        container: Container,
        name: str,
        redirect_uri: str,
        *,
        state: str | None,
        code: str | None,
        browser_state: str | None,
        error: str | None = None,
        ip: str | None = None,
    ) -> OidcLogin:
        """The provider's answer at the callback, verified, as a new session of the staff user
        whose email it proves. OidcError (recorded as `oidc_failed`) for anything else.

        `browser_state` is the state the browser was given when it started the sign-in (a cookie):
        it must be this callback's state, so a callback URL made in someone else's browser (login
        CSRF: the victim would be logged in as the attacker) is refused."""
        provider = self.provider(name)
        try:
            if state and not (browser_state and hmac.compare_digest(browser_state.encode(), state.encode())):
                raise OidcError(
                    "state_not_this_browser",
                    "this sign-in was started in another browser (or its cookie expired);"
                    " start again from the login page",
                )
            pending = self._consume(container, provider, state)
            if error:
                code_text = re.sub(r"[^A-Za-z0-9_.-]", "", error)[:64] or "error"
                raise OidcError("provider_error", f"the sign-in provider refused ({code_text})")
            if not code:
                raise OidcError("code_missing", "the sign-in provider sent no authorization code")
            doc = self.discovery(provider)
            id_token = self._exchange(provider, doc, code, pending.code_verifier, redirect_uri)
            claims = self._verify(container, provider, doc, id_token, pending.nonce)
            email = _verified_email(claims)
        except OidcError as refused:
            self._record_failure(container, provider.name, refused.reason, ip)
            raise
        return self._log_in(container, provider, claims, email, pending.return_to, ip)

    def _consume(self, container: Container, provider: OidcProviderSettings, state: str | None) -> _Pending:
        """The request `state` names, marked used in its own transaction before the code is
        exchanged: a second callback with the same state (a replayed code) finds it used."""
        if not state:
            raise OidcError("state_missing", "the sign-in answer carries no state; start the sign-in again")
        key = state_hash(state)
        now = container.clock.now()
        with container.uow() as uow:
            row = uow.conn.execute(
                select(oidc_requests).where(oidc_requests.c.state_hash == key).with_for_update()
            ).first()
            if row is None or row.provider != provider.name:
                raise OidcError("state_unknown", "this sign-in was not started here; start it again")
            if row.used_at is not None:
                raise OidcError("state_used", "this sign-in answer was used already; start the sign-in again")
            if now - row.created_at >= REQUEST_LIFETIME:
                raise OidcError("state_expired", "the sign-in took more than 10 minutes; start it again")
            uow.conn.execute(update(oidc_requests).where(oidc_requests.c.state_hash == key).values(used_at=now))
            uow.commit()
        verifier = container.cipher.decrypt(
            row.code_verifier_enc, table=REQUESTS_TABLE, column="code_verifier_enc", row_id=key.hex()
        )
        return _Pending(nonce=row.nonce, code_verifier=verifier, return_to=safe_return_to(row.return_to))

    def _exchange(
        self, provider: OidcProviderSettings, doc: dict[str, Any], code: str, verifier: str, redirect_uri: str
    ) -> str:
        """The code and the PKCE verifier for tokens at the token endpoint; the ID token."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth: httpx.BasicAuth | None = None
        if provider.client_secret is None:
            data["client_id"] = provider.client_id  # a public client: PKCE is its proof
        else:
            secret = provider.client_secret.get_secret_value()
            methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            if "client_secret_basic" in methods:
                # RFC 6749 2.3.1: both parts form-encoded before they are joined and base64-encoded.
                auth = httpx.BasicAuth(quote(provider.client_id, safe=""), quote(secret, safe=""))
            elif "client_secret_post" in methods:
                data.update(client_id=provider.client_id, client_secret=secret)
            else:
                raise OidcError(
                    "provider_misconfigured", "the provider offers no client authentication we support", status=502
                )
        endpoint, headers = str(doc["token_endpoint"]), {"Accept": "application/json"}
        try:
            if auth is None:
                response = self._http.post(endpoint, data=data, headers=headers)
            else:
                response = self._http.post(endpoint, data=data, headers=headers, auth=auth)
        except httpx.HTTPError:
            raise OidcError(
                "provider_unavailable", "the sign-in provider's token endpoint did not answer", status=502
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            named = re.sub(r"[^A-Za-z0-9_.-]", "", str(error))[:64] if error else f"HTTP {response.status_code}"
            raise OidcError("token_exchange_failed", f"the sign-in provider refused the code ({named})")
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcError("id_token_missing", "the sign-in provider sent no ID token (is the openid scope asked?)")
        return id_token

    def _verify(
        self, container: Container, provider: OidcProviderSettings, doc: dict[str, Any], id_token: str, nonce: str
    ) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce check out."""
        offered = doc.get("id_token_signing_alg_values_supported")
        algorithms = [a for a in SIGNING_ALGORITHMS if not isinstance(offered, list) or a in offered]
        if not algorithms:
            raise OidcError("provider_misconfigured", "the provider signs ID tokens with no algorithm we accept")
        try:
            try:
                token = jwt.decode(id_token, self._key_set(provider, doc), algorithms=algorithms)
            except InvalidKeyIdError:
                # The provider may have rotated its keys since the cached set: fetch it once more.
                token = jwt.decode(id_token, self._key_set(provider, doc, refresh=True), algorithms=algorithms)
        except JoseError:
            raise OidcError("id_token_signature", "the ID token's signature does not verify") from None
        claims = token.claims
        registry = JWTClaimsRegistry(
            now=int(container.clock.now().timestamp()),
            leeway=self._leeway,
            iss={"essential": True, "value": str(doc["issuer"])},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise OidcError("id_token_expired", "the ID token has expired; start the sign-in again") from None
        except MissingClaimError as missing:
            raise OidcError("id_token_incomplete", f"the ID token lacks {missing.claim}") from None
        except ClaimError as invalid:
            reasons = {
                "iss": ("wrong_issuer", "the ID token was issued by another issuer"),
                "aud": ("wrong_audience", "the ID token was issued for another client"),
                "nonce": ("wrong_nonce", "the ID token does not answer this sign-in (nonce)"),
                "iat": ("id_token_not_yet_valid", "the ID token is dated in the future"),
                "nbf": ("id_token_not_yet_valid", "the ID token is not valid yet"),
            }
            reason, message = reasons.get(
                invalid.claim, ("id_token_invalid", f"the ID token's {invalid.claim} is wrong")
            )
            raise OidcError(reason, message) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != provider.client_id:
            raise OidcError("wrong_audience", "the ID token was issued to another client (azp)")
        return claims

    def _log_in(
        self,
        container: Container,
        provider: OidcProviderSettings,
        claims: dict[str, Any],
        email: str,
        return_to: str | None,
        ip: str | None,
    ) -> OidcLogin:
        now = container.clock.now()
        with container.uow() as uow:
            user = uow.staff.by_email(email.strip().lower())  # accounts are stored lower-case
            if user is not None and user.active:
                token, session = _start_session(uow, user, ip, now)
                record_auth_event(
                    uow.conn,
                    "oidc_login",
                    at=now,
                    user_id=user.id,
                    actor=f"user:{user.id}",
                    ip=ip,
                    provider=provider.name,
                    subject=str(claims["sub"]),
                    session_id=session.id,
                )
                uow.commit()
                return OidcLogin(provider.name, user, token, session, return_to)
        if user is None:
            refused = OidcError(
                "unknown_user",
                "no staff account has this email; single sign-on does not create accounts, "
                "so ask an owner or admin to add you first",
            )
        else:
            refused = OidcError("user_inactive", "this staff account is deactivated")
        self._record_failure(
            container, provider.name, refused.reason, ip, user_id=user.id if user else None, subject=str(claims["sub"])
        )
        raise refused

    def _record_failure(
        self, container: Container, provider: str, reason: str, ip: str | None, **detail: str | None
    ) -> None:
        user_id = detail.pop("user_id", None)
        with container.uow() as uow:
            record_auth_event(
                uow.conn,
                "oidc_failed",
                at=container.clock.now(),
                user_id=user_id,
                actor="system",
                ip=ip,
                provider=provider,
                reason=reason,
                **{k: v for k, v in detail.items() if v is not None},
            )
            uow.commit()


def _verified_email(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise OidcError("email_missing", "the sign-in provider shared no email address (ask for the email scope)")
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":  # a few providers send the string
        raise OidcError("email_unverified", "the sign-in provider has not verified this email address")
    return email
