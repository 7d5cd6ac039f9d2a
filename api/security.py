"""API keys: random, shown once, stored only as their sha256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "ck_"
STORED_PREFIX_LENGTH = 10


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The first characters, kept so an operator can tell keys apart without the secret."""
    return key[:STORED_PREFIX_LENGTH]


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
