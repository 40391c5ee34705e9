"""The sync worker's message handling: decode a Pub/Sub push, drop the stale, sync the rest.

Returning acknowledges the message; raising makes Pub/Sub redeliver it (with
backoff), and after the subscription's maximum attempts a message that keeps
failing, such as an undecodable one, lands in the dead-letter topic. Pub/Sub keeps
no reason with it, so every failure is recorded first (`DeliveryFailure`, read by
`meetsync dlq list`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from shared import logs
from shared.domain.errors import AuthRevokedError, BudgetExhaustedError, CalendarGoneError
from shared.domain.models import ChangeSignal, DeliveryFailure
from shared.domain.ports import FailureStore
from shared.services.sync import SyncReport, SyncService

_log = logs.get(__name__)
_KEEP_FAILURES = dt.timedelta(days=14)
"""Longer than the dead-letter subscription keeps a message (7 days)."""
_MAX_REASON = 500


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


def data_digest(data: Any) -> str:
    """SHA-256 of the message's data bytes, the key of its `DeliveryFailure` (a push whose
    data is not base64 is digested whole)."""
    try:
        raw = base64.b64decode(data["message"]["data"], validate=True)
    except (KeyError, TypeError, binascii.Error, ValueError):
        raw = json.dumps(data, sort_keys=True, default=str).encode()
    return DeliveryFailure.digest(raw)


class Worker:
    def __init__(
        self,
        *,
        sync: SyncService,
        failures: FailureStore,
        max_age_seconds: int,
        on_unreachable: Callable[[str, Exception], str],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._on_unreachable = on_unreachable
        """Marks a calendar whose user revoked access, or that is gone (`ChannelService`)."""
        self._sync = sync
        self._failures = failures
        self._max_age = dt.timedelta(seconds=max_age_seconds)
        self._now = now

    def handle(self, data: Any, message_id: str) -> SyncReport | None:
        """Process one delivery; None when the message was dropped as too old. A failure is
        recorded, then raised (Pub/Sub redelivers, then dead-letters)."""
        try:
            signal = decode(data)
        except PoisonMessageError as exc:
            _log.error(
                "poison change signal; it will be dead-lettered",
                extra={"message_id": message_id, "reason": str(exc)},
            )
            self._record(data, message_id, f"poison: {exc}")
            raise
        age = self._now() - signal.received_at
        with logs.context(calendar=signal.calendar_key, message_id=message_id):
            if age > self._max_age:
                _log.warning(
                    "dropping change signal older than the maximum age",
                    extra={"age_s": age.total_seconds()},
                )
                return None
            try:
                report = self._sync.sync(
                    signal.calendar_key, owner=message_id, signal_time=signal.received_at
                )
            except (AuthRevokedError, CalendarGoneError) as exc:
                # retrying cannot help and would hold the calendar's ordering key: mark
                # the calendar (and the user) and acknowledge
                status = self._on_unreachable(signal.calendar_key, exc)
                _log.warning(
                    "calendar unreachable; marked and acknowledged",
                    extra={"status": status, "error": type(exc).__name__},
                )
                return SyncReport(outcome=status)
            except BudgetExhaustedError:
                _log.info("Calendar budget spent; the signal goes back to Pub/Sub")
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                _log.exception(
                    "sync failed; the signal will be retried",
                    extra={"error": type(exc).__name__, "reason": reason[:_MAX_REASON]},
                )
                self._record(data, message_id, reason, signal.calendar_key)
                raise
            # from the webhook's receipt of Google's notification to the records written
            latency = self._now() - signal.received_at
            _log.info(
                "sync finished",
                extra={
                    "report": report.__dict__,
                    "state": signal.state,
                    "latency_ms": round(latency.total_seconds() * 1000),
                },
            )
            return report

    def _record(self, data: Any, message_id: str, reason: str, calendar_key: str = "") -> None:
        """Store why this delivery failed; never masks the failure itself."""
        now = self._now()
        failure = DeliveryFailure(
            data_sha256=data_digest(data),
            message_id=message_id,
            reason=reason[:_MAX_REASON],
            calendar_key=calendar_key,
            first_failed_at=now,
            last_failed_at=now,
            purge_at=now + _KEEP_FAILURES,
        )
        try:
            self._failures.record_failure(failure)
        except Exception:
            _log.exception("could not record why the change signal failed")
