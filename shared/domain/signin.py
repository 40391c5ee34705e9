"""Google sign-in, the pure parts: scopes, the signed `state`, PKCE, `return_to`, user events.

The connect flow keeps nothing server-side until the callback. The `state` sent to
Google is signed (HMAC-SHA256 with the deployment's STATE_SIGNING_KEY), expires, and
names the digest of a random secret held in the browser's cookie, so a callback
made in another browser (login CSRF: an attacker's code and state sent to a victim)
is refused. The PKCE verifier is derived from the key, the state's nonce and that
cookie secret, so it is never stored and only the browser that started can finish.
Single use is the one stored fact: the nonce is recorded when the callback uses it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.domain.models import User

PRODUCT_SCOPES: tuple[str, ...] = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/meetings.space.created",
    "https://www.googleapis.com/auth/meetings.space.settings",
    "https://www.googleapis.com/auth/meetings.space.readonly",
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
)
"""Every scope the product acts with (delegation grants and sign-in consent alike):
`meetings.space.readonly` reads the conference records of every space the user owns
(Calendar's too) and subscribes to their events; `admin.directory.user.readonly` names
signed-in participants (Meet shows `users/{id}`)."""
SIGN_IN_SCOPES: tuple[str, ...] = ("openid", "email")
"""Added to the consent request so the ID token names who signed in."""

_STATE_CONTEXT = b"meetsync connect state\n"
_PKCE_CONTEXT = b"meetsync connect pkce\n"
_MAX_STATE = 2048


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636)."""
    return _b64(hashlib.sha256(verifier.encode()).digest())


@dataclass(frozen=True, slots=True)
class Cookie:
    """A cookie to set on the browser (a `max_age` of 0 deletes it)."""

    name: str
    value: str
    max_age: int
    secure: bool
    path: str = "/"


@dataclass(frozen=True, slots=True)
class ConnectState:
    nonce: str
    """Random, hex: the single-use record's id."""
    browser: str
    """Digest of the browser's cookie secret."""
    login_hint: str
    return_to: str
    expires: int
    """Unix seconds."""


class StateError(ValueError):
    """The callback's state is unusable; `reason` says how (shown to the user as a code)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class StateCodec:
    """Signs and checks `state` values; derives the PKCE verifier of a state."""

    def __init__(self, key: str, ttl_seconds: int) -> None:
        if not key:
            raise ValueError("a state signing key is required")
        self._key = key.encode()
        self.ttl_seconds = ttl_seconds

    def _mac(self, context: bytes, text: str) -> bytes:
        return hmac.new(self._key, context + text.encode(), hashlib.sha256).digest()

    @staticmethod
    def _browser_digest(secret: str) -> str:
        return _b64(hashlib.sha256(secret.encode()).digest()[:16])

    def issue(
        self, *, login_hint: str, return_to: str, now: dt.datetime
    ) -> tuple[str, str, ConnectState]:
        """A fresh (state text, browser secret, state): the text goes to Google, the secret
        to the browser's cookie."""
        secret = secrets.token_urlsafe(32)
        state = ConnectState(
            nonce=secrets.token_hex(16),
            browser=self._browser_digest(secret),
            login_hint=login_hint,
            return_to=return_to,
            expires=int(now.timestamp()) + self.ttl_seconds,
        )
        payload = {
            "n": state.nonce,
            "b": state.browser,
            "h": state.login_hint,
            "r": state.return_to,
            "e": state.expires,
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{_b64(self._mac(_STATE_CONTEXT, body))}", secret, state

    def verify(
        self, text: str | None, browser_secret: str | None, now: dt.datetime
    ) -> ConnectState:
        """The state, if signed by us, unexpired and started in this browser; else StateError."""
        if not text:
            raise StateError("state_missing", "the sign-in answer carries no state")
        body, _, mac = text.partition(".")
        try:
            if len(text) > _MAX_STATE or not hmac.compare_digest(
                _unb64(mac), self._mac(_STATE_CONTEXT, body)
            ):
                raise ValueError("bad signature")
            data: dict[str, Any] = json.loads(_unb64(body))
            state = ConnectState(
                nonce=str(data["n"]),
                browser=str(data["b"]),
                login_hint=str(data["h"]),
                return_to=str(data["r"]),
                expires=int(data["e"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise StateError(
                "state_invalid", "the sign-in state is not one this service issued"
            ) from None
        if state.expires <= now.timestamp():
            raise StateError("state_expired", "the sign-in took too long; please start again")
        if not browser_secret or not hmac.compare_digest(
            self._browser_digest(browser_secret), state.browser
        ):
            raise StateError(
                "state_foreign",
                "this sign-in was started in another browser (or its cookie is gone);"
                " please start again here",
            )
        return state

    def verifier(self, state: ConnectState, browser_secret: str) -> str:
        """The PKCE code verifier of this state (43 URL-safe characters)."""
        return _b64(self._mac(_PKCE_CONTEXT, f"{state.nonce}\n{browser_secret}"))


def return_to_allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """True when `url` is under an allow-listed URL: same scheme, host and port, no user
    info, and its path at or below the entry's path. No prefix matching on text, so
    `https://app.example.com.evil.test` or `https://app.example.com@evil.test` never pass."""
    if not url or any(c in url for c in "\\\t\r\n ") or not url.isprintable():
        return False
    try:
        target = urlsplit(url)
        _ = target.port  # a malformed port raises
    except ValueError:
        return False
    if target.scheme not in ("https", "http") or not target.hostname or "@" in target.netloc:
        return False
    for entry in allowlist:
        allowed = urlsplit(entry)
        if (
            allowed.scheme == target.scheme
            and allowed.hostname == target.hostname
            and allowed.port == target.port
        ):
            base = allowed.path.rstrip("/")
            if not base or target.path == base or target.path.startswith(base + "/"):
                return True
    return False


def user_event(user: User, kind: str, now: dt.datetime, source: str) -> dict[str, Any]:
    """The outbound CloudEvent of a user's status change. Its id is stable for one change
    (user, kind, record version), so a re-delivery carries the same id."""
    digest = hashlib.sha256(f"{user.email}:{kind}:{user.version}".encode()).hexdigest()
    return {
        "specversion": "1.0",
        "id": digest[:32],
        "source": source,
        "type": kind,
        "subject": f"users/{user.email}",
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": user.public(),
    }
