"""Change signals: from a Calendar push notification (or the sweep) to the `calendar-changes` topic.

The webhook's whole job: check the notification's headers against the stored
channel, and publish "this calendar changed" with the calendar as ordering key.
The answer is 2xx only once Pub/Sub has the message; a failed publish is a 503,
so Google retries. Live channels are held in memory for a few seconds, so a storm
on one channel costs one Firestore read, not one per notification.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from shared import logs
from shared.domain.errors import PublishError
from shared.domain.ids import token_matches
from shared.domain.models import ChangeSignal, Channel, ChannelState
from shared.domain.ports import CalendarStore, Clock, Message, Publisher
from shared.domain.refusals import Kind, Refusal
from shared.services.runs import Resume

_log = logs.get(__name__)
STATES = frozenset({"sync", "exists", "not_exists"})
_MAX_HEADER = 1024
SWEEP_PAGE = 300
"""Calendars read, and signals published together, per step of a sweep job."""


@dataclass(frozen=True, slots=True)
class Notification:
    channel_id: str
    message_number: int
    resource_id: str
    resource_state: str
    resource_uri: str
    token: str | None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if value is None or not value.strip():
        raise Refusal(Kind.INVALID, f"missing header {name}", name)
    if len(value) > _MAX_HEADER or not value.isascii() or not value.isprintable():
        raise Refusal(Kind.INVALID, f"malformed header {name}", name)
    return value.strip()


def parse_notification(headers: Mapping[str, str]) -> Notification:
    """Read Google's push headers (the body is empty by contract and ignored)."""
    headers = {k.lower(): v for k, v in headers.items()}
    number = _header(headers, "X-Goog-Message-Number")
    if not (number.isascii() and number.isdigit()):
        raise Refusal(
            Kind.INVALID, "X-Goog-Message-Number must be a number", "X-Goog-Message-Number"
        )
    state = _header(headers, "X-Goog-Resource-State").lower()
    if state not in STATES:
        raise Refusal(Kind.INVALID, f"unknown resource state {state!r}", "X-Goog-Resource-State")
    token = headers.get("x-goog-channel-token")
    return Notification(
        channel_id=_header(headers, "X-Goog-Channel-ID"),
        message_number=int(number),
        resource_id=_header(headers, "X-Goog-Resource-ID"),
        resource_state=state,
        resource_uri=_header(headers, "X-Goog-Resource-URI"),
        token=token if token is not None and len(token) <= _MAX_HEADER else None,
    )


