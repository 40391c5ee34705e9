"""The dead letter: a signal that really failed in the worker, and was dead-lettered, is
listed with why; replayed, it reaches the worker again; an interrupted replay loses nothing."""

from __future__ import annotations

import datetime as dt
import json
import signal as signals

from devstack.driver import Env, wait_for
from shared.domain.models import calendar_key
from tests.cli.support import Cli, dead_letter_through_the_worker, dead_letters, publish_dead_letter
from tests.cli.support import signal as change_signal

ALICE = "alice@example.com"
KEY = calendar_key(ALICE, "primary")


def test_a_dead_lettered_signal_is_listed_with_why_and_replayed_to_the_worker(
    env: Env, cli: Cli
) -> None:
    # Google's notifications are lost from the start: no signal but ours reaches the worker
    # (one that failed for real would meet the emulator's broken dead-lettering)
    env.emu("POST", "push", {"drop_rate": 1.0})
    env.emu("POST", "config", {"conference_delay_ms": 0})
    channel = env.watch(ALICE)["channelId"]
    mid = str(env.create_meeting(ALICE, "Before")["id"])
    assert env.meeting(mid).status == "ready"
    # the user renames the event while Calendar fails for the product: the change
    # signal fails on every attempt, and Pub/Sub dead-letters it
    env.calendar_as(ALICE).events().patch(
        calendarId="primary", eventId=mid, body={"summary": "Renamed during the outage"}
    ).execute()
    env.emu("POST", "faults", {"status": 500, "api": "calendar", "method": "GET", "count": None})
    answers = dead_letter_through_the_worker(env, change_signal(KEY, channel))
    assert answers == [500] * 5
    env.emu("DELETE", "faults")
    assert env.meeting(mid).summary == "Before"

    listed = cli.json("dlq", "list", code=1)  # something is dead-lettered: exit 1
    assert listed["depth"] == 1
    (letter,) = listed["messages"]
    assert letter["calendar_key"] == KEY and letter["ordering_key"] == KEY
    assert letter["signal"]["channel_id"] == channel and letter["decodable"] is True
    assert letter["reason"].startswith("TransientError: calendar.events.list: HTTP 500")
    assert letter["attempts"] == 5 and letter["age_seconds"] >= 0
    assert cli.json("status", code=1)["dead_letter"] == {"depth": 1}
    table = cli("dlq", "list")
    assert table.code == 1 and "TransientError" in table.out

    dry = cli.json("dlq", "replay", "--dry-run")
    assert [r["message_id"] for r in dry["replayed"]] == [letter["message_id"]]
    assert len(dead_letters(env, take=False)) == 1  # a dry run changes nothing
    # the failed sync left its lease to expire (a replay meanwhile would only mark the
    # calendar dirty for the dead holder): an operator replays after fixing the cause
    wait_for(
        lambda: (
            (state := env.calendar_state(ALICE)).lease_expires is not None
            and state.lease_expires < dt.datetime.now(dt.UTC)
        ),
        what="the failed sync's lease to expire",
        timeout=40,
    )

    replayed = cli.json("dlq", "replay")
    (entry,) = replayed["replayed"]
    assert entry["message_id"] == letter["message_id"] and entry["new_message_id"]
    assert entry["reason"] == letter["reason"] and replayed["interrupted"] is False
    assert dead_letters(env, take=False) == []  # acknowledged once republished
    env.wait_meeting(mid, lambda m: m.summary == "Renamed during the outage", "the replay synced")
    assert cli.json("dlq", "list")["depth"] == 0


def test_poison_is_listed_skipped_by_replay_and_purged(env: Env, cli: Cli) -> None:
    answers = dead_letter_through_the_worker(env, {"calendar_key": 7, "received_at": "soon"})
    assert answers == [500] * 5
    (letter,) = cli.json("dlq", "list", code=1)["messages"]
    assert letter["decodable"] is False and letter["signal"] is None
    assert letter["reason"].startswith("poison: ") and letter["attempts"] == 5

    replay = cli.json("dlq", "replay", code=1)  # left there: exit 1
    assert replay["replayed"] == [] and replay["skipped"] == [
        {"message_id": letter["message_id"], "why": "undecodable"}
    ]
    assert len(dead_letters(env, take=False)) == 1
    assert cli.json("dlq", "purge", "--poison-only", "--dry-run")["dropped"] == [
        letter["message_id"]
    ]
    assert cli.json("dlq", "purge", "--poison-only")["dropped"] == [letter["message_id"]]
    assert dead_letters(env, take=False) == []


def test_an_interrupted_replay_loses_no_message(env: Env, cli: Cli) -> None:
    """SIGINT to the installed `meetsync` mid-replay: every message is republished to
    calendar-changes or still in the dead letter (or both, when the interrupt fell between
    the confirmed publish and the acknowledgement)."""
    total = 30
    nobody = "nobody@example.com:nobody@example.com"  # not watched: the worker acks them
    for n in range(total):
        data = json.dumps(change_signal(nobody, f"sigint-{n}", n)).encode()
        publish_dead_letter(env, data, nobody, calendar=nobody)
    observed = env.subscribe("calendar-changes")
    republished: set[str] = set()

    def seen(count: int) -> bool:
        republished.update(s["channel_id"] for s in env.pull(observed))
        return len(republished) >= count

    replay = cli.script("--json", "dlq", "replay", "--rate", "8")
    try:
        wait_for(lambda: seen(3), what="the replay under way", timeout=30)
        replay.send_signal(signals.SIGINT)
        out, err = replay.communicate(timeout=60)
    finally:
        if replay.poll() is None:
            replay.kill()
    assert replay.returncode == 130, err
    report = json.loads(out)
    assert report["interrupted"] is True

    wait_for(lambda: seen(len(report["replayed"])), what="confirmed publishes observed")
    left = {json.loads(m.data)["channel_id"] for m in dead_letters(env, take=True)}
    every = {f"sigint-{n}" for n in range(total)}
    assert republished | left == every  # nothing lost
    assert republished and left  # it was interrupted mid-run
    reported = {r["message_id"] for r in report["replayed"]}
    assert len(reported) == len(report["replayed"]) <= len(republished)
