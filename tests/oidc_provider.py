"""A small OpenID Connect provider for the tests, served on loopback by uvicorn in a thread.

It publishes a discovery document and a JWKS (an RSA key made at start), auto-approves one
configured user at /authorize (redirecting to the redirect URI with a code and the state, and
recording the PKCE challenge), and at /token checks the client's credentials (client_secret_basic),
that the code exists and is unused, that the redirect URI matches and that the verifier's S256 is
the recorded challenge, then answers an RS256-signed ID token.

`Misbehave` makes it lie the ways a broken or hostile provider would: sign with a key not in its
JWKS, issue an expired token, name another audience or issuer, drop or change the nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "hibachi-test-client"
CLIENT_SECRET = "s3cret: with spaces & symbols"


@dataclass
class Misbehave:
    other_key: bool = False  # sign with a key the JWKS does not publish (same kid)
    expired: bool = False  # exp an hour before now
    audience: str | list[str] | None = None  # aud instead of our client id
    azp: str | None = None
    issuer: str | None = None  # iss instead of the provider's own
    nonce: str | None = None  # nonce instead of the one asked for
    drop_nonce: bool = False
    email_verified: Any = True
    no_email: bool = False
    unsigned: bool = False  # alg "none"
    es256: bool = False  # sign with its EC key (published too): a good token, another algorithm
    hs256_with_public_key: bool = False  # the old trick: an HMAC keyed with the published public key


@dataclass
class Grant:
    code: str
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    nonce: str | None
    used: bool = False


@dataclass
class LoopbackProvider:
    """The provider's state; `issuer` is its base URL once it serves."""

    now: Callable[[], float] = time.time
    email: str = "staff@example.com"
    subject: str = "user-1"
    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}))
    ec_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", parameters={"kid": "e1", "use": "sig"}))
    misbehave: Misbehave = field(default_factory=Misbehave)
    grants: dict[str, Grant] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    # ---------------------------------------------------------------- endpoints
    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "email", "profile"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False), self.ec_key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.authorize_requests.append(q)
        if q.get("response_type") != "code" or q.get("client_id") != CLIENT_ID or "redirect_uri" not in q:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            code=code,
            client_id=q["client_id"],
            redirect_uri=q["redirect_uri"],
            challenge=q.get("code_challenge", ""),
            method=q.get("code_challenge_method", "plain"),
            nonce=q.get("nonce"),
        )
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}", 302)

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.token_requests.append(form)
        if request.headers.get("authorization") != basic_auth(CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.grants.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if grant.used:
            return JSONResponse({"error": "invalid_grant", "error_description": "code already used"}, status_code=400)
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, status_code=400)
        if grant.method != "S256" or s256(form.get("code_verifier", "")) != grant.challenge:
            return JSONResponse({"error": "invalid_grant", "error_description": "code_verifier"}, status_code=400)
        return JSONResponse(
            {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "id_token": self.id_token(grant)}
        )

    def id_token(self, grant: Grant) -> str:
        m = self.misbehave
        now = int(self.now())
        claims: dict[str, Any] = {
            "iss": m.issuer or self.issuer,
            "aud": m.audience if m.audience is not None else grant.client_id,
            "sub": self.subject,
            "email": self.email,
            "email_verified": m.email_verified,
            "iat": now - (7200 if m.expired else 0),
            "exp": now + (-3600 if m.expired else 300),
            "nonce": m.nonce or grant.nonce,
        }
        if m.azp is not None:
            claims["azp"] = m.azp
        if m.drop_nonce:
            del claims["nonce"]
        if m.no_email:
            del claims["email"]
        kid = str(self.key.kid)
        if m.unsigned:
            return f"{_b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{_b64(json.dumps(claims).encode())}."
        if m.es256:
            return jwt.encode({"alg": "ES256", "kid": str(self.ec_key.kid)}, claims, self.ec_key)
        if m.hs256_with_public_key:
            return forge_hs256({"alg": "HS256", "kid": kid}, claims, self.key.as_pem(private=False))
        key = RSAKey.generate_key(2048, parameters={"kid": kid}) if m.other_key else self.key
        return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)

    def rotate_key(self, kid: str) -> None:
        """A new signing key under a new key id, published at once (as providers rotate)."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An attacker's token (joserfc rightly refuses to make one): HS256 keyed with public bytes."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def basic_auth(client_id: str, secret: str) -> str:
    from urllib.parse import quote

    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(pair).decode()


@contextmanager
def serve(provider: LoopbackProvider) -> Iterator[LoopbackProvider]:
    """Serve `provider` on a free loopback port for the duration of the block."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    provider.issuer = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        try:
            httpx.get(provider.issuer + "/jwks", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.025)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=5)
