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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared import logs
from shared.domain.models import ChangeSignal, Channel, ChannelState
from shared.services.channels import token_matches

_log = logs.get(__name__)
STATES = frozenset({"sync", "exists", "not_exists"})
_MAX_HEADER = 1024


class NotificationError(Exception):
    """A notification we refuse; `status` is our answer to Google."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


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
        raise NotificationError(400, f"missing header {name}", name)
    if len(value) > _MAX_HEADER or not value.isascii() or not value.isprintable():
        raise NotificationError(400, f"malformed header {name}", name)
    return value.strip()


def parse_notification(headers: Mapping[str, str]) -> Notification:
    """Read Google's push headers (the body is empty by contract and ignored)."""
    headers = {k.lower(): v for k, v in headers.items()}
    number = _header(headers, "X-Goog-Message-Number")
    if not (number.isascii() and number.isdigit()):
        raise NotificationError(
            400, "X-Goog-Message-Number must be a number", "X-Goog-Message-Number"
        )
    state = _header(headers, "X-Goog-Resource-State").lower()
    if state not in STATES:
        raise NotificationError(400, f"unknown resource state {state!r}", "X-Goog-Resource-State")
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


class SignalService:
    def __init__(
        self,
        *,
        get_channel: Callable[[str], Channel | None],
        publish: Callable[..., str],
        topic: str,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._get_channel = get_channel
        self._publish = publish
        self._topic = topic
        self._now = now

    def accept(self, n: Notification) -> tuple[int, dict[str, Any]]:
        """Verify against the stored channel, then enqueue; returns (status, body)."""
        channel = self._get_channel(n.channel_id)
        if channel is None or channel.state == ChannelState.STOPPED:
            raise NotificationError(404, "unknown or stopped channel", "X-Goog-Channel-ID")
        if n.token is None or not token_matches(n.token, channel.token_hash):
            raise NotificationError(403, "channel token does not match", "X-Goog-Channel-Token")
        if n.resource_id != channel.resource_id:
            raise NotificationError(
                403, "resource id does not match the channel", "X-Goog-Resource-ID"
            )
        if n.resource_state == "sync":
            return 200, {"status": "sync acknowledged"}
        signal = ChangeSignal(
            calendar_key=channel.calendar_key,
            channel_id=n.channel_id,
            message_number=n.message_number,
            state=n.resource_state,
            received_at=self._now(),
        )
        return 202, {"status": "enqueued", "messageId": self.publish(signal)}

    def publish(self, signal: ChangeSignal) -> str:
        """Publish one signal; raises PublishError (→ 503 / retry) if Pub/Sub refuses."""
        return self._publish(
            self._topic,
            signal.to_dict(),
            ordering_key=signal.calendar_key,
            attributes={"calendar": signal.calendar_key, "state": signal.state},
        )
