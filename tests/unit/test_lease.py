from __future__ import annotations

import datetime as dt

from shared.domain import lease
from shared.domain.models import CalendarState

NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def state(**kw: object) -> CalendarState:
    return CalendarState(key="k", owner="a@x", calendar_id="primary", **kw)  # type: ignore[arg-type]


def test_free_lease_is_acquired() -> None:
    d = lease.acquire(state(), owner="w1", now=NOW, lease_seconds=60)
    assert d.outcome is lease.Acquire.ACQUIRED
    assert d.state is not None and d.state.lease_owner == "w1"
    assert d.state.lease_expires == NOW + dt.timedelta(seconds=60)


def test_held_lease_marks_dirty_once() -> None:
    held = state(lease_owner="w1", lease_expires=NOW + dt.timedelta(seconds=5))
    first = lease.acquire(held, owner="w2", now=NOW, lease_seconds=60)
    assert (
        first.outcome is lease.Acquire.MARKED_DIRTY
        and first.state is not None
        and first.state.dirty
    )
    second = lease.acquire(first.state, owner="w3", now=NOW, lease_seconds=60)
    assert second.outcome is lease.Acquire.MARKED_DIRTY and second.state is None  # no write needed


def test_expired_lease_is_taken_over() -> None:
    held = state(lease_owner="dead", lease_expires=NOW - dt.timedelta(seconds=1), dirty=True)
    d = lease.acquire(held, owner="w2", now=NOW, lease_seconds=60)
    assert d.outcome is lease.Acquire.ACQUIRED and d.state is not None and not d.state.dirty


def test_unwatched_calendar_is_not_synced() -> None:
    assert (
        lease.acquire(None, owner="w", now=NOW, lease_seconds=60).outcome
        is lease.Acquire.NOT_WATCHED
    )
    stopped = state(status="stopped")
    assert (
        lease.acquire(stopped, owner="w", now=NOW, lease_seconds=60).outcome
        is lease.Acquire.NOT_WATCHED
    )


def test_release_syncs_again_when_dirty_then_frees() -> None:
    s = state(lease_owner="w1", lease_expires=NOW, dirty=True)
    again, s2 = lease.release(s, owner="w1", now=NOW, lease_seconds=60)
    assert again and s2 is not None and s2.lease_owner == "w1" and not s2.dirty
    again, s3 = lease.release(s2, owner="w1", now=NOW, lease_seconds=60)
    assert not again and s3 is not None and s3.lease_owner == "" and s3.syncs == 2


def test_release_by_a_holder_that_lost_the_lease_changes_nothing() -> None:
    s = state(lease_owner="w2", lease_expires=NOW)
    assert lease.release(s, owner="w1", now=NOW, lease_seconds=60) == (False, None)


def test_signal_received_before_the_latest_sync_started_is_covered() -> None:
    synced = state(last_sync_started=NOW)
    before = NOW - dt.timedelta(milliseconds=1)
    d = lease.acquire(synced, owner="w2", now=NOW, lease_seconds=60, signal_time=before)
    assert d.outcome is lease.Acquire.COVERED
    assert d.state is None
    after = NOW + dt.timedelta(milliseconds=1)
    d2 = lease.acquire(synced, owner="w2", now=after, lease_seconds=60, signal_time=after)
    assert d2.outcome is lease.Acquire.ACQUIRED


def test_redelivery_to_the_dead_holder_takes_the_lease_back_even_if_covered() -> None:
    held = state(
        lease_owner="msg-7",
        lease_expires=NOW + dt.timedelta(seconds=50),
        last_sync_started=NOW - dt.timedelta(seconds=10),
    )
    signal_time = NOW - dt.timedelta(seconds=11)
    d = lease.acquire(held, owner="msg-7", now=NOW, lease_seconds=60, signal_time=signal_time)
    assert d.outcome is lease.Acquire.ACQUIRED
