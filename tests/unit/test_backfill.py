"""What `meetsync migrate` adds to a record an older deployment wrote (a pure decision)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shared.domain import backfill
from shared.domain.models import CalendarState, Meeting
from shared.domain.shards import shard_of

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
AGE, PERIOD = dt.timedelta(hours=6), dt.timedelta(hours=24)


def missing(
    kind: str, record_id: str, data: dict[str, Any], fraction: float = 0.5
) -> dict[str, Any]:
    return backfill.missing(
        kind, record_id, data, now=NOW, sweep_age=AGE, audit_period=PERIOD, fraction=fraction
    )


def test_a_calendar_gets_its_shard_and_a_sweep_time_spread_over_the_age() -> None:
    assert missing("calendars", "a:a", {"key": "a:a"}, 0.25) == {
        "shard": shard_of("a:a"),
        "next_sweep_at": NOW + AGE / 4,
    }
    current = CalendarState(key="a:a", owner="a", calendar_id="a").to_dict()
    assert missing("calendars", "a:a", current) == {}  # today's records are left alone


def test_a_channel_takes_its_calendars_shard() -> None:
    assert missing("channels", "c1", {"calendar_key": "a:a"}) == {"shard": shard_of("a:a")}


def test_a_followed_meeting_is_audited_within_a_period_and_a_cancelled_one_never() -> None:
    base = {"organizer": "a", "mode": "calendar", "calendar_key": "a:a", "event_id": "m"}
    followed = {**base, "status": "ready"}
    assert missing("meetings", "m", followed, 0.5) == {
        "shard": shard_of("m"),
        "next_audit_at": NOW + PERIOD / 2,
    }
    assert missing("meetings", "m", {**base, "status": "cancelled"}) == {
        "shard": shard_of("m"),
        "next_audit_at": None,
    }
    current = Meeting(id="m", organizer="a", mode="calendar", calendar_key="a:a").to_dict()
    assert missing("meetings", "m", current) == {}


def test_an_unreadable_meeting_or_an_unknown_kind_is_refused() -> None:
    with pytest.raises(TypeError):
        missing("meetings", "m", {"status": "ready"})  # no organizer, mode, calendar
    with pytest.raises(ValueError, match="names no calendar"):
        missing("channels", "c1", {"calendar_key": ""})
    with pytest.raises(ValueError, match="unknown kind"):
        missing("users", "u", {})
