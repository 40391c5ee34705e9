"""`meetsync status --json` agrees with the Firestore documents it summarises: known state is
written, then every figure is recounted from the raw documents and the dead letter."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from devstack.driver import Env
from shared.domain.models import (
    CalendarState,
    Channel,
    Meeting,
    RunReport,
    User,
    calendar_key,
)
from tests.cli.support import Cli, dead_letters, publish_dead_letter

NOW = dt.datetime.now(dt.UTC)
H = dt.timedelta(hours=1)
DOCUMENTED = {
    "target",
    "generated_at",
    "users",
    "calendars",
    "channels",
    "stale_after_seconds",
    "stale_calendars",
    "dead_letter",
    "meetings",
    "last_renew",
    "last_sweep",
    "last_audit",
    "problems",
}
"""The keys README documents for `status --json`."""


def _known_state(env: Env) -> None:
    store = env.store
    store.put_user(User(email="carol@example.com", status="auth_revoked"))
    store.put_user(User(email="dave@example.com", status="disconnected"))
    calendars = [
        ("alice@example.com", "alice@example.com", "watching", NOW - H),  # fresh
        ("bob@example.com", "bob@example.com", "watching", NOW - 7 * H),  # stale
        ("bob@example.com", "team@group.calendar.google.com", "watching", None),  # never synced
        ("carol@example.com", "carol@example.com", "auth_revoked", NOW - 30 * H),
        ("alice@example.com", "gone@group.calendar.google.com", "gone", None),
        ("dave@example.com", "dave@example.com", "stopped", None),
    ]
    for owner, calendar_id, status, synced in calendars:
        key = calendar_key(owner, calendar_id)
        store.put_calendar(
            CalendarState(
                key=key,
                owner=owner,
                calendar_id=calendar_id,
                status=status,
                last_sync_finished=synced,
            )
        )
    alice = calendar_key("alice@example.com", "primary")
    channels = [
        ("soon", "active", NOW + 2 * H, ""),
        ("later", "active", NOW + 72 * H, ""),
        ("lapsed", "active", NOW - H, ""),  # expired, never renewed
        ("replaced", "active", NOW + H, "later"),  # renewed: its replacement carries on
        ("overlap", "stopping", NOW + 3 * H, "later"),
        ("old", "stopped", NOW - 100 * H, ""),
    ]
    for channel_id, state, expiration, replaced_by in channels:
        store.put_channel(
            Channel(
                id=channel_id,
                calendar_key=alice,
                resource_id="r",
                token_hash="h",
                expiration=expiration,
                state=state,
                replaced_by=replaced_by,
            )
        )
    for n, status in enumerate(["ready", "ready", "pending", "cancelled", "failed", "detached"]):
        store.put_meeting(
            Meeting(
                id=f"m{n}",
                organizer="alice@example.com",
                mode="calendar",
                status=status,
                calendar_key=alice,
            )
        )
    store.put_run(RunReport.of("renew", NOW - 3 * H, NOW - 3 * H, {"renewed": ["x"]}, outcome="ok"))
    store.put_run(
        RunReport.of("renew", NOW - H, NOW - H, {"errors": ["c: boom"]}, outcome="failed")
    )
    store.put_run(
        RunReport.of("sweep", NOW - 2 * H, NOW - 2 * H, {"enqueued": [alice]}, outcome="ok")
    )
    store.put_run(
        RunReport.of("audit", NOW - 2 * H, NOW - 2 * H, {"errors": ["m0: boom"]}, outcome="failed")
    )
    for n in range(3):
        publish_dead_letter(env, b'{"calendar_key": "x:y"}', "x:y", n=str(n))


def _documents(env: Env, collection: str) -> list[dict[str, Any]]:
    return [s.to_dict() or {} for s in env.store.client.collection(collection).stream()]


def test_status_json_agrees_with_the_documents_it_summarises(env: Env, cli: Cli) -> None:
    _known_state(env)
    status = cli.json("status", code=1)  # problems found: exit 1

    assert set(status) == DOCUMENTED
    users = Counter(d["status"] for d in _documents(env, "users"))
    assert status["users"] == {s: users.get(s, 0) for s in status["users"]}
    assert sum(status["users"].values()) == len(_documents(env, "users")) == 4
    calendars = _documents(env, "calendars")
    by_status = Counter(d["status"] for d in calendars)
    assert status["calendars"] == {s: by_status.get(s, 0) for s in status["calendars"]}
    assert sum(status["calendars"].values()) == len(calendars)
    channels = _documents(env, "channels")
    by_state = Counter(d["state"] for d in channels)
    assert status["channels"]["by_state"] == {s: by_state.get(s, 0) for s in by_state}
    live = [d for d in channels if d["state"] == "active" and not d["replaced_by"]]
    assert (
        status["channels"]["expiring_within_24h"]
        == sum(NOW < d["expiration"] <= NOW + 24 * H for d in live)
        == 1
    )
    assert status["channels"]["expired"] == sum(d["expiration"] <= NOW for d in live) == 1
    stale = sorted(
        d["key"]
        for d in calendars
        if d["status"] == "watching"
        and (d["last_sync_finished"] is None or d["last_sync_finished"] < NOW - 6 * H)
    )
    assert [s["calendar"] for s in status["stale_calendars"]] == stale
    assert stale == [
        "bob@example.com:bob@example.com",
        "bob@example.com:team@group.calendar.google.com",
    ]
    meetings = Counter(d["status"] for d in _documents(env, "meetings"))
    assert status["meetings"] == {s: meetings.get(s, 0) for s in status["meetings"]}
    assert sum(status["meetings"].values()) == 6
    runs = _documents(env, "runs")
    latest = max((r for r in runs if r["kind"] == "renew"), key=lambda r: r["started_at"])
    assert status["last_renew"]["id"] == latest["id"]
    assert status["last_renew"]["outcome"] == "failed"
    assert status["last_renew"]["counts"] == {"errors": 1}
    assert status["last_sweep"]["outcome"] == "ok"
    assert status["last_audit"]["outcome"] == "failed"
    assert status["last_audit"]["counts"] == {"errors": 1}
    assert status["dead_letter"]["depth"] == len(dead_letters(env, take=False)) == 3
    assert len(status["problems"]) == 8, status["problems"]
    assert any(p.startswith("the last audit failed") for p in status["problems"])

    table = cli("status")
    assert table.code == 1
    assert "problem:" in table.out and "dead letter" in table.out


def test_status_of_a_healthy_stack_exits_0(env: Env, cli: Cli) -> None:
    env.watch("alice@example.com")
    status = cli.json("status")
    assert status["problems"] == [] and status["calendars"]["watching"] == 1
    assert status["last_renew"] is None  # nothing scheduled locally until asked
