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


@dataclass(frozen=True)
class FieldCipher:
    keys: dict[str, bytes]
    active_key_id: str

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise PiiKeyError(f"PII_ACTIVE_KEY_ID: {self.active_key_id!r} is not one of PII_KEYS")

    def encrypt(self, plaintext: str, *, table: str, column: str, row_id: str) -> bytes:
        return self.seal(plaintext.encode(), aad(table, column, row_id))

    def decrypt(self, blob: bytes, *, table: str, column: str, row_id: str) -> str:
        return self.open(blob, aad(table, column, row_id)).decode()

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        """AES-GCM under the active key, in this module's layout (key id, nonce, ciphertext+tag)."""
        key_id = self.active_key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active_key_id]).encrypt(nonce, plaintext, associated)
        return bytes([FORMAT_VERSION, len(key_id)]) + key_id + nonce + sealed

    def open(self, blob: bytes, associated: bytes) -> bytes:
        if not blob or blob[0] != FORMAT_VERSION:
            raise ValueError("unknown ciphertext format")
        id_len = blob[1]
        key_id = blob[2 : 2 + id_len].decode()
        nonce = blob[2 + id_len : 2 + id_len + NONCE_BYTES]
        sealed = blob[2 + id_len + NONCE_BYTES :]
        key = self.keys.get(key_id)
        if key is None:
            raise ValueError(f"no key {key_id!r} to decrypt with")
        return AESGCM(key).decrypt(nonce, sealed, associated)

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        return blob[2 : 2 + blob[1]].decode()


@dataclass(frozen=True)
class BlindIndex:
    key: bytes

    def of(self, kind: str, normalized_value: str) -> bytes:
        # The kind is mixed in so an email and a phone with equal text never share an index.
        return hmac.new(self.key, f"{kind}:{normalized_value}".encode(), hashlib.sha256).digest()
