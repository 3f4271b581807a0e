"""Short-lived signed access tokens for machines (the OAuth client-credentials grant, and
`hibachi token create` for local use).

A token is a JWT (joserfc; HS256 with TOKEN_SIGNING_KEY, a key of its own) naming the service
(`sub` = `service:NAME`), its role and its scopes (permission names), issued by and for this API,
valid for 15 minutes. Verification checks the signature, the algorithm, issuer, audience and expiry
against the container's clock; anything else is refused as one `InvalidToken`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from domain.access import ROLES, Permission, Role
from domain.clock import Clock

ISSUER = "hibachi"
AUDIENCE = "hibachi-api"
ALGORITHM = "HS256"
ACCESS_TOKEN_SECONDS = 15 * 60


class InvalidToken(Exception):
    """A bearer token that is malformed, wrongly signed, expired or not ours."""


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int
    scopes: frozenset[Permission]


@dataclass(frozen=True)
class TokenClaims:
    subject: str  # service:NAME
    role: Role
    scopes: frozenset[Permission]
    token_id: str
    expires_at: int


def scope_text(scopes: frozenset[Permission]) -> str:
    return " ".join(sorted(scopes))


class TokenIssuer:
    def __init__(self, key: bytes, clock: Clock) -> None:
        if len(key) < 32:
            raise ValueError("the token signing key must be at least 32 bytes")
        self._key = OctKey.import_key(key)
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock.now().timestamp())

    def issue(
        self, service: str, scopes: frozenset[Permission], *, role: Role = "ai_service", ttl: int = ACCESS_TOKEN_SECONDS
    ) -> AccessToken:
        now = self._now()
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"service:{service}",
            "role": role,
            "scope": scope_text(scopes),
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, self._key, algorithms=[ALGORITHM])
        return AccessToken(token, ttl, scopes)

    def verify(self, token: str) -> TokenClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            jwt.JWTClaimsRegistry(
                now=self._now,
                iss={"essential": True, "value": ISSUER},
                aud={"essential": True, "value": AUDIENCE},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidToken(str(error) or type(error).__name__) from None
        claims: dict[str, Any] = decoded.claims
        role = claims.get("role")
        if role not in ROLES:
            raise InvalidToken("unknown role")
        try:
            scopes = frozenset(Permission(name) for name in str(claims.get("scope", "")).split())
        except ValueError:
            raise InvalidToken("unknown scope") from None
        return TokenClaims(str(claims["sub"]), cast(Role, role), scopes, str(claims.get("jti", "")), int(claims["exp"]))
