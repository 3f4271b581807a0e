"""Settings from the environment (pydantic-settings). A missing or malformed setting stops
start-up with one line naming it (`SettingsError`).

Single sign-on (OpenID Connect) is optional. `OIDC_PROVIDERS` names the providers, comma-separated
(`google,okta`; lower-case letters, digits, `_`); for each NAME:

    OIDC_<NAME>_ISSUER         the issuer URL; its /.well-known/openid-configuration is read (required)
    OIDC_<NAME>_CLIENT_ID      the client registered with the provider (required)
    OIDC_<NAME>_CLIENT_SECRET  its secret; unset for a public client (PKCE alone)
    OIDC_<NAME>_SCOPES         default "openid email profile" (must include openid)
    OIDC_<NAME>_LABEL          what the login page's button says, default the name

The redirect URI to register with each provider is `<base>/auth/oidc/<name>/callback`, where the
base is `OIDC_REDIRECT_BASE_URL` (the site's public https URL; unset means the URL the request
came in on, fine when no proxy rewrites it).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from integrations.email import SmtpConfig

from db.pii import BlindIndex, FieldCipher, PiiKeyError, decode_key, new_key, parse_keyring
from hibachi.business_file import DEFAULT_BUSINESS_FILE

if TYPE_CHECKING:
    from integrations.ringcentral import RingCentralConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    pass


# The secrets a deployment must provide (`make run` generates local ones in `.data/keys.env`).
KEY_SETTINGS = ("PII_KEYS", "PII_ACTIVE_KEY_ID", "BLIND_INDEX_KEY", "TOKEN_SIGNING_KEY")


def fresh_keys(key_id: str = "local1") -> dict[str, str]:
    """A new random value for every key setting (local development, tests, benchmarks)."""
    return {
        "PII_KEYS": f"{key_id}:{new_key()}",
        "PII_ACTIVE_KEY_ID": key_id,
        "BLIND_INDEX_KEY": new_key(),
        "TOKEN_SIGNING_KEY": new_key(),
    }


DEFAULT_OIDC_SCOPES = "openid email profile"
_PROVIDER_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


@dataclass(frozen=True)
class OidcProviderSettings:
    """One single sign-on provider, from the `OIDC_<NAME>_*` variables."""

    name: str
    issuer: str
    client_id: str
    client_secret: SecretStr | None = None
    scopes: str = DEFAULT_OIDC_SCOPES
    label: str = ""


def is_secure_url(value: str) -> bool:
    """https, or plain http on loopback only (development, the tests' provider)."""
    try:
        url = urlsplit(value)
    except ValueError:
        return False
    if not url.hostname:
        return False
    return url.scheme == "https" or (url.scheme == "http" and url.hostname in ("127.0.0.1", "localhost", "::1"))


def parse_oidc_providers(names: str, environ: Mapping[str, str] | None = None) -> tuple[OidcProviderSettings, ...]:
    """The providers `names` (OIDC_PROVIDERS) lists, read from `environ` (default the process's).
    ValueError names the first variable that is missing or malformed."""
    env = os.environ if environ is None else environ
    providers: list[OidcProviderSettings] = []
    for raw in names.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if not _PROVIDER_NAME.match(name):
            raise ValueError(f"provider name {raw.strip()!r} must be lower-case letters, digits or _")
        if any(p.name == name for p in providers):
            raise ValueError(f"provider {name!r} is listed twice")
        prefix = f"OIDC_{name.upper()}_"
        issuer = env.get(prefix + "ISSUER", "").strip()
        client_id = env.get(prefix + "CLIENT_ID", "").strip()
        secret = env.get(prefix + "CLIENT_SECRET", "").strip()
        scopes = " ".join(env.get(prefix + "SCOPES", "").split()) or DEFAULT_OIDC_SCOPES
        if not issuer:
            raise ValueError(f"{prefix}ISSUER is required for provider {name!r}")
        if not is_secure_url(issuer):
            raise ValueError(f"{prefix}ISSUER must be an https:// URL")
        if not client_id:
            raise ValueError(f"{prefix}CLIENT_ID is required for provider {name!r}")
        if "openid" not in scopes.split():
            raise ValueError(f"{prefix}SCOPES must include openid")
        providers.append(
            OidcProviderSettings(
                name=name,
                issuer=issuer,
                client_id=client_id,
                client_secret=SecretStr(secret) if secret else None,
                scopes=scopes,
                label=env.get(prefix + "LABEL", "").strip() or name.replace("_", " ").title(),
            )
        )
    return tuple(providers)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    database_url: str | None = Field(
        default=None, description="postgresql://...; unset means the embedded Postgres under DATA_DIR"
    )
    business_file: Path = DEFAULT_BUSINESS_FILE
    journeys_dir: Path = Field(default=PROJECT_ROOT / "journeys", description="the journey YAML files")
    data_dir: Path = PROJECT_ROOT / ".data"
    pii_keys: str = Field(description="KEY_ID:BASE64[,KEY_ID:BASE64...], 32-byte AES keys")
    pii_active_key_id: str = Field(min_length=1)
    blind_index_key: str = Field(description="BASE64 of 32 bytes, separate from the PII keys")
    token_signing_key: str = Field(description="BASE64 of 32 bytes: signs service access tokens")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    web_workers: int = Field(default=1, ge=1, le=64, description="API processes (one core each)")
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    # A failed delivery waits base, 2*base, 4*base, ... (capped) before its next attempt.
    outbox_retry_base_seconds: float = Field(default=2.0, gt=0, le=3600)
    outbox_retry_max_seconds: float = Field(default=1800.0, gt=0, le=86400)
    run_outbox_in_process: bool = True
    agent_engine: Literal["rules", "llm"] = Field(default="rules", description="understanding engine")
    llm_model: str = Field(default="gpt-4o-mini", min_length=1)
    llm_base_url: str | None = Field(default=None, description="any OpenAI-compatible server; unset means OpenAI")
    llm_api_key: SecretStr | None = Field(default=None, validate_default=True)
    llm_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    llm_max_retries: int = Field(default=1, ge=0, le=10)
    llm_phrase_replies: bool = Field(default=False, description="with engine llm: let the model phrase replies")
    oidc_providers: str = Field(default="", description="single sign-on providers, comma-separated; see above")
    oidc_redirect_base_url: str | None = Field(default=None, description="public base URL for OIDC redirect URIs")
    # Stripe: unset STRIPE_API_KEY means the offline fake Stripe (integrations/stripe/fake.py).
    stripe_api_key: SecretStr | None = Field(default=None, description="sk_...; unset means the offline fake")
    stripe_webhook_secret: SecretStr | None = Field(default=None, description="whsec_...; required with a key")
    stripe_api_base: str | None = Field(default=None, description="another Stripe API base URL (a fake)")
    public_base_url: str | None = Field(default=None, description="this site's URL, for Checkout's return links")
    # The outbox holds a row lock and a connection through each call: give up well before the SDK's 80 s.
    stripe_timeout_seconds: float = Field(default=20.0, gt=0, le=120, description="one Stripe API call at most")
    # Plaid bank sync. No keys and no PLAID_BASE_URL: the offline fake (`hibachi plaid fake`) on its port.
    plaid_client_id: str | None = Field(default=None, description="Plaid client id")
    plaid_secret: SecretStr | None = Field(default=None, description="Plaid secret of PLAID_ENV")
    plaid_env: Literal["sandbox", "production"] = "sandbox"
    plaid_base_url: str | None = Field(default=None, description="overrides PLAID_ENV's host (the fake Plaid)")
    plaid_webhook_url: str | None = Field(default=None, description="where Plaid sends webhooks (link-sandbox)")
    # Booking emails over SMTP. No SMTP_HOST: `make run` starts a local mail catcher (.data/mail/).
    smtp_host: str | None = Field(default=None, description="the SMTP server; unset means the local mail catcher")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str = Field(default="bookings@localhost", pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)
    # RingCentral SMS. No client id, secret or JWT: `make run` starts the offline fake; any one set
    # needs all of them, the business number and the webhook verification token.
    ringcentral_client_id: str | None = Field(default=None, description="the RingCentral app's client id")
    ringcentral_client_secret: SecretStr | None = Field(default=None, description="the app's client secret")
    ringcentral_jwt: SecretStr | None = Field(default=None, description="the JWT credential the app logs in with")
    ringcentral_server_url: str = Field(default="https://platform.ringcentral.com", description="API host (a fake)")
    ringcentral_from_number: str | None = Field(default=None, description="the business's texting number, E.164")
    ringcentral_verification_token: SecretStr | None = Field(
        default=None, description="our secret each webhook delivery repeats (16-64 letters, digits, - or _)"
    )
    ringcentral_sms_per_second: float = Field(default=1.0, gt=0, le=100, description="the account's SMS rate")
    ringcentral_sms_burst: int = Field(default=5, ge=1, le=1000, description="texts sent at once before the rate")
    ringcentral_webhook_url: str | None = Field(default=None, description="where RingCentral posts (subscribe)")
    # Google Calendar (chefs' calendars). No service account and no GOOGLE_API_BASE: `make run` starts
    # the offline fake (integrations/google/fake.py), where every chef has a calendar.
    google_service_account_file: Path | None = Field(default=None, description="a service account key (JSON)")
    google_service_account_json: SecretStr | None = Field(default=None, description="the same key, inline")
    google_calendar_ids: str = Field(default="", description='{"chef name": "calendar id", ...} (JSON)')
    google_api_base: str | None = Field(default=None, description="another Calendar API base URL (the fake)")
    google_channel_url: str | None = Field(default=None, description="push URL (PUBLIC_BASE_URL's by default)")

    @field_validator("database_url")
    @classmethod
    def postgres_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("llm_base_url")
    @classmethod
    def http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("plaid_base_url", "plaid_webhook_url")
    @classmethod
    def plaid_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not is_secure_url(value):
            raise ValueError("must be an https:// URL (or http:// on loopback)")
        return value.rstrip("/")

    @field_validator("ringcentral_server_url", "ringcentral_webhook_url")
    @classmethod
    def ringcentral_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not is_secure_url(value):
            raise ValueError("must be an https:// URL (or http:// on loopback)")
        return value.rstrip("/")

    @field_validator("ringcentral_from_number")
    @classmethod
    def e164(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.fullmatch(r"\+[1-9]\d{7,14}", value.strip()):
            raise ValueError("must be an E.164 number such as +19165550100")
        return value.strip()

    @field_validator("ringcentral_verification_token")
    @classmethod
    def verification_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", value.get_secret_value()):
            raise ValueError("must be 16-64 letters, digits, - or _")
        return value

    @field_validator("oidc_providers")
    @classmethod
    def oidc_providers_parse(cls, value: str) -> str:
        parse_oidc_providers(value)
        return value

    @field_validator("oidc_redirect_base_url")
    @classmethod
    def oidc_base_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not is_secure_url(value):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("google_calendar_ids")
    @classmethod
    def calendar_ids_parse(cls, value: str) -> str:
        parse_calendar_ids(value)
        return value

    @field_validator("google_channel_url")
    @classmethod
    def channel_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not is_secure_url(value):
            raise ValueError("must be an https:// URL (or http:// on loopback)")
        return value

    @field_validator("stripe_api_base", "public_base_url", "google_api_base")
    @classmethod
    def base_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("stripe_webhook_secret")
    @classmethod
    def secret_with_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            value = None
        key = info.data.get("stripe_api_key")
        if value is None and key is not None and key.get_secret_value().strip():
            raise ValueError("required when STRIPE_API_KEY is set")
        return value

    @field_validator("llm_api_key")
    @classmethod
    def key_for_llm(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            value = None
        if value is None and info.data.get("agent_engine") == "llm":
            raise ValueError("required when AGENT_ENGINE is llm")
        return value

    @field_validator("pii_keys")
    @classmethod
    def keyring_parses(cls, value: str) -> str:
        parse_keyring(value)
        return value

    @field_validator("blind_index_key")
    @classmethod
    def blind_key_parses(cls, value: str) -> str:
        decode_key(value, name="BLIND_INDEX_KEY")
        return value

    @field_validator("token_signing_key")
    @classmethod
    def token_key_parses(cls, value: str) -> str:
        decode_key(value, name="TOKEN_SIGNING_KEY")
        return value

    def cipher(self) -> FieldCipher:
        return FieldCipher(parse_keyring(self.pii_keys), self.pii_active_key_id)

    def blind_index(self) -> BlindIndex:
        return BlindIndex(decode_key(self.blind_index_key, name="BLIND_INDEX_KEY"))

    def token_key(self) -> bytes:
        return decode_key(self.token_signing_key, name="TOKEN_SIGNING_KEY")

    def plaid(self) -> tuple[str, str, str]:
        """(client id, secret, host) for the Plaid client: PLAID_BASE_URL when set, else PLAID_ENV's
        host when keys are set, else the offline fake's default address."""
        from integrations.plaid.client import HOSTS
        from integrations.plaid.fake import DEFAULT_PORT

        client_id = (self.plaid_client_id or "").strip()
        secret = self.plaid_secret.get_secret_value().strip() if self.plaid_secret else ""
        if bool(client_id) != bool(secret) and not self.plaid_base_url:
            raise SettingsError("setting PLAID_SECRET: PLAID_CLIENT_ID and PLAID_SECRET are set together")
        if self.plaid_base_url:
            return client_id or "fake-client", secret or "fake-secret", self.plaid_base_url
        if client_id and secret:
            return client_id, secret, HOSTS[self.plaid_env]
        return "fake-client", "fake-secret", f"http://127.0.0.1:{DEFAULT_PORT}"

    def smtp(self) -> SmtpConfig | None:
        """The SMTP server booking emails go through; None when SMTP_HOST is unset."""
        from integrations.email import SmtpConfig

        if not self.smtp_host:
            return None
        if bool(self.smtp_username) != bool(self.smtp_password):
            raise SettingsError("setting SMTP_PASSWORD: SMTP_USERNAME and SMTP_PASSWORD are set together")
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port,
            sender=self.email_from,
            security=self.smtp_security,
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
        )

    def ringcentral(self) -> RingCentralConfig | None:
        """RingCentral when its app credentials are set (all of them, with the number and the
        verification token); None when none are (`make run` then starts the fake)."""
        from integrations.ringcentral import RingCentralConfig

        secret = self.ringcentral_client_secret.get_secret_value().strip() if self.ringcentral_client_secret else ""
        jwt = self.ringcentral_jwt.get_secret_value().strip() if self.ringcentral_jwt else ""
        client_id = (self.ringcentral_client_id or "").strip()
        given = {"RINGCENTRAL_CLIENT_ID": client_id, "RINGCENTRAL_CLIENT_SECRET": secret, "RINGCENTRAL_JWT": jwt}
        if not any(given.values()):
            return None
        token = self.ringcentral_verification_token
        given |= {
            "RINGCENTRAL_FROM_NUMBER": self.ringcentral_from_number or "",
            "RINGCENTRAL_VERIFICATION_TOKEN": token.get_secret_value() if token else "",
        }
        for name, value in given.items():
            if not value:
                raise SettingsError(f"setting {name}: required with the other RingCentral settings")
        return RingCentralConfig(
            client_id=client_id,
            client_secret=secret,
            jwt=jwt,
            server_url=self.ringcentral_server_url,
            from_number=given["RINGCENTRAL_FROM_NUMBER"],
            verification_token=given["RINGCENTRAL_VERIFICATION_TOKEN"],
            rate_per_second=self.ringcentral_sms_per_second,
            burst=self.ringcentral_sms_burst,
        )

    def google_service_account(self) -> dict[str, object] | None:
        """The service account key (GOOGLE_SERVICE_ACCOUNT_JSON, else the file), or None."""
        if self.google_service_account_json is not None and self.google_service_account_json.get_secret_value().strip():
            raw, name = self.google_service_account_json.get_secret_value(), "GOOGLE_SERVICE_ACCOUNT_JSON"
        elif self.google_service_account_file is not None:
            name = "GOOGLE_SERVICE_ACCOUNT_FILE"
            try:
                raw = self.google_service_account_file.read_text()
            except OSError as error:
                raise SettingsError(f"setting {name}: cannot read it ({error.strerror})") from None
        else:
            return None
        try:
            info = json.loads(raw)
        except ValueError:
            raise SettingsError(f"setting {name}: not JSON") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise SettingsError(f"setting {name}: not a service account key")
        return info

    def oidc(self) -> tuple[OidcProviderSettings, ...]:
        """The configured single sign-on providers (none when OIDC_PROVIDERS is unset)."""
        return parse_oidc_providers(self.oidc_providers)


def parse_calendar_ids(value: str) -> dict[str, str]:
    """GOOGLE_CALENDAR_IDS: a JSON object from chef names (as in the business file) to calendar ids."""
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ValueError('must be a JSON object like {"Kenji Sato": "kenji@group.calendar.google.com"}') from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) and v.strip() for v in parsed.values()):
        raise ValueError("must map chef names to calendar ids")
    return {str(k): str(v).strip() for k, v in parsed.items()}


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        settings.cipher()
        settings.ringcentral()
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = first["msg"].removeprefix("Value error, ").removeprefix(f"{name}: ")
        raise SettingsError(f"setting {name}: {reason}") from None
    except PiiKeyError as error:
        raise SettingsError(f"setting {error}") from None
    return settings
