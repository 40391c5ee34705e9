"""`meetsync migrate`: records an older deployment wrote, without the fields maintenance
queries by, become visible to renewal, the sweep and the audit; nothing else changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from devstack.driver import Env
from shared.domain.models import CalendarState, Channel, Meeting, calendar_key
from shared.domain.shards import shard_of
from shared.store.firestore import CALENDARS, CHANNELS, MEETINGS
from tests.cli.support import Cli

ALICE = "alice@example.com"
KEY = calendar_key(ALICE, "primary")
NOW = dt.datetime.now(dt.UTC)
LATER = NOW + dt.timedelta(days=30)


def _legacy(env: Env, collection: str, doc_id: str, data: dict[str, Any], *drop: str) -> None:
    """Write a record as the version before the scale work did: without `drop`."""
    old = {k: v for k, v in data.items() if k not in drop}
    env.store.client.collection(collection).document(doc_id).set(old)


def _fields(env: Env, collection: str, doc_id: str) -> dict[str, Any]:
    return env.store.client.collection(collection).document(doc_id).get().to_dict() or {}


def test_migrate_fills_what_the_maintenance_queries_need_once(env: Env, cli: Cli) -> None:
    state = CalendarState(key=KEY, owner=ALICE, calendar_id=ALICE, status="watching")
    _legacy(env, CALENDARS, KEY, state.to_dict(), "shard", "next_sweep_at")
    channel = Channel(
        id="old-channel", calendar_key=KEY, resource_id="r", token_hash="h", expiration=NOW
    )
    _legacy(env, CHANNELS, channel.id, channel.to_dict(), "shard")
    followed = Meeting(
        id="old-meeting", organizer=ALICE, mode="calendar", calendar_key=KEY,
        event_id="old-meeting", status="ready", event_etag='"1"',
    )  # fmt: skip
    _legacy(env, MEETINGS, followed.id, followed.to_dict(), "shard", "next_audit_at")
    cancelled = Meeting(
        id="old-cancelled", organizer=ALICE, mode="calendar", calendar_key=KEY,
        event_id="old-cancelled", status="cancelled",
    )  # fmt: skip
    _legacy(env, MEETINGS, cancelled.id, cancelled.to_dict(), "shard", "next_audit_at")
    shard = shard_of(KEY)
    # before: no maintenance query sees them
    assert env.store.channels_expiring(shard, LATER, after=None, limit=10) == []
    assert env.store.calendars_to_sweep(shard, LATER, after=None, limit=10) == []

    dry = cli.json("migrate", "--dry-run")
    assert dry["dry_run"] is True
    assert {k: dry[k]["filled"] for k in ("calendars", "channels", "meetings")} == {
        "calendars": 1, "channels": 1, "meetings": 2,
    }  # fmt: skip
    assert "shard" not in _fields(env, CALENDARS, KEY)  # a dry run writes nothing

    done = cli.json("migrate")
    assert {k: (done[k]["scanned"], done[k]["filled"]) for k in ("calendars", "channels")} == {
        "calendars": (1, 1), "channels": (1, 1),
    }  # fmt: skip
    assert done["meetings"]["filled"] == 2 and done["meetings"]["unreadable"] == []
    calendar = _fields(env, CALENDARS, KEY)
    assert calendar["shard"] == shard
    sweep_at = calendar["next_sweep_at"]
    assert NOW <= sweep_at <= NOW + dt.timedelta(hours=6, minutes=1)  # spread over the age
    assert [c.id for c in env.store.channels_expiring(shard, LATER, after=None, limit=10)] == [
        channel.id
    ]
    assert [c.key for c in env.store.calendars_to_sweep(shard, LATER, after=None, limit=10)] == [
        KEY
    ]
    audited = env.store.meetings_to_audit(shard_of(followed.id), LATER, after=None, limit=10)
    assert [m.id for m in audited] == [followed.id]
    assert _fields(env, MEETINGS, cancelled.id)["next_audit_at"] is None  # nothing to audit
    assert _fields(env, MEETINGS, cancelled.id)["shard"] == shard_of(cancelled.id)
    assert _fields(env, MEETINGS, followed.id)["status"] == "ready"  # nothing else touched

    again = cli.json("migrate")  # idempotent
    assert [again[k]["filled"] for k in ("calendars", "channels", "meetings")] == [0, 0, 0]
    assert _fields(env, CALENDARS, KEY)["next_sweep_at"] == sweep_at


def test_migrate_shows_progress_and_reports_an_unreadable_record(env: Env, cli: Cli) -> None:
    env.store.client.collection(MEETINGS).document("broken").set({"status": "ready"})
    run = cli("migrate", terminal=True)
    assert run.code == 1, run.out  # a record it could not read: a problem
    assert "meetings: records" in run.out and "\x1b[" in run.out  # the progress display
    assert "meetings/broken could not be read" in run.out
    assert cli.json("migrate", code=1)["meetings"]["unreadable"] == ["broken"]
