"""Cross-user isolation: what is done for alice is done as alice, on alice's calendar only.

The two seeded users share one deployment. The emulator logs the user behind every
Google call and owns both calendars, so each assertion is made against what actually
happened at "Google" and in Firestore, not against the function's word.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import uuid
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from devstack.driver import END, START, Env, wait_for
from tests.e2e import contract

pytestmark = pytest.mark.e2e

ALICE = "alice@example.com"
BOB = "bob@example.com"
USERS = (ALICE, BOB)


@pytest.fixture
def env(env: Env) -> Env:
    """Conferences ready at once: these tests are about who acts, not about waiting."""
    env.emu("POST", "config", {"conference_delay_ms": 0})
    return env


def _calls(env: Env) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = env.emu("GET", "requests")
    return log


def _acting(calls: list[dict[str, Any]]) -> set[str]:
    """The users Google calls were made as (token grants included; signJwt has no user)."""
    return {c["user"] for c in calls if c["user"] is not None}


def _touching(calls: list[dict[str, Any]], email: str) -> list[dict[str, Any]]:
    """The calls whose path names `email`'s calendar (paths are percent-encoded)."""
    return [c for c in calls if email in unquote(c["path"]).lower()]


def _post(env: Env, body: dict[str, Any], key: str) -> requests.Response:
    response = env.call(
        "create_meeting", "POST", "/meetings", body, headers={"Idempotency-Key": key}
    )
    contract.check("/meetings", "POST", response.status_code, response.json())
    return response


def _body(organizer: str, **extra: Any) -> dict[str, Any]:
    return {"organizer": organizer, "summary": "Planning", "start": START, "end": END, **extra}


