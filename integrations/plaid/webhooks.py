"""Plaid webhook verification (https://plaid.com/docs/api/webhooks/webhook-verification/).

The `Plaid-Verification` header is a JWT signed ES256 by a key Plaid names in its `kid` header and
serves from `/webhook_verification_key/get`. Its claims: `iat` (issued within five minutes) and
`request_body_sha256` (the raw body's SHA-256, hex). The JWT work is joserfc's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

MAX_AGE_SECONDS = 5 * 60
ALGORITHM = "ES256"


@dataclass(frozen=True)
class VerifiedWebhook:
    payload: dict[str, Any]
    issued_at: int  # the JWT's iat: when Plaid sent this delivery
    body_sha256: str


class WebhookRejected(Exception):
    """The webhook is not provably Plaid's, or is stale: answer 400."""


def body_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def verify_webhook(
    raw: bytes, header: str | None, fetch_key: Callable[[str], dict[str, Any]], now: float
) -> VerifiedWebhook:
    """The webhook (its JSON body, signed time, body digest) when `header` proves it Plaid's and
    fresh; WebhookRejected otherwise."""
    if not header:
        raise WebhookRejected("no Plaid-Verification header")
    try:
        protected = jws.extract_compact(header.encode()).protected
    except (JoseError, ValueError, UnicodeError) as error:
        raise WebhookRejected("malformed verification JWT") from error
    # Checked before any key is fetched: a token naming another algorithm is refused outright.
    if protected.get("alg") != ALGORITHM:
        raise WebhookRejected("verification JWT is not ES256")
    kid = protected.get("kid")
    if not isinstance(kid, str) or not kid:
        raise WebhookRejected("verification JWT names no key")
    try:
        jwk = fetch_key(kid)
    except Exception as error:  # an unknown kid is Plaid's 400; either way we cannot verify
        raise WebhookRejected("verification key unavailable") from error
    if jwk.get("expired_at") is not None and float(jwk["expired_at"]) <= now:
        raise WebhookRejected("verification key expired")
    try:
        key = ECKey.import_key({k: jwk[k] for k in ("kty", "crv", "x", "y")})
        token = jwt.decode(header, key, algorithms=[ALGORITHM])
    except (JoseError, ValueError, KeyError, TypeError) as error:
        raise WebhookRejected("bad signature") from error
    iat = token.claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or not (now - MAX_AGE_SECONDS <= iat <= now + 60):
        raise WebhookRejected("verification JWT is stale")
    claimed = token.claims.get("request_body_sha256")
    if not isinstance(claimed, str) or not hmac.compare_digest(claimed, body_digest(raw)):
        raise WebhookRejected("body does not match the signed digest")
    try:
        payload = json.loads(raw)
    except ValueError as error:
        raise WebhookRejected("body is not JSON") from error
    if not isinstance(payload, dict):
        raise WebhookRejected("body is not a JSON object")
    return VerifiedWebhook(payload, int(iat), claimed)
