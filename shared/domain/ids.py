"""Identifiers and digests: meeting ids from idempotency keys, and secret hashing.

Only digests of secrets are stored (channel tokens, idempotency keys), and the
comparison with a presented secret runs in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def token_hash(token: str) -> str:
    """What is stored of a channel token: its SHA-256."""
    return sha256_hex(token)


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time check of a presented token against its stored hash."""
    return hmac.compare_digest(token_hash(token), stored_hash)


def new_token() -> str:
    """A fresh unguessable token (channel tokens: 256 bits)."""
    return secrets.token_urlsafe(32)


def _base32hex(data: bytes) -> str:
    return base64.b32hexencode(data).decode().rstrip("=").lower()


def meeting_id(organizer: str, idempotency_key: str | None) -> str:
    """26 base32hex characters (valid as a Calendar event id and as a requestId).

    Derived from (organizer, key) so every retry of one request names the same
    event, and Calendar's 409 on a reused id does the de-duplication for us.
    """
    if idempotency_key is None:
        return _base32hex(secrets.token_bytes(16))[:26]
    digest = hashlib.sha256(_key_text(organizer, idempotency_key).encode()).digest()
    return _base32hex(digest)[:26]


def idempotency_key_hash(organizer: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return ""
    return sha256_hex(_key_text(organizer, idempotency_key))


def _key_text(organizer: str, idempotency_key: str) -> str:
    return f"{organizer.lower()}\n{idempotency_key}"