def _events(env: Env, email: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = env.emu("GET", f"calendars/{email}/events")
    return found


def test_a_meeting_for_alice_is_made_only_as_alice(env: Env) -> None:
    env.emu("DELETE", "requests")
    made = [
        _post(env, _body(ALICE, attendees=[BOB]), "as-alice-1"),
        _post(env, _body(ALICE, conference={"mode": "space"}), "as-alice-2"),
        _post(env, {"organizer": ALICE, "conference": {"mode": "instant"}}, "as-alice-3"),
    ]
    assert [r.status_code for r in made] == [201, 201, 201], [r.text for r in made]
    calls = _calls(env)
    assert {c["api"] for c in calls} >= {"calendar", "meet"}
    assert _acting(calls) == {ALICE}, calls
    assert not _touching(calls, BOB), calls
    assert _events(env, BOB) == []
    assert {e["id"] for e in _events(env, ALICE)} == {made[0].json()["id"], made[1].json()["id"]}
    assert {s["owner"] for s in env.emu("GET", "spaces")} == {ALICE}


def test_one_idempotency_key_used_by_two_users_makes_two_meetings(env: Env) -> None:
    """Keys are scoped to the organizer (meeting id = hash(organizer, key)): bob reusing
    alice's key gets his own meeting, never a replay of hers, and her replay still works."""
    key = f"shared-{uuid.uuid4().hex}"
    alice = _post(env, _body(ALICE), key)
    assert alice.status_code == 201, alice.text
    env.emu("DELETE", "requests")
    bob = _post(env, _body(BOB), key)
    assert bob.status_code == 201, bob.text
    assert bob.json()["id"] != alice.json()["id"]
    assert bob.json()["organizer"] == BOB and alice.json()["organizer"] == ALICE
    bob_calls = _calls(env)
    assert _acting(bob_calls) == {BOB}, bob_calls
    assert [e["id"] for e in _events(env, BOB)] == [bob.json()["id"]]
    assert [e["id"] for e in _events(env, ALICE)] == [alice.json()["id"]]
    stored = env.meeting(bob.json()["id"])
    assert stored.organizer == BOB and stored.idempotency_key_hash
    assert stored.idempotency_key_hash != env.meeting(alice.json()["id"]).idempotency_key_hash

    env.emu("DELETE", "requests")
    replay = _post(env, _body(ALICE), key)
    assert replay.status_code == 201 and replay.json()["id"] == alice.json()["id"]
    assert _calls(env) == []  # a replay, answered from the record


def test_one_users_channel_credentials_cannot_enqueue_another_users_sync(env: Env) -> None:
    """Every mix of channel id, channel token and resource id from two users' channels is
    refused; only a matching triple is accepted, and it enqueues its own calendar."""
    ids = {email: env.watch(email)["channelId"] for email in USERS}
    live = {c["id"]: c for c in env.emu("GET", "channels")}
    channel = {email: live[ids[email]] for email in USERS}
    assert channel[ALICE]["resource_id"] != channel[BOB]["resource_id"]
    signals = env.subscribe("calendar-changes")
    url = env.stack.function_urls["calendar_webhook"]

    def notify(ids_of: str, token_of: str, resource_of: str, number: int) -> requests.Response:
        headers = {
            "X-Goog-Channel-ID": channel[ids_of]["id"],
            "X-Goog-Channel-Token": channel[token_of]["token"],
            "X-Goog-Resource-ID": channel[resource_of]["resource_id"],
            "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": str(number),
            "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/x/events",
        }
        return requests.post(url, headers=headers, timeout=10)

    mixes = [m for m in itertools.product(USERS, repeat=3) if len(set(m)) > 1]
    assert len(mixes) == 6
    for n, (ids_of, token_of, resource_of) in enumerate(mixes, start=1000):
        response = notify(ids_of, token_of, resource_of, n)
        assert response.status_code == 403, (ids_of, token_of, resource_of, response.text)
        wrong = "X-Goog-Channel-Token" if token_of != ids_of else "X-Goog-Resource-ID"
        assert response.json()["error"]["field"] == wrong
    assert env.pull(signals) == []

    # control: bob's own triple is accepted, and what it enqueues is bob's calendar only
    assert notify(BOB, BOB, BOB, 2000).status_code == 202
    got = wait_for(lambda: env.pull(signals), what="bob's signal")
    assert [(s["calendar_key"], s["message_number"]) for s in got] == [(f"{BOB}:{BOB}", 2000)]


def _settled(env: Env, email: str) -> bool:
    """No sync running or owed, and the last one finished over 1.5 s ago (echoes of our own
    write-backs included), so nothing about this calendar is still in flight."""
    state = env.calendar_state(email)
    return (
        not state.lease_owner
        and not state.dirty
        and state.last_sync_finished is not None
        and dt.datetime.now(dt.UTC) - state.last_sync_finished > dt.timedelta(seconds=1.5)
    )


def test_a_sync_of_alices_calendar_reads_and_writes_only_alices(env: Env) -> None:
    for email in USERS:
        env.watch(email)
    mine = _post(env, _body(ALICE), "sync-alice").json()["id"]
    theirs = _post(env, _body(BOB), "sync-bob").json()["id"]
    for email in USERS:
        wait_for(functools.partial(_settled, env, email), what=f"{email} settled", timeout=60)
    before = env.meeting(theirs).to_dict()
    bob_state = env.calendar_state(BOB)
    events = env.subscribe("meeting-events")
    env.emu("DELETE", "requests")

    env.calendar_as(ALICE).events().patch(
        calendarId="primary", eventId=mine, body={"summary": "Planning, renamed"}
    ).execute()
    env.wait_meeting(mine, lambda m: m.summary == "Planning, renamed", "alice's rename synced")
    wait_for(lambda: _settled(env, ALICE), what="alice settled", timeout=60)

    calls = _calls(env)
    incremental = [c for c in calls if c["method"] == "GET" and c["query"].get("syncToken")]
    assert incremental and _acting(incremental) == {ALICE}, calls  # the sync did run, as alice
    assert _acting(calls) == {ALICE}, calls
    assert not _touching(calls, BOB), calls
    assert env.meeting(theirs).to_dict() == before
    after = env.calendar_state(BOB)
    assert (after.syncs, after.sync_token) == (bob_state.syncs, bob_state.sync_token)
    assert {e["subject"] for e in env.pull(events)} == {f"meetings/{mine}"}


def test_create_meeting_on_another_users_calendar_is_refused(env: Env) -> None:
    """The contract lets a request name a calendarId (a shared calendar the organizer may
    write to); Google decides, as the organizer. Bob's calendar is not alice's to write:
    the stored meeting ends `failed` (`calendar_refused`), and nothing is done as bob or to
    bob's calendar; the only announcement is that failure."""
    events = env.subscribe("meeting-events")
    env.emu("DELETE", "requests")
    failed = []
    for n, target in enumerate((BOB, BOB.upper())):
        response = _post(env, _body(ALICE, calendarId=target), f"other-calendar-{n}")
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["status"], body["failureReason"]) == ("failed", "calendar_refused")
        assert body["meetingUri"] is None and body["space"] is None
        failed.append(body["id"])
    calls = _calls(env)
    assert _acting(calls) <= {ALICE}, calls
    assert all(c["status"] >= 400 for c in _touching(calls, BOB)), calls  # Google said no
    assert _events(env, BOB) == [] and _events(env, ALICE) == []
    sent = env.events_until(events, lambda seen: len(seen) >= len(failed))
    assert sorted((e["subject"], e["type"]) for e in sent) == sorted(
        (f"meetings/{mid}", "meeting.failed") for mid in failed
    )


def test_watching_another_users_calendar_is_refused_and_leaves_nothing_watched(env: Env) -> None:
    """Refused by Google as alice, with nothing done as bob; and the refusal must not leave
    a `watching` record behind, or every sweep would sync bob's calendar as alice."""
    env.emu("DELETE", "requests")
    response = env.call("watch_calendar", "POST", "/calendars", {"user": ALICE, "calendarId": BOB})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["field"] == "calendarId"
    calls = _calls(env)
    assert _acting(calls) <= {ALICE}, calls
    assert all(c["status"] >= 400 for c in _touching(calls, BOB)), calls
    assert env.emu("GET", "channels") == []
    assert env.store.channels_for(f"{ALICE}:{BOB}") == []
    watched = [state.key for state in env.store.watched_calendars()]
    assert f"{ALICE}:{BOB}" not in watched, "a refused watch left the calendar watched"
