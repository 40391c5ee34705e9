"""Pub/Sub as the product is deployed on it: topics, and push subscriptions with ordering,
retry backoff and a dead letter, delivering to a pool of function slots.

- A push subscription delivers a message to a free slot of its function (max instances x
  concurrency slots); the slot is held for the invocation's simulated duration.
- With message ordering, one message per ordering key is in flight; a nacked message blocks
  its key until it is redelivered (Pub/Sub's ordered delivery).
- A nack (the handler raised) is redelivered after an exponential backoff from the
  subscription's minimum to its maximum (`retry_policy`); after `max_delivery_attempts`
  deliveries it goes to the dead letter and the key moves on.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.domain.ports import Message as PortMessage
from tests.scale import params
from tests.scale.core import Series, Sim

Json = dict[str, Any]


@dataclass(slots=True)
class Message:
    id: str
    data: Json
    key: str
    published: float
    attributes: dict[str, str] = field(default_factory=dict)
    attempts: int = 0


_LOAD_SECONDS = 60.0

Handler = Callable[[Message, int], tuple[bool, float]]
"""Deliver one message to slot `n`: (acknowledged?, the invocation's end time)."""


@dataclass(slots=True)
class SubscriptionStats:
    published: int = 0
    delivered: int = 0
    acked: int = 0
    nacked: int = 0
    dead_lettered: int = 0
    over_ack_deadline: int = 0
    peak_backlog: int = 0
    peak_in_flight: int = 0
    backlog: Series = field(default_factory=lambda: Series(60.0))
    """Messages waiting (published, not in flight), sampled each minute (the last sample)."""


class PushSubscription:
    def __init__(
        self,
        sim: Sim,
        name: str,
        handler: Handler,
        *,
        slots: int,
        ordered: bool,
        min_backoff: float,
        max_backoff: float,
        max_attempts: int,
        ack_deadline: float,
        latency: float,
    ) -> None:
        self.sim = sim
        self.name = name
        self.handler = handler
        self.ordered = ordered
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.ack_deadline = ack_deadline
        self.latency = latency
        self.stats = SubscriptionStats()
        self._free: list[int] = list(range(max(1, slots)))
        self.slots = len(self._free)
        self._queues: dict[str, deque[Message]] = {}
        self._ready: deque[str] = deque()
        self.waiting = 0
        self.in_flight = 0
        self.load = 0.0
        """In-flight deliveries averaged over about a minute (exponentially weighted)."""
        self._load_at = 0.0
        self._ids = itertools.count(1)
        self._last_sample = -1

    def publish(self, message: Message) -> None:
        """Take a message published at the current time; it arrives after the push latency."""
        self.stats.published += 1
        self.sim.at(self.sim.t + self.latency, self._arrive, message)

    def backoff(self, attempts: int) -> float:
        return float(min(self.max_backoff, self.min_backoff * 2 ** (attempts - 1)))

    # -- delivery --------------------------------------------------------------------------

    def _arrive(self, message: Message) -> None:
        self.waiting += 1
        if self.waiting > self.stats.peak_backlog:
            self.stats.peak_backlog = self.waiting
        key = message.key if self.ordered and message.key else f"#{next(self._ids)}"
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = deque((message,))
            self._ready.append(key)
        else:
            queue.append(message)  # behind the head (in flight, blocked or ready)
        self._pump()

    def _pump(self) -> None:
        sim = self.sim
        now = sim.t
        minute = int(now // 60)
        if minute != self._last_sample:
            self._last_sample = minute
            self.stats.backlog.counts[minute] = float(self.waiting)
        while self._free and self._ready:
            key = self._ready.popleft()
            message = self._queues[key][0]
            slot = heapq.heappop(self._free)
            message.attempts += 1
            self.waiting -= 1
            self._track_load(now)
            self.in_flight += 1
            if self.in_flight > self.stats.peak_in_flight:
                self.stats.peak_in_flight = self.in_flight
            self.stats.delivered += 1
            acked, end = self.handler(message, slot)
            sim.t = now
            if end - now > self.ack_deadline:
                self.stats.over_ack_deadline += 1
            sim.at(end, self._done, (key, slot, acked))

    def _done(self, arg: tuple[str, int, bool]) -> None:
        key, slot, acked = arg
        heapq.heappush(self._free, slot)
        self._track_load(self.sim.t)
        self.in_flight -= 1
        queue = self._queues[key]
        message = queue[0]
        if acked:
            self.stats.acked += 1
            queue.popleft()
        else:
            self.stats.nacked += 1
            if message.attempts >= self.max_attempts:
                self.stats.dead_lettered += 1
                queue.popleft()
            else:
                self.waiting += 1
                self.sim.at(self.sim.t + self.backoff(message.attempts), self._retry, key)
                self._pump()
                return
        if queue:
            self._ready.append(key)
        else:
            del self._queues[key]
        self._pump()

    def _track_load(self, now: float) -> None:
        elapsed = now - self._load_at
        if elapsed > 0:
            self.load += (self.in_flight - self.load) * (1 - math.exp(-elapsed / _LOAD_SECONDS))
            self._load_at = now

    def _retry(self, key: str) -> None:
        self._ready.append(key)
        self._pump()

    def sample(self, _: object = None) -> None:
        """Record the backlog now (also called each minute by the simulation)."""
        self.stats.backlog.counts[int(self.sim.t // 60)] = float(self.waiting)


_PUBLISH = params.cloud("pubsub.publish")
"""One confirmed publish; a batch's futures together cost one, plus `_PUBLISH_EACH` each."""
_PUBLISH_EACH = 0.0002


class SimPublisher:
    """The product's `Publisher`: a confirmed publish costs its latency on the invocation's
    clock; messages of a topic with a push subscription go to it."""

    def __init__(self, sim: Sim, routes: dict[str, PushSubscription] | None = None) -> None:
        self.sim = sim
        self.routes = routes or {}
        self.published: Counter[str] = Counter()
        self.metering = True
        self.sweep_signals = 0
        self._ids = itertools.count(1)

    def _route(self, topic: str, data: Json, ordering_key: str, attributes: dict[str, str]) -> str:
        mid = str(next(self._ids))
        if self.metering:
            self.published[topic] += 1
            if attributes.get("state") == "sweep":
                self.sweep_signals += 1
        sub = self.routes.get(topic)
        if sub is not None:
            sub.publish(Message(mid, data, ordering_key, self.sim.t, attributes))
        return mid

    def publish(
        self,
        topic: str,
        data: Json,
        *,
        ordering_key: str = "",
        attributes: dict[str, str] | None = None,
    ) -> str:
        self.sim.t += _PUBLISH
        return self._route(topic, data, ordering_key, attributes or {})

    def publish_many(self, topic: str, messages: Sequence[PortMessage]) -> list[str]:
        if not messages:
            return []
        self.sim.t += _PUBLISH + _PUBLISH_EACH * len(messages)
        return [self._route(topic, m.data, m.ordering_key, m.attributes) for m in messages]


class CountingSink:
    """The `EventSink` (meeting-events): counted by type, the publish's latency charged."""

    def __init__(self, sim: Sim, publisher: SimPublisher, topic: str = "meeting-events") -> None:
        self.sim = sim
        self.publisher = publisher
        self.topic = topic
        self.types: Counter[str] = Counter()

    def emit(self, event: Json, *, ordering_key: str) -> None:
        self.publisher.publish(self.topic, event, ordering_key=ordering_key)
        if self.publisher.metering:
            self.types[str(event.get("type", ""))] += 1


def envelope(message: Message, subscription: str) -> Json:
    """The push request body functions-framework hands a function (a CloudEvent's data)."""
    return {
        "message": {
            "data": base64.b64encode(json.dumps(message.data).encode()).decode(),
            "messageId": message.id,
            "orderingKey": message.key,
            "attributes": message.attributes,
        },
        "subscription": subscription,
    }
