"""Field encryption for personal data and the blind indexes that let us find it.

Ciphertext layout: version byte (1) | key-id length (1) | key id (ascii) | nonce (12) | AES-GCM
ciphertext+tag. The key id travels with each value so old keys keep decrypting after a new one
becomes active. The AAD binds a value to its table, column and row: a ciphertext copied into
another row or column fails to decrypt instead of leaking there.

Blind indexes are HMAC-SHA256 of the normalised value under a separate key; they make equality
lookups and unique constraints work without storing the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
NONCE_BYTES = 12


class PiiKeyError(ValueError):
    """A key setting is missing or malformed."""


def decode_key(value: str, *, name: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except ValueError:
        raise PiiKeyError(f"{name}: not valid base64") from None
    if len(key) != 32:
        raise PiiKeyError(f"{name}: must be 32 bytes (base64 of 32 random bytes), got {len(key)}")
    return key


def parse_keyring(spec: str) -> dict[str, bytes]:
    """`k1:BASE64,k2:BASE64` -> {key id: key}."""
    ring: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key_id, sep, material = part.partition(":")
        if not sep or not key_id or len(key_id) > 32 or not key_id.isascii():
            raise PiiKeyError("PII_KEYS: each entry must be KEY_ID:BASE64")
        ring[key_id] = decode_key(material, name=f"PII_KEYS[{key_id}]")
    if not ring:
        raise PiiKeyError("PII_KEYS: no keys given")
    return ring


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def aad(table: str, column: str, row_id: str) -> bytes:
    return f"{table}.{column}/{row_id}".encode()


class DataKeys(Protocol):
    """Where data keys come from (db/envelope.py: wrapped by the master key, in Postgres)."""

    def key(self, key_id: str) -> bytes:
        """The data key; KeyDestroyed when it was destroyed (its owner erased)."""
        ...


class KeyDestroyed(ValueError):
    """The value's data key was destroyed (crypto-shredded): it can never be read again."""


ERASED = "[erased]"  # what an erased customer's free text reads as
DATA_KEY_PREFIX = "dk:"  # key ids of data keys; anything else names a master key of PII_KEYS


def data_key_id(owner_id: str) -> str:
    """The id of an owner's data key (a customer's or a thread's): its row id, compact."""
    return DATA_KEY_PREFIX + owner_id.replace("-", "")


@dataclass(frozen=True)
class FieldCipher:
    """AES-GCM with a master key of the keyring, or (envelope encryption) with a data key of one
    customer or thread, itself stored wrapped by the master key; the blob names whichever it was."""

    keys: dict[str, bytes]
    active_key_id: str
    data_keys: DataKeys | None = None

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise PiiKeyError(f"PII_ACTIVE_KEY_ID: {self.active_key_id!r} is not one of PII_KEYS")

    def encrypt(self, plaintext: str, *, table: str, column: str, row_id: str, data_key: str | None = None) -> bytes:
        return self.seal(plaintext.encode(), aad(table, column, row_id), data_key=data_key)

    def decrypt(self, blob: bytes, *, table: str, column: str, row_id: str) -> str:
        return self.open(blob, aad(table, column, row_id)).decode()

    def readable(self, blob: bytes, *, table: str, column: str, row_id: str) -> str:
        """Decrypted, or ERASED when its data key was destroyed (what staff pages and exports show)."""
        try:
            return self.decrypt(blob, table=table, column=column, row_id=row_id)
        except KeyDestroyed:
            return ERASED

    def seal(self, plaintext: bytes, associated: bytes, *, data_key: str | None = None) -> bytes:
        """AES-GCM under the active master key, or under `data_key`, in this module's layout (key id,
        nonce, ciphertext+tag)."""
        key_id = data_key or self.active_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._key(key_id)).encrypt(nonce, plaintext, associated)
        encoded = key_id.encode()
        return bytes([FORMAT_VERSION, len(encoded)]) + encoded + nonce + sealed

    def open(self, blob: bytes, associated: bytes) -> bytes:
        if not blob or blob[0] != FORMAT_VERSION:
            raise ValueError("unknown ciphertext format")
        id_len = blob[1]
        key_id = blob[2 : 2 + id_len].decode()
        nonce = blob[2 + id_len : 2 + id_len + NONCE_BYTES]
        sealed = blob[2 + id_len + NONCE_BYTES :]
        return AESGCM(self._key(key_id)).decrypt(nonce, sealed, associated)

    def _key(self, key_id: str) -> bytes:
        if key_id.startswith(DATA_KEY_PREFIX):
            if self.data_keys is None:
                raise ValueError(f"no data key store to find {key_id!r}")
            return self.data_keys.key(key_id)
        key = self.keys.get(key_id)
        if key is None:
            raise ValueError(f"no key {key_id!r} to decrypt with")
        return key

    def master(self) -> FieldCipher:
        """This keyring without data keys: what wraps them."""
        return FieldCipher(self.keys, self.active_key_id)

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        return blob[2 : 2 + blob[1]].decode()


@dataclass(frozen=True)
class BlindIndex:
    key: bytes

    def of(self, kind: str, normalized_value: str) -> bytes:
        # The kind is mixed in so an email and a phone with equal text never share an index.
        return hmac.new(self.key, f"{kind}:{normalized_value}".encode(), hashlib.sha256).digest()
