"""Publishes Workspace Events CloudEvents to Pub/Sub, the way Google's publisher does.

Each event is one Pub/Sub message in CloudEvents binary mode (``ce-*`` attributes,
``content-type``, the JSON data as the payload), published over REST to the Pub/Sub
emulator (``POST http://HOST/v1/projects/P/topics/T:publish``): no client library.
One worker thread publishes in event order; knobs make delivery misbehave on purpose
(delay, drop, duplicate, reorder), as ``push.py`` does for Calendar channels. Every
attempt is recorded (``GET /_emulator/event_deliveries``). A topic that does not exist
(404) or refuses the publisher (403) suspends the subscription, as Google does.
"""

from __future__ import annotations

import base64
import heapq
import http.client
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.clock import Clock

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_TRIES = 3
BACKOFF_SECONDS = 0.05
ENDPOINT_FAILURES = {404: "ENDPOINT_NOT_FOUND", 403: "ENDPOINT_PERMISSION_DENIED"}


@dataclass
class OutgoingEvent:
    """One CloudEvent for one subscription's topic."""

    subscription: str
    topic: str
    attributes: dict[str, str]
    data: dict[str, Any]
    ordering_key: str


class EventDelivery:
    """A queue ordered by due time, drained by one publishing thread."""

    def __init__(
        self,
        clock: Clock,
        host: Callable[[], str | None],
        on_endpoint_failure: Callable[[str, str], None],
    ) -> None:
        self._clock = clock
        self._host = host
        self._on_endpoint_failure = on_endpoint_failure
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, int, OutgoingEvent]] = []
        self._counter = itertools.count()
        self._generation = 0
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.records: list[dict[str, Any]] = []
        self.reset()

    # -- knobs -----------------------------------------------------------------------------

    def reset(self) -> None:
        with self._cond:
            self._generation += 1
            self._heap.clear()
            self.records = []
            self.delay_ms = 0
            self.drop_next = 0
            self.drop_rate = 0.0
            self.duplicate = False
            self.reorder = False
            self._rng = random.Random()
            self._cond.notify_all()

    def configure(self, options: dict[str, Any]) -> dict[str, Any]:
        """Apply the ``/_emulator/events_delivery`` knobs; answers the resulting settings."""
        with self._cond:
            if options.get("seed") is not None:
                self._rng = random.Random(int(options["seed"]))
            if "delay_ms" in options:
                self.delay_ms = max(0, int(options["delay_ms"]))
            if "drop_next" in options:
                self.drop_next = max(0, int(options["drop_next"]))
            if "drop_rate" in options:
                self.drop_rate = min(1.0, max(0.0, float(options["drop_rate"])))
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

    def records_view(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(r) for r in self.records]

    def clear_records(self) -> None:
        with self._cond:
            self.records = []

    # -- sending ---------------------------------------------------------------------------

    def send(self, event: OutgoingEvent) -> None:
        """Queue one event (never blocks on the network)."""
        with self._cond:
            if self.drop_next > 0:
                self.drop_next -= 1
                self._record(event, "dropped", 0)
                return
            if self.drop_rate and self._rng.random() < self.drop_rate:
                self._record(event, "dropped", 0)
                return
            now = time.monotonic()
            for _ in range(2 if self.duplicate else 1):
                delay = self.delay_ms / 1000
                if self.reorder:
                    delay += self._rng.uniform(0, max(self.delay_ms, 200) / 1000)
                item = (now + delay, next(self._counter), self._generation, event)
                heapq.heappush(self._heap, item)
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._run, name="emulator-events", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def shutdown(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _record(self, event: OutgoingEvent, status: int | str, attempt: int, **extra: Any) -> None:
        self.records.append(
            {
                "subscription": event.subscription,
                "topic": event.topic,
                "ce_id": event.attributes.get("ce-id"),
                "ce_type": event.attributes.get("ce-type"),
                "ce_subject": event.attributes.get("ce-subject"),
                "status": status,
                "attempt": attempt,
                "time": self._clock.now(),
                "attributes": dict(event.attributes),
                "data": event.data,
                **extra,
            }
        )

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                if not self._heap:
                    self._cond.wait(timeout=1.0)
                    continue
                due, _, generation, event = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(timeout=min(wait, 1.0))
                    continue
                heapq.heappop(self._heap)
                if generation != self._generation:
                    continue
            try:
                self._publish(event, generation)
            except Exception:  # a bug here must not stop delivery
                log.exception("publishing %s failed", event.attributes.get("ce-id"))

    def _publish(self, event: OutgoingEvent, generation: int) -> None:
        for attempt in range(1, MAX_TRIES + 1):
            host = self._host()
            if not host:
                status: int | str = "error: no Pub/Sub emulator (set pubsub_emulator_host)"
                message_id = None
            else:
                status, message_id = _post(host, event)
            with self._cond:
                if generation != self._generation:
                    return
                self._record(event, status, attempt, message_id=message_id)
            if status == 200 or not host:
                return
            if isinstance(status, int) and status in ENDPOINT_FAILURES:
                self._on_endpoint_failure(event.subscription, ENDPOINT_FAILURES[status])
                return
            if isinstance(status, int) and status not in RETRY_STATUSES:
                return
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))


def _post(host: str, event: OutgoingEvent) -> tuple[int | str, str | None]:
    """One publish call; the status (or the error text) and the message id."""
    message: dict[str, Any] = {
        "data": base64.b64encode(json.dumps(event.data).encode()).decode(),
        "attributes": event.attributes,
    }
    if event.ordering_key:
        message["orderingKey"] = event.ordering_key
    body = json.dumps({"messages": [message]}).encode()
    hostname, _, port = host.rpartition(":")
    try:
        conn = http.client.HTTPConnection(hostname or host, int(port) if port else 80, timeout=10)
        try:
            conn.request(
                "POST",
                f"/v1/{event.topic}:publish",
                body=body,
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            text = resp.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return f"error: {exc}", None
    message_id = None
    if resp.status == 200:
        try:
            ids = json.loads(text).get("messageIds") or [None]
            message_id = ids[0]
        except (ValueError, AttributeError):
            message_id = None
    return resp.status, message_id
