"""Settings from the environment (pydantic-settings). A missing or malformed setting stops
start-up with one line naming it (`SettingsError`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from db.pii import BlindIndex, FieldCipher, PiiKeyError, decode_key, new_key, parse_keyring
from hibachi.business_file import DEFAULT_BUSINESS_FILE

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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    database_url: str | None = Field(
        default=None, description="postgresql://...; unset means the embedded Postgres under DATA_DIR"
    )
    business_file: Path = DEFAULT_BUSINESS_FILE
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
    run_outbox_in_process: bool = True
    agent_engine: Literal["rules", "llm"] = Field(default="rules", description="understanding engine")
    llm_model: str = Field(default="gpt-4o-mini", min_length=1)
    llm_base_url: str | None = Field(default=None, description="any OpenAI-compatible server; unset means OpenAI")
    llm_api_key: SecretStr | None = Field(default=None, validate_default=True)
    llm_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    llm_max_retries: int = Field(default=1, ge=0, le=10)
    llm_phrase_replies: bool = Field(default=False, description="with engine llm: let the model phrase replies")

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


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        settings.cipher()
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = first["msg"].removeprefix("Value error, ").removeprefix(f"{name}: ")
        raise SettingsError(f"setting {name}: {reason}") from None
    except PiiKeyError as error:
        raise SettingsError(f"setting {error}") from None
    return settings
