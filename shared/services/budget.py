"""The project's Calendar budget: a token bucket in front of every Calendar call.

Google allows 10,000 Calendar requests/min per project and 600/min per user
(403 usageLimits / 429 beyond; https://developers.google.com/calendar/api/guides/quota).
Meeting that limit means storms of retries that all fail together. Instead Terraform
splits the budget over the functions that call Calendar (`calendar_budget_shares`), and
each instance holds a token bucket refilling at its function's share divided by that
function's maximum instances (`CALENDAR_BUDGET_PER_MIN / CALENDAR_BUDGET_INSTANCES`), so
the whole project stays under the budget even with every instance busy; what an
instance saves up (`BURST` calls at most) is a one-off that fits in the headroom between
the default budget (8,000) and Google's 10,000. A call that would wait
longer than its caller allows raises `BudgetExhaustedError`: a worker's message
then goes back to Pub/Sub and returns after its backoff, so a peak waits in the
queue and drains instead of failing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.domain.errors import BudgetExhaustedError
from shared.domain.ports import CalendarPort, EventPage, Json

BURST = 10
"""Calls an idle instance may make at once: one create_meeting's insert and polls."""


class TokenBucket:
    """`per_minute` tokens a minute, at most `burst` saved up (one second's worth by default,
    so an idle instance cannot spend a minute's budget in a burst)."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.burst = max(1.0, burst if burst is not None else self.rate)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = threading.Lock()

    def reserve(self, max_wait: float) -> float | None:
        """Take one token: the seconds to wait before using it, or None (nothing taken) when
        that would be longer than `max_wait`."""
        with self._lock:
            now = self._clock()
            if now > self._at:  # a clock read before another caller's is not a refill
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
            wait = (1.0 - self._tokens) / self.rate if self._tokens < 1.0 else 0.0
            if wait > max_wait:
                return None
            self._tokens -= 1.0  # may go negative: later callers queue behind this one
            return wait


class BudgetedCalendar:
    """The Calendar port with every call counted against the bucket first."""

    def __init__(
        self,
        inner: CalendarPort,
        bucket: TokenBucket,
        *,
        max_wait_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._bucket = bucket
        self._max_wait = max_wait_seconds
        self._sleep = sleep

    def _take(self) -> None:
        wait = self._bucket.reserve(self._max_wait)
        if wait is None:
            raise BudgetExhaustedError(
                f"the Calendar budget has no call to spare within {self._max_wait:g} s"
            )
        if wait > 0:
            self._sleep(wait)

    def list_events(
        self,
        user: str,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: str | None = None,
        max_results: int = 2500,
    ) -> EventPage:
        self._take()
        return self._inner.list_events(
            user,
            calendar_id,
            sync_token=sync_token,
            page_token=page_token,
            time_min=time_min,
            max_results=max_results,
        )

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json:
        self._take()
        return self._inner.get_event(user, calendar_id, event_id)

    def insert_event(
        self, user: str, calendar_id: str, body: Json, *, send_updates: str = "none"
    ) -> Json:
        self._take()
        return self._inner.insert_event(user, calendar_id, body, send_updates=send_updates)

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json:
        self._take()
        return self._inner.patch_event(user, calendar_id, event_id, body, etag=etag)

    def delete_event(
        self, user: str, calendar_id: str, event_id: str, *, send_updates: str = "none"
    ) -> None:
        self._take()
        self._inner.delete_event(user, calendar_id, event_id, send_updates=send_updates)

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json:
        self._take()
        return self._inner.import_event(user, calendar_id, body)

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]:
        self._take()
        return self._inner.list_by_ical_uid(user, calendar_id, ical_uid)

    def watch(
        self,
        user: str,
        calendar_id: str,
        *,
        channel_id: str,
        token: str,
        address: str,
        ttl_seconds: int,
    ) -> Json:
        self._take()
        return self._inner.watch(
            user,
            calendar_id,
            channel_id=channel_id,
            token=token,
            address=address,
            ttl_seconds=ttl_seconds,
        )

    def stop_channel(self, user: str, channel_id: str, resource_id: str) -> None:
        self._take()
        self._inner.stop_channel(user, channel_id, resource_id)
