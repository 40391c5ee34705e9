"""Repositories against the real Firestore emulator: round trips and contended writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import Any

from google.cloud import firestore

from devstack.stack import Stack
from shared.domain import lease
from shared.domain.lease import Acquire
from shared.domain.models import (
    CalendarState,
    Channel,
    Meeting,
    MeetingHead,
    User,
    calendar_key,
)
from shared.store.firestore import Store

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def make_store(stack: Stack) -> Store:
    return Store(firestore.Client(project=stack.project))


def test_records_round_trip(emulators: Stack) -> None:
    store = make_store(emulators)
    store.put_user(User(email="Alice@Example.com"))
    assert store.get_user("alice@example.com") == User(
        email="alice@example.com",
        created_at=store.get_user("alice@example.com").created_at,  # type: ignore[union-attr]
    )
    key = calendar_key("alice@example.com", "alice@example.com")
    store.put_calendar(
        CalendarState(key=key, owner="alice@example.com", calendar_id="alice@example.com")
    )
    got = store.get_calendar(key)
    assert got is not None and got.status == "watching" and got.sync_token == ""
    channel = Channel(id="c1", calendar_key=key, resource_id="r1", token_hash="h", expiration=NOW)
    store.put_channel(channel)
    assert store.get_channel("c1") == channel
    assert store.get_channel("no/such") is None
    meeting = Meeting(id="m1", organizer="alice@example.com", mode="calendar", calendar_key=key)
    stored, created = store.create_meeting(meeting)
    assert created and stored == meeting
    assert store.get_meeting("m1") == meeting
    assert store.meeting_heads(key, ["pending"]) == [MeetingHead("m1", "", "", "pending", "")]
    assert store.meeting_heads(key, ["ready"]) == []
    # the projection read straight from the protobuf: every head field, this calendar only
    ready = dataclasses.replace(
        meeting, id="m2", event_id="e2", event_etag='"3"', status="ready", space="spaces/s2"
    )
    store.create_meeting(ready)
    store.create_meeting(dataclasses.replace(ready, id="m3", calendar_key="bob:bob"))
    assert store.meeting_heads(key, ["pending", "ready"]) == [
        MeetingHead("m1", "", "", "pending", ""),
        MeetingHead("m2", "e2", '"3"', "ready", "spaces/s2"),
    ]


def test_create_meeting_race_has_one_winner(emulators: Stack) -> None:
    store = make_store(emulators)
    results: list[bool] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        _, created = store.create_meeting(
            Meeting(id="same", organizer="alice@example.com", mode="calendar", summary=f"try {i}")
        )
        with lock:
            results.append(created)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def release(store: Store, key: str, owner: str) -> bool:
    return store.modify_calendar(
        key, lambda s: lease.release(s, owner=owner, now=NOW, lease_seconds=60)
    )


def save(store: Store, key: str, owner: str, token: str) -> bool:
    return store.modify_calendar(
        key, lambda s: lease.save_token(s, owner=owner, token=token, version=1)
    )


def test_lease_under_contention_one_holder_others_mark_dirty(emulators: Stack) -> None:
    store = make_store(emulators)
    key = calendar_key("alice@example.com", "primary")
    store.put_calendar(CalendarState(key=key, owner="alice@example.com", calendar_id="primary"))
    outcomes: list[Acquire] = []
    lock = threading.Lock()

    def take(i: int) -> None:
        decision = store.modify_calendar(
            key, lambda s: lease.acquire(s, owner=f"w{i}", now=NOW, lease_seconds=60).pair()
        )
        with lock:
            outcomes.append(decision)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(Acquire.ACQUIRED) == 1
    assert outcomes.count(Acquire.MARKED_DIRTY) == 5
    state = store.get_calendar(key)
    assert state is not None and state.dirty and state.lease_owner.startswith("w")
    holder = state.lease_owner
    # The holder must sync again once (dirty), then releases.
    assert release(store, key, holder) is True
    assert release(store, key, holder) is False
    final = store.get_calendar(key)
    assert final is not None and final.lease_owner == "" and not final.dirty and final.syncs == 2


def test_expired_lease_is_taken_over_and_old_holder_cannot_save(emulators: Stack) -> None:
    store = make_store(emulators)
    key = calendar_key("alice@example.com", "primary")
    store.put_calendar(CalendarState(key=key, owner="alice@example.com", calendar_id="primary"))
    assert (
        store.modify_calendar(
            key, lambda s: lease.acquire(s, owner="dead", now=NOW, lease_seconds=60).pair()
        )
        is Acquire.ACQUIRED
    )
    later = NOW + dt.timedelta(seconds=61)
    assert (
        store.modify_calendar(
            key, lambda s: lease.acquire(s, owner="new", now=later, lease_seconds=60).pair()
        )
        is Acquire.ACQUIRED
    )
    assert save(store, key, "dead", "stale") is False
    assert save(store, key, "new", "fresh") is True
    state = store.get_calendar(key)
    assert state is not None and state.sync_token == "fresh"


def test_concurrent_read_modify_writes_all_apply(emulators: Stack) -> None:
    """Optimistic writes (update-time preconditions, no locks): racing writers retry, and
    no increment is lost."""
    store = make_store(emulators)
    store.create_meeting(Meeting(id="counted", organizer="alice@example.com", mode="calendar"))

    def bump(_: int) -> None:
        for _ in range(5):
            store.update_meeting("counted", lambda m: dataclasses.replace(m, version=m.version + 1))

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.get_meeting("counted")
    assert final is not None and final.version == 30


def test_an_update_replaces_nested_maps_whole(emulators: Stack) -> None:
    store = make_store(emulators)
    start = {"dateTime": "2026-12-01T10:00:00Z", "timeZone": "Europe/Paris"}
    store.create_meeting(Meeting(id="m", organizer="a@example.com", mode="calendar", start=start))
    store.update_meeting("m", lambda m: dataclasses.replace(m, start={"date": "2026-12-01"}))
    got = store.get_meeting("m")
    assert got is not None and got.start == {"date": "2026-12-01"}
    assert store.update_meeting("absent", lambda m: m) is None
    assert store.get_meeting("absent") is None


def test_pending_announcements_are_found_per_calendar(emulators: Stack) -> None:
    store = make_store(emulators)
    key = calendar_key("alice@example.com", "primary")
    other = calendar_key("bob@example.com", "primary")
    event = {"id": "e1", "type": "meeting.ready", "data": {"start": None}}
    for mid, cal, outbox in [("a", key, [event]), ("b", key, []), ("c", other, [event])]:
        store.create_meeting(
            Meeting(id=mid, organizer="x@example.com", mode="calendar", calendar_key=cal,
                    outbox=outbox)
        )  # fmt: skip
    assert [m.id for m in store.pending_announcements(key)] == ["a"]
    assert store.pending_announcements(key)[0].outbox == [event]
    store.update_meeting("a", lambda m: dataclasses.replace(m, outbox=[]))
    assert store.pending_announcements(key) == []


def test_backfill_pages_through_and_rereads_a_page_someone_wrote_meanwhile(
    emulators: Stack,
) -> None:
    """Five old records, pages of two: a write racing the first page's batch (made here
    while the page is being decided) fails its preconditions; the page is read again and
    filled, nothing is counted twice and the racing write is kept."""
    store = make_store(emulators)
    documents = store.client.collection("backfill_test")
    for n in range(5):
        documents.document(f"r{n}").set({"n": n})
    raced: list[str] = []

    def fill(record_id: str, data: dict[str, Any]) -> dict[str, Any]:
        if record_id == "r0" and not raced:
            raced.append(record_id)
            documents.document("r1").update({"touched": True})  # another writer
        return {} if "filled" in data else {"filled": data["n"] * 10}

    pages: list[tuple[int, int]] = []
    count = store.backfill(
        "backfill_test", fill, page_size=2, on_page=lambda s, f: pages.append((s, f))
    )
    assert (count.scanned, count.filled, count.unreadable) == (5, 5, [])
    assert pages == [(2, 2), (4, 4), (5, 5)]
    stored = {d.id: d.to_dict() or {} for d in documents.stream()}
    assert {k: v["filled"] for k, v in stored.items()} == {f"r{n}": n * 10 for n in range(5)}
    assert stored["r1"]["touched"] is True
    again = store.backfill("backfill_test", fill, page_size=2)
    assert (again.scanned, again.filled) == (5, 0)
