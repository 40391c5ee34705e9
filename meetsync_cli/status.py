"""`meetsync status`: the whole deployment on one page, and what needs an operator.

The summary is a pure function of the records read (`summarize`), so a test can
build known state and compare; `problems` lists what makes the command exit 1.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from meetsync_cli.output import iso
from shared.domain.models import (
    CalendarState,
    CalendarStatus,
    Channel,
    ChannelState,
    RunOutcome,
    RunReport,
)

EXPIRING = dt.timedelta(hours=24)


def run_view(run: RunReport | None) -> dict[str, Any] | None:
    """A stored run report as `status` shows it."""
    if run is None:
        return None
    return {
        "id": run.id,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "outcome": run.outcome,
        "counts": dict(run.counts),
        "error": run.error or None,
    }


def stale(calendars: Iterable[CalendarState], now: dt.datetime, age: dt.timedelta) -> list[Any]:
    """Watched calendars whose last successful sync is older than `age` (or never ran)."""
    return [
        {"calendar": c.key, "last_synced_at": iso(c.last_sync_finished)}
        for c in sorted(calendars, key=lambda c: c.key)
        if c.status == CalendarStatus.WATCHING
        and (c.last_sync_finished is None or c.last_sync_finished < now - age)
    ]


def channel_counts(channels: Iterable[Channel], now: dt.datetime) -> dict[str, Any]:
    """Channels by state; live ones expiring within 24 h, and live ones already expired
    (not renewed in time: their calendar's notifications are lost)."""
    channels = list(channels)
    live = [c for c in channels if c.state == ChannelState.ACTIVE and not c.replaced_by]
    by_state = Counter(c.state for c in channels)
    return {
        "by_state": {s.value: by_state.get(s.value, 0) for s in ChannelState},
        "expiring_within_24h": sum(now < c.expiration <= now + EXPIRING for c in live),
        "expired": sum(c.expiration <= now for c in live),
    }


def summarize(
    *,
    users: dict[str, int],
    calendars: list[CalendarState],
    channels: list[Channel],
    meetings: dict[str, int],
    dead_letter: int,
    last_renew: RunReport | None,
    last_sweep: RunReport | None,
    last_audit: RunReport | None = None,
    now: dt.datetime,
    stale_after: dt.timedelta,
) -> dict[str, Any]:
    by_status = Counter(c.status for c in calendars)
    summary: dict[str, Any] = {
        "generated_at": iso(now),
        "users": users,
        "calendars": {s.value: by_status.get(s.value, 0) for s in CalendarStatus},
        "channels": channel_counts(channels, now),
        "stale_after_seconds": int(stale_after.total_seconds()),
        "stale_calendars": stale(calendars, now, stale_after),
        "dead_letter": {"depth": dead_letter},
        "meetings": meetings,
        "last_renew": run_view(last_renew),
        "last_sweep": run_view(last_sweep),
        "last_audit": run_view(last_audit),
    }
    summary["problems"] = problems(summary)
    return summary


def problems(summary: dict[str, Any]) -> list[str]:
    """What an operator must look at, one sentence each."""
    found = []
    if n := summary["users"].get("auth_revoked", 0):
        found.append(f"{n} user(s) auth_revoked: they must reconnect or be registered again")
    for status in ("auth_revoked", "gone"):
        if n := summary["calendars"].get(status, 0):
            found.append(f"{n} calendar(s) {status}")
    if n := summary["channels"]["expired"]:
        found.append(f"{n} channel(s) expired without renewal: run `meetsync renew`")
    if n := len(summary["stale_calendars"]):
        found.append(f"{n} watched calendar(s) not synced for {summary['stale_after_seconds']} s")
    if n := summary["dead_letter"]["depth"]:
        found.append(f"{n} change signal(s) in the dead letter: `meetsync dlq list`")
    for kind in ("renew", "sweep", "audit"):
        run = summary[f"last_{kind}"]
        if run is not None and run["outcome"] == RunOutcome.FAILED:
            found.append(f"the last {kind} failed: {run['error'] or run['counts']}")
    return found
