"""hibachi.settings.load_settings: valid keys load; a missing or malformed setting stops start-up
with one line naming it."""

from __future__ import annotations

import base64
import os

import pytest

from hibachi.settings import SettingsError, load_settings


@pytest.fixture
def env(settings_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return settings_env


def refusal(prefix: str) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(prefix), message
    return message


def test_valid_keys_load(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database_url is None
    assert settings.pii_active_key_id == "k2"
    cipher = settings.cipher()
    assert cipher.active_key_id == "k2"
    assert set(cipher.keys) == {"k1", "k2"}
    blob = cipher.encrypt("x", table="t", column="c", row_id="1")
    assert cipher.key_id_of(blob) == "k2"
    assert len(settings.blind_index().key) == 32
    assert settings.port == 8000


def test_postgres_url_is_kept(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "postgresql://app@db:5432/hibachi")
    assert load_settings().database_url == "postgresql://app@db:5432/hibachi"


def test_empty_database_url_means_embedded(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "")
    assert load_settings().database_url is None


def test_missing_pii_keys(env: pytest.MonkeyPatch) -> None:
    env.delenv("PII_KEYS")
    refusal("setting PII_KEYS")


def test_missing_active_key_id(env: pytest.MonkeyPatch) -> None:
    env.delenv("PII_ACTIVE_KEY_ID")
    refusal("setting PII_ACTIVE_KEY_ID")


def test_missing_blind_index_key(env: pytest.MonkeyPatch) -> None:
    env.delenv("BLIND_INDEX_KEY")
    refusal("setting BLIND_INDEX_KEY")


def test_blind_index_key_not_base64(env: pytest.MonkeyPatch) -> None:
    env.setenv("BLIND_INDEX_KEY", "not base64 at all!")
    message = refusal("setting BLIND_INDEX_KEY")
    assert "base64" in message


def test_blind_index_key_wrong_length(env: pytest.MonkeyPatch) -> None:
    env.setenv("BLIND_INDEX_KEY", base64.b64encode(os.urandom(16)).decode())
    message = refusal("setting BLIND_INDEX_KEY")
    assert "32 bytes" in message
    assert "16" in message


def test_malformed_pii_keys(env: pytest.MonkeyPatch) -> None:
    env.setenv("PII_KEYS", "k1-without-a-colon")
    refusal("setting PII_KEYS")


def test_pii_key_wrong_length(env: pytest.MonkeyPatch) -> None:
    env.setenv("PII_KEYS", f"k1:{base64.b64encode(b'short').decode()}")
    env.setenv("PII_ACTIVE_KEY_ID", "k1")
    message = refusal("setting PII_KEYS")
    assert "k1" in message


def test_active_key_id_not_in_the_keyring(env: pytest.MonkeyPatch) -> None:
    env.setenv("PII_ACTIVE_KEY_ID", "k9")
    message = refusal("setting PII_ACTIVE_KEY_ID")
    assert "'k9'" in message


def test_non_postgres_database_url(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "mysql://x")
    message = refusal("setting DATABASE_URL")
    assert "postgresql://" in message


def test_port_out_of_range(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORT", "70000")
    refusal("setting PORT")
