"""Every `meetsync` command against the local stack: users, calendars, channels, renew,
sweep, meetings and the event stream, as tables and as JSON, with their exit statuses."""

from __future__ import annotations

import json
import threading
import uuid

from devstack.driver import END, START, Env, wait_for
from devstack.stack import http
from shared.domain.ids import meeting_id
from tests.cli.support import Cli, Run

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"


def test_users_list_show_add_and_disconnect(env: Env, cli: Cli) -> None:
    listed = cli.json("users", "list")["users"]
    assert [(u["email"], u["status"]) for u in listed] == [(ALICE, "active"), (BOB, "active")]
    assert all("refresh_token_enc" not in u and "outbox" not in u for u in listed)
    assert cli.json("users", "show", ALICE)["status"] == "active"

    env.emu("POST", "users", {"email": CAROL})  # a Workspace user the admin authorised
    added = cli.json("users", "add", CAROL)
    assert (added["email"], added["authMode"], added["status"]) == (CAROL, "delegation", "active")
    assert cli.json("users", "add", CAROL)["status"] == "active"  # idempotent
    gone = cli.json("users", "disconnect", CAROL)
    assert gone["changed"] is True and gone["status"] == "disconnected"
    assert cli.json("users", "show", CAROL, code=1)["status"] == "disconnected"
    assert [u["email"] for u in cli.json("users", "list", "--status", "disconnected")["users"]] == [
        CAROL
    ]

    unknown = cli("users", "add", "mallory@example.com")  # Google refuses: a usage error
    assert unknown.code == 2
    assert cli("users", "show", "nobody@example.com").code == 2
    assert cli("users", "frobnicate").code == 2  # argparse
    table = cli("users", "list")
    assert table.code == 0 and "carol@example.com" in table.out and "disconnected" in table.out


def test_calendars_watch_list_show_and_unwatch(env: Env, cli: Cli) -> None:
    assert cli("calendars", "show", ALICE).code == 2  # not known yet
    watched = cli.json("calendars", "watch", f"{ALICE}:primary")
    assert watched["created"] is True
    assert cli.json("calendars", "watch", ALICE)["created"] is False
    listed = cli.json("calendars", "list")["calendars"]
    assert [(c["calendar"], c["status"], c["has_sync_token"]) for c in listed] == [
        (f"{ALICE}:{ALICE}", "watching", True)
    ]
    assert listed[0]["channel_expiration"] == watched["expiration"]
    shown = cli.json("calendars", "show", ALICE)
    assert shown["stale"] is False and [c["id"] for c in shown["channels"]] == [
        watched["channelId"]
    ]
    assert cli.json("calendars", "list", "--user", BOB)["calendars"] == []

    stopped = cli.json("calendars", "unwatch", ALICE)
    assert stopped["stoppedChannels"] == [watched["channelId"]]
    assert cli.json("calendars", "show", ALICE, code=1)["status"] == "stopped"
    assert cli("calendars", "show", "not-a-calendar").code == 2


def test_channels_renew_and_sweep_show_what_was_done(env: Env, cli: Cli) -> None:
    env.emu("POST", "config", {"channel_max_ttl_seconds": 3600})  # inside the renew window
    old = env.watch(ALICE)["channelId"]
    env.age_channels(f"{ALICE}:{ALICE}")  # opened long ago: within the renewal window now
    expiring = cli.json("channels", "list", "--expiring", "2h")["channels"]
    assert [c["id"] for c in expiring] == [old]
    assert cli.json("channels", "list", "--expiring", "10m")["channels"] == []

    renew = cli.json("renew")
    assert renew["kind"] == "renew" and renew["outcome"] == "ok"
    assert renew["details"]["renewed"] == [old] and renew["counts"]["renewed"] == 1
    states = {c["id"]: c["state"] for c in cli.json("channels", "list")["channels"]}
    assert states[old] == "stopping" and sorted(states.values()) == ["active", "stopping"]

    none = {"reconciled": 0, "updated": 0, "released": 0, "failed": 0}  # no meeting due
    assert cli.json("sweep")["counts"] == {"enqueued": 0, **none}  # synced just now: not stale
    sweep = cli.json("sweep", "--all")
    assert sweep["details"] == {
        "enqueued": [f"{ALICE}:{ALICE}"], "reconciled": [], "updated": [], "released": [],
        "failed": [],
    }  # fmt: skip
    status = cli.json("status")
    assert status["last_renew"]["id"] == renew["id"] and status["last_sweep"]["id"] == sweep["id"]
    table = cli("sweep")
    assert table.code == 0 and "sweep: ok" in table.out


def test_meetings_show_and_list(env: Env, cli: Cli) -> None:
    env.watch(ALICE)
    events = env.subscribe()
    mid = env.create_meeting(ALICE, "Planning")["id"]
    env.wait_meeting(mid, lambda m: m.status == "ready" and not m.outbox, "ready and announced")
    sent = env.events_until(events, lambda s: any(e["subject"] == f"meetings/{mid}" for e in s))

    shown = cli.json("meetings", "show", mid)
    assert shown["meeting"]["status"] == "ready"
    assert shown["event"]["id"] == shown["meeting"]["eventId"] == mid
    assert shown["space"]["name"] == shown["meeting"]["space"]
    assert shown["eventError"] is None and shown["spaceError"] is None
    announced = [(a["id"], a["type"]) for a in shown["announcements"]]
    # at least once: a redelivered announcement (same id) is one announcement
    ours = [(e["id"], e["type"]) for e in sent if e["subject"] == f"meetings/{mid}"]
    distinct = dict.fromkeys(ours)
    assert announced == list(distinct)
    offline = cli.json("meetings", "show", mid, "--no-google")
    assert offline["event"] is None and offline["announcements"] == shown["announcements"]
    assert cli("meetings", "show", "no-such-meeting").code == 2

    listed = cli.json("meetings", "list", "--user", ALICE)["meetings"]
    assert [m["id"] for m in listed] == [mid]
    assert cli.json("meetings", "list", "--user", ALICE, "--status", "cancelled")["meetings"] == []
    table = cli("meetings", "show", mid)
    assert table.code == 0 and "meeting.ready" in table.out


def test_events_tail_follows_one_meeting(env: Env, cli: Cli) -> None:
    env.watch(ALICE)
    env.create_meeting(ALICE, "Someone else's")  # not followed: sent before the tail
    key = uuid.uuid4().hex
    mid = meeting_id(ALICE, key)
    runs: list[Run] = []
    tail = threading.Thread(
        target=lambda: runs.append(
            cli("--json", "events", "tail", "--meeting", mid, "--count", "1", "--timeout", "30")
        )
    )
    tail.start()
    wait_for(lambda: _tailing(env), what="the tail's subscription")
    body = {"organizer": ALICE, "summary": "Followed", "start": START, "end": END}
    created = env.call(
        "create_meeting", "POST", "/meetings", body, headers={"Idempotency-Key": key}
    )
    assert created.status_code in (201, 202)
    tail.join(timeout=60)
    (run,) = runs
    assert run.code == 0
    lines = [json.loads(line) for line in run.out.splitlines() if line.strip()]
    assert [(e["subject"], e["type"]) for e in lines] == [(f"meetings/{mid}", "meeting.ready")]


def _tailing(env: Env) -> bool:
    url = f"http://{env.stack.pubsub_host}/v1/projects/{env.stack.project}/subscriptions"
    status, body = http("GET", url)
    names = [s["name"] for s in json.loads(body).get("subscriptions", [])] if status == 200 else []
    return any("/meeting-events-tail-" in name for name in names)
