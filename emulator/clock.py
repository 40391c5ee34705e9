"""The emulator clock: real time plus an offset that tests can advance.

Everything time-based (token and channel expiry, sync token age, conference delays)
reads this clock, so a test can jump a week ahead without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime


class Clock:
    """Wall clock shifted by a mutable offset; listeners hear about jumps."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        """Seconds since the epoch on the emulator clock."""
        return time.time() + self._offset

    def now_dt(self) -> datetime:
        """The emulator time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        """Jump forward; listeners (the scheduler) then fire what became due."""
        with self._lock:
            self._offset += seconds
        for listener in list(self._listeners):
            listener()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)


def rfc3339(ts: float) -> str:
    """Google's timestamp format, millisecond precision, UTC ``Z``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def http_date(ts: float) -> str:
    """An RFC 7231 date, as used by X-Goog-Channel-Expiration."""
    return datetime.fromtimestamp(ts, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_rfc3339(value: str) -> datetime | None:
    """Parse an RFC 3339 timestamp; None when malformed or without an offset."""
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return dt
