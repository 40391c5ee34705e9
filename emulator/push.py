"""Delivers push notifications the way Calendar does, off the request path.

A small thread pool POSTs an empty body with the X-Goog-* headers to each channel's
address, retries 500/502/503/504 a few times with backoff, and records every attempt.
Knobs make it misbehave on purpose (drop, duplicate, delay, reorder) because real
delivery is lossy and receivers must cope.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from emulator.clock import Clock, http_date

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_TRIES = 3
BACKOFF_SECONDS = 0.05


@dataclass
class Notification:
    channel_id: str
    number: int
    state: str
    address: str
    headers: dict[str, str]


class PushDispatcher:
    """Queues notifications and runs their delivery on worker threads."""

    def __init__(self, clock: Clock, is_live: Callable[[str], bool]) -> None:
        self._clock = clock
        self._is_live = is_live
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._generation = 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self.deliveries: list[dict[str, Any]] = []
            self.delay_ms = 0
            self.drop_next = 0
            self.drop_rate = 0.0
            self.duplicate = False
            self.reorder = False
            self._rng = random.Random()

    def configure(self, options: dict[str, Any]) -> dict[str, Any]:
        """Apply the ``/_emulator/push`` knobs; answers the resulting settings."""
        with self._lock:
            if "seed" in options and options["seed"] is not None:
                self._rng = random.Random(int(options["seed"]))
            if "delay_ms" in options:
                self.delay_ms = int(options["delay_ms"])
            if "drop_next" in options:
                self.drop_next = int(options["drop_next"])
            if "drop_rate" in options:
                self.drop_rate = float(options["drop_rate"])
            if "duplicate" in options:
                self.duplicate = bool(options["duplicate"])
            if "reorder" in options:
                self.reorder = bool(options["reorder"])
            return self.settings()

    def settings(self) -> dict[str, Any]:
        return {
            "delay_ms": self.delay_ms,
            "drop_next": self.drop_next,
            "drop_rate": self.drop_rate,
            "duplicate": self.duplicate,
            "reorder": self.reorder,
        }

    def number_step(self) -> int:
        """Message numbers grow but skip values, as Google's do."""
        with self._lock:
            return self._rng.randint(1, 3)

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor:
            executor.shutdown(wait=False, cancel_futures=True)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="emulator-push")
        return self._executor

    def send(
        self,
        *,
        channel_id: str,
        number: int,
        state: str,
        address: str,
        resource_id: str,
        resource_uri: str,
        token: str | None,
        expiration_ms: int,
    ) -> None:
        """Queue one notification (never blocks on the network)."""
        headers = {
            "X-Goog-Channel-ID": channel_id,
            "X-Goog-Message-Number": str(number),
            "X-Goog-Resource-ID": resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": resource_uri,
            "X-Goog-Channel-Expiration": http_date(expiration_ms / 1000),
            "User-Agent": "APIs-Google",
            "Content-Length": "0",
        }
        if token is not None:
            headers["X-Goog-Channel-Token"] = token
        note = Notification(channel_id, number, state, address, headers)
        with self._lock:
            generation = self._generation
            if self.drop_next > 0:
                self.drop_next -= 1
                self._record(note, "dropped", 0)
                return
            if self.drop_rate and self._rng.random() < self.drop_rate:
                self._record(note, "dropped", 0)
                return
            copies = 2 if self.duplicate else 1
            delays = []
            for _ in range(copies):
                delay = self.delay_ms / 1000
                if self.reorder:
                    delay += self._rng.uniform(0, max(self.delay_ms, 200) / 1000)
                delays.append(delay)
            pool = self._pool()
        for delay in delays:
            if delay > 0:
                timer = threading.Timer(delay, self._submit, (pool, note, generation))
                timer.daemon = True
                timer.start()
            else:
                self._submit(pool, note, generation)

    def _submit(self, pool: ThreadPoolExecutor, note: Notification, generation: int) -> None:
        with contextlib.suppress(RuntimeError):  # pool shut down while a copy waited
            pool.submit(self._deliver, note, generation)

    def _record(self, note: Notification, status: int | str, attempt: int) -> None:
        self.deliveries.append(
            {
                "channel_id": note.channel_id,
                "message_number": int(note.number),
                "state": note.state,
                "address": note.address,
                "status": status,
                "attempt": attempt,
                "time": self._clock.now(),
            }
        )

    def _deliver(self, note: Notification, generation: int) -> None:
        for attempt in range(1, MAX_TRIES + 1):
            if generation != self._generation or not self._is_live(note.channel_id):
                return
            status = _post(note.address, note.headers)
            with self._lock:
                if generation != self._generation:
                    return
                self._record(note, status, attempt)
            if status not in RETRY_STATUSES and not isinstance(status, str):
                return
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))


def _post(address: str, headers: dict[str, str]) -> int | str:
    """One POST with an empty body; the status, or the error text when it failed."""
    parts = urlsplit(address)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        try:
            conn.request("POST", path, body=b"", headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return f"error: {exc}"
