"""The sync worker's message handling: decode a Pub/Sub push, drop the stale, sync the rest.

Returning acknowledges the message; raising makes Pub/Sub redeliver it (with
backoff), and after the subscription's maximum attempts a message that keeps
failing, such as an undecodable one, lands in the dead-letter topic.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from shared import logs
from shared.domain.models import ChangeSignal
from shared.services.sync import SyncReport, SyncService

_log = logs.get(__name__)


class PoisonMessageError(ValueError):
    """The message can never be processed; raised so it ends in the dead-letter topic."""


def decode(data: Any) -> ChangeSignal:
    """The ChangeSignal inside a CloudEvent's Pub/Sub `message.data` (base64 JSON)."""
    try:
        encoded = data["message"]["data"]
        payload = json.loads(base64.b64decode(encoded, validate=True))
        if not isinstance(payload, dict):
            raise PoisonMessageError("message data is not a JSON object")
        return ChangeSignal.from_dict(payload)
    except (KeyError, TypeError, binascii.Error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, PoisonMessageError):
            raise
        raise PoisonMessageError(f"undecodable change signal: {exc}") from None


class Worker:
    def __init__(
        self,
        *,
        sync: SyncService,
        max_age_seconds: int,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._sync = sync
        self._max_age = dt.timedelta(seconds=max_age_seconds)
        self._now = now

    def handle(self, data: Any, message_id: str) -> SyncReport | None:
        """Process one delivery; None when the message was dropped as too old."""
        try:
            signal = decode(data)
        except PoisonMessageError:
            _log.error(
                "poison change signal; it will be dead-lettered", extra={"message_id": message_id}
            )
            raise
        age = self._now() - signal.received_at
        with logs.context(calendar=signal.calendar_key, message_id=message_id):
            if age > self._max_age:
                _log.warning(
                    "dropping change signal older than the maximum age",
                    extra={"age_s": age.total_seconds()},
                )
                return None
            report = self._sync.sync(
                signal.calendar_key, owner=message_id, signal_time=signal.received_at
            )
            _log.info("sync finished", extra={"report": report.__dict__})
            return report
