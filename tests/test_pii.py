"""db.pii field encryption and blind indexes, and domain.contact normalisation."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from db.pii import BlindIndex, FieldCipher, PiiKeyError, decode_key, new_key, parse_keyring
from domain.contact import normalize_email, normalize_phone
from domain.errors import DomainError

KEY1 = decode_key(new_key(), name="test")
KEY2 = decode_key(new_key(), name="test")
WHERE = {"table": "customers", "column": "email", "row_id": "cust-1"}
PLAIN = "alice@example.com"


def cipher(active: str = "k1", **keys: bytes) -> FieldCipher:
    return FieldCipher(keys or {"k1": KEY1}, active)


# --- FieldCipher ---------------------------------------------------------------------------------


@pytest.mark.parametrize("plaintext", [PLAIN, "", "Zoë Ñúñez 李", "x" * 5000])
def test_round_trip(plaintext: str) -> None:
    c = cipher()
    blob = c.encrypt(plaintext, table="customers", column="email", row_id="cust-1")
    assert isinstance(blob, bytes)
    assert c.decrypt(blob, table="customers", column="email", row_id="cust-1") == plaintext


def test_ciphertext_does_not_contain_the_plaintext() -> None:
    blob = cipher().encrypt(PLAIN, **WHERE)
    assert PLAIN.encode() not in blob
    assert b"alice" not in blob
    assert b"example.com" not in blob


def test_two_encryptions_differ() -> None:
    c = cipher()
    first = c.encrypt(PLAIN, **WHERE)
    second = c.encrypt(PLAIN, **WHERE)
    assert first != second
    assert c.decrypt(first, **WHERE) == c.decrypt(second, **WHERE) == PLAIN


def test_layout_version_key_id_nonce() -> None:
    blob = cipher().encrypt(PLAIN, **WHERE)
    assert blob[0] == 1
    assert blob[1] == 2
    assert blob[2:4] == b"k1"
    # version + length + id + 12-byte nonce + ciphertext + 16-byte tag
    assert len(blob) == 1 + 1 + 2 + 12 + len(PLAIN.encode()) + 16


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"table": "customers", "column": "email", "row_id": "cust-2"},
        {"table": "customers", "column": "phone", "row_id": "cust-1"},
        {"table": "bookings", "column": "email", "row_id": "cust-1"},
    ],
)
def test_aad_binds_the_value_to_its_table_column_and_row(elsewhere: dict[str, str]) -> None:
    c = cipher()
    blob = c.encrypt(PLAIN, **WHERE)
    with pytest.raises(InvalidTag):
        c.decrypt(blob, **elsewhere)


def test_tampered_ciphertext_fails() -> None:
    c = cipher()
    blob = bytearray(c.encrypt(PLAIN, **WHERE))
    blob[-1] ^= 0x01
    with pytest.raises(InvalidTag):
        c.decrypt(bytes(blob), **WHERE)


def test_key_id_is_readable_and_old_keys_keep_decrypting_after_rotation() -> None:
    old = cipher("k1", k1=KEY1)
    old_blob = old.encrypt(PLAIN, **WHERE)
    assert FieldCipher.key_id_of(old_blob) == "k1"

    rotated = cipher("k2", k1=KEY1, k2=KEY2)
    new_blob = rotated.encrypt(PLAIN, **WHERE)
    assert FieldCipher.key_id_of(new_blob) == "k2"
    assert rotated.decrypt(old_blob, **WHERE) == PLAIN
    assert rotated.decrypt(new_blob, **WHERE) == PLAIN
    # the old cipher knows nothing of k2
    with pytest.raises(ValueError, match="no key 'k2'"):
        old.decrypt(new_blob, **WHERE)


def test_unknown_key_id_fails() -> None:
    blob = cipher("k1", k1=KEY1).encrypt(PLAIN, **WHERE)
    only_k2 = cipher("k2", k2=KEY2)
    with pytest.raises(ValueError, match="no key 'k1'"):
        only_k2.decrypt(blob, **WHERE)


def test_same_key_id_with_another_key_fails() -> None:
    blob = cipher("k1", k1=KEY1).encrypt(PLAIN, **WHERE)
    with pytest.raises(InvalidTag):
        cipher("k1", k1=KEY2).decrypt(blob, **WHERE)


def test_active_key_must_be_in_the_keyring() -> None:
    with pytest.raises(PiiKeyError, match="PII_ACTIVE_KEY_ID"):
        FieldCipher({"k1": KEY1}, "k2")


@pytest.mark.parametrize("blob", [b"", b"\x02\x02k1" + bytes(40)])
def test_unknown_ciphertext_format_fails(blob: bytes) -> None:
    with pytest.raises(ValueError, match="unknown ciphertext format"):
        cipher().decrypt(blob, **WHERE)


# --- BlindIndex ----------------------------------------------------------------------------------


def test_blind_index_is_deterministic() -> None:
    index = BlindIndex(KEY1)
    assert index.of("email", PLAIN) == index.of("email", PLAIN)
    assert BlindIndex(KEY1).of("email", PLAIN) == index.of("email", PLAIN)
    assert len(index.of("email", PLAIN)) == 32


def test_blind_index_differs_per_value() -> None:
    index = BlindIndex(KEY1)
    assert index.of("email", "alice@example.com") != index.of("email", "bob@example.com")


def test_blind_index_differs_per_kind() -> None:
    index = BlindIndex(KEY1)
    assert index.of("email", "+19165550123") != index.of("phone", "+19165550123")


def test_blind_index_differs_per_key() -> None:
    assert BlindIndex(KEY1).of("email", PLAIN) != BlindIndex(KEY2).of("email", PLAIN)


def test_blind_index_does_not_contain_the_value() -> None:
    assert PLAIN.encode() not in BlindIndex(KEY1).of("email", PLAIN)


# --- keys ----------------------------------------------------------------------------------------


def test_new_key_is_base64_of_32_random_bytes() -> None:
    first, second = new_key(), new_key()
    assert len(base64.b64decode(first, validate=True)) == 32
    assert first != second


def test_parse_keyring() -> None:
    k1, k2 = new_key(), new_key()
    ring = parse_keyring(f" k1:{k1} , k2:{k2} ,")
    assert ring == {"k1": base64.b64decode(k1), "k2": base64.b64decode(k2)}


@pytest.mark.parametrize(
    ("spec", "mentions"),
    [
        ("", "no keys given"),
        (" , ", "no keys given"),
        ("k1", "KEY_ID:BASE64"),
        (f":{new_key()}", "KEY_ID:BASE64"),
        (f"{'k' * 33}:{new_key()}", "KEY_ID:BASE64"),
        (f"ké:{new_key()}", "KEY_ID:BASE64"),
        ("k1:not*base64", "PII_KEYS[k1]: not valid base64"),
        (f"k1:{base64.b64encode(bytes(16)).decode()}", "PII_KEYS[k1]: must be 32 bytes"),
        (f"k1:{new_key()},k2:{base64.b64encode(bytes(33)).decode()}", "PII_KEYS[k2]"),
    ],
)
def test_parse_keyring_errors(spec: str, mentions: str) -> None:
    with pytest.raises(PiiKeyError) as info:
        parse_keyring(spec)
    assert mentions in str(info.value)


def test_decode_key_names_the_setting() -> None:
    with pytest.raises(PiiKeyError, match=r"^BLIND_INDEX_KEY: must be 32 bytes .* got 31$"):
        decode_key(base64.b64encode(bytes(31)).decode(), name="BLIND_INDEX_KEY")


# --- contact normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice.Smith@Example.COM ", "alice.smith@example.com"),
        ("a+tag@sub.example.co", "a+tag@sub.example.co"),
    ],
)
def test_normalize_email(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize(
    "raw", ["", "alice", "alice@", "@example.com", "alice@example", "a b@example.com", "a@example.c"]
)
def test_normalize_email_refuses(raw: str) -> None:
    with pytest.raises(DomainError) as info:
        normalize_email(raw)
    assert info.value.field == "email"


def test_normalize_email_refuses_over_254_chars() -> None:
    too_long = "a" * 250 + "@x.com"
    with pytest.raises(DomainError):
        normalize_email(too_long)


def test_normalize_email_field_name() -> None:
    with pytest.raises(DomainError) as info:
        normalize_email("nope", field="customer.email")
    assert info.value.field == "customer.email"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("(916) 555-0123", "+19165550123"),
        ("916.555.0123", "+19165550123"),
        ("9165550123", "+19165550123"),
        ("1-916-555-0123", "+19165550123"),
        ("+1 916 555 0123", "+19165550123"),
        ("+44 20 7946 0958", "+442079460958"),
        (" +49 30 1234567 ", "+49301234567"),
    ],
)
def test_normalize_phone(raw: str, normalized: str) -> None:
    assert normalize_phone(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "123",
        "",
        "555-0123",  # 7 digits
        "2-916-555-0123",  # 11 digits not starting with 1
        "+1 916 555 012",  # +1 with 9 digits
        "+1 916 555 01234",  # +1 with 11 digits
        "+0 123 456 789",  # country codes do not start with 0
        "+123456",  # too short for E.164
        "+1234567890123456",  # 16 digits: too long
        "+1 ９１６ ５５５ ０１２３",  # fullwidth digits are not a number a carrier dials
        "٩١٦٥٥٥٠١٢٣",  # nor are Arabic-Indic ones
    ],
)
def test_normalize_phone_refuses(raw: str) -> None:
    with pytest.raises(DomainError) as info:
        normalize_phone(raw)
    assert info.value.field == "phone"