class ChannelCache:
    """Live channel records for `ttl` seconds. Safe to hold: a channel's token hash,
    resource id and calendar never change; a channel stopped meanwhile is accepted for
    at most `ttl` more seconds, which costs one redundant sync at worst (the worker
    ignores calendars no longer watched). Unknown and stopped channels are not held."""

    def __init__(
        self,
        load: Callable[[str], Channel | None],
        *,
        ttl: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._held: dict[str, tuple[float, Channel]] = {}
        self._lock = threading.Lock()

    def get(self, channel_id: str) -> Channel | None:
        now = self._clock()
        hit = self._held.get(channel_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        channel = self._load(channel_id)
        if self._ttl > 0 and channel is not None and channel.state != ChannelState.STOPPED:
            with self._lock:
                if len(self._held) >= self._max:
                    self._held = {k: v for k, v in self._held.items() if v[0] > now}
                    if len(self._held) >= self._max:
                        self._held.clear()
                self._held[channel_id] = (now + self._ttl, channel)
        return channel


@dataclass(frozen=True, slots=True)
class Accepted:
    """A verified notification: enqueued (with the message id), or a `sync` handshake that
    needs no work."""

    enqueued: bool
    message_id: str = ""

    def to_dict(self) -> dict[str, str]:
        if not self.enqueued:
            return {"status": "sync acknowledged"}
        return {"status": "enqueued", "messageId": self.message_id}


class SignalService:
    def __init__(
        self,
        *,
        get_channel: Callable[[str], Channel | None],
        publisher: Publisher,
        topic: str,
        now: Clock = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._get_channel = get_channel
        self._publisher = publisher
        self._topic = topic
        self._now = now

    def receive(self, headers: Iterable[tuple[str, str]]) -> Accepted:
        """A push notification's headers → verified and enqueued. A forged or malformed
        one is refused (and logged, without its token); a publish Pub/Sub did not take is
        `UNAVAILABLE`, so the webhook answers 503 and Google retries."""
        try:
            return self.accept(parse_notification({k.lower(): v for k, v in headers}))
        except Refusal as exc:
            _log.warning(
                "notification rejected", extra={"reason": exc.message, "kind": exc.kind.value}
            )
            raise
        except PublishError:
            _log.exception("could not enqueue change signal")
            raise Refusal(Kind.UNAVAILABLE, "could not enqueue the change", retry_after=5) from None

    def accept(self, n: Notification) -> Accepted:
        """Verify against the stored channel, then enqueue (`PublishError` if Pub/Sub did
        not take it: the caller must not answer 2xx)."""
        channel = self._get_channel(n.channel_id)
        if channel is None or channel.state == ChannelState.STOPPED:
            raise Refusal(Kind.NOT_FOUND, "unknown or stopped channel", "X-Goog-Channel-ID")
        if n.token is None or not token_matches(n.token, channel.token_hash):
            raise Refusal(Kind.FORBIDDEN, "channel token does not match", "X-Goog-Channel-Token")
        if n.resource_id != channel.resource_id:
            raise Refusal(
                Kind.FORBIDDEN, "resource id does not match the channel", "X-Goog-Resource-ID"
            )
        if n.resource_state == "sync":
            return Accepted(enqueued=False)
        signal = ChangeSignal(
            calendar_key=channel.calendar_key,
            channel_id=n.channel_id,
            message_number=n.message_number,
            state=n.resource_state,
            received_at=self._now(),
        )
        return Accepted(enqueued=True, message_id=self.publish(signal))

    def publish_many(self, signals: list[ChangeSignal]) -> list[str]:
        """Publish signals together (their futures at once); raises PublishError if any
        was refused."""
        if not signals:
            return []
        return self._publisher.publish_many(
            self._topic,
            [
                Message(
                    s.to_dict(),
                    ordering_key=s.calendar_key,
                    attributes={"calendar": s.calendar_key, "state": s.state},
                )
                for s in signals
            ],
        )

    def publish(self, signal: ChangeSignal) -> str:
        """Publish one signal; raises PublishError (→ 503 / retry) if Pub/Sub refuses."""
        return self._publisher.publish(
            self._topic,
            signal.to_dict(),
            ordering_key=signal.calendar_key,
            attributes={"calendar": signal.calendar_key, "state": signal.state},
        )


class Sweeper:
    """The sweep: a sync signal for each watched calendar that nothing has synced for the
    sweep age, the protection against notifications Google dropped. A dropped
    notification is caught within that age; a calendar that keeps changing is never
    swept, so the sweep costs O(stale calendars), not O(all)."""

    def __init__(self, *, calendars: CalendarStore, signals: SignalService, now: Clock) -> None:
        self._calendars = calendars
        self._signals = signals
        self._now = now

    def sweep_shard(
        self,
        shard: int,
        *,
        due: dt.datetime,
        after: dt.datetime | None = None,
        out_of_time: Callable[[], bool] = lambda: False,
    ) -> tuple[list[str], Resume | None]:
        """Signal `shard`'s calendars whose next sweep is at or before `due`, a page at a time
        (each page published together). Returns their keys, and where to resume when
        `out_of_time` stopped it (None when the shard is done). A failed publish raises:
        the job is redelivered and resumes from its own cursor."""
        keys: list[str] = []
        while True:
            if out_of_time():
                return keys, Resume("", after)
            page = self._calendars.calendars_to_sweep(shard, due, after=after, limit=SWEEP_PAGE)
            now = self._now()
            self._signals.publish_many(
                [ChangeSignal(state.key, "", 0, "sweep", now) for state in page]
            )
            keys.extend(state.key for state in page)
            if len(page) < SWEEP_PAGE:
                return keys, None
            after = page[-1].next_sweep_at
