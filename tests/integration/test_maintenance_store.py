"""The maintenance queries and conditional writes against the Firestore emulator: due work of
one shard only, cursors, the renewal claim's precondition, run reports, batched publishes.
The same behaviour is asserted on the in-memory store, so the scale simulation's figures
rest on what Firestore really does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from google.cloud import firestore

from devstack.stack import Stack
from shared.domain import renewal
from shared.domain.models import CalendarState, Channel, RunReport
from shared.domain.ports import Message
from shared.domain.shards import shard_of
from shared.memory import MemoryStore
from shared.store.firestore import Store
from shared.store.pubsub import Publisher

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
M = dt.timedelta(minutes=1)


@pytest.fixture(params=["firestore", "memory"])
def store(request: pytest.FixtureRequest, emulators: Stack) -> Iterator[Store | MemoryStore]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield Store(firestore.Client(project=emulators.project))


def keys_in_one_shard(count: int) -> list[str]:
    """`count` calendar keys that share a shard (and one from another shard last)."""
    keys: list[str] = []
    n = 0
    while len(keys) < count:
        key = f"u{n}@example.com:u{n}@example.com"
        if not keys or shard_of(key) == shard_of(keys[0]):
            keys.append(key)
        n += 1
    other = next(
        f"v{i}@example.com:v{i}@example.com"
        for i in range(1000)
        if shard_of(f"v{i}@example.com:v{i}@example.com") != shard_of(keys[0])
    )
    return [*keys, other]


def test_the_sweep_reads_its_shards_stale_watched_calendars_in_order(
    store: Store | MemoryStore,
) -> None:
    *same, other = keys_in_one_shard(5)
    shard = shard_of(same[0])
    for i, key in enumerate([*same, other]):
        owner = key.split(":")[0]
        state = CalendarState(key=key, owner=owner, calendar_id=owner)
        state.next_sweep_at = NOW - (i + 1) * M  # all stale; older further down the list
        if i == 1:
            state.status = "stopped"
        if i == 2:
            state.next_sweep_at = NOW + M  # synced recently: not due
        store.put_calendar(state)
    due = store.calendars_to_sweep(shard, NOW, after=None, limit=10)
    assert [s.key for s in due] == [same[4], same[3], same[0]]  # oldest first
    page = store.calendars_to_sweep(shard, NOW, after=None, limit=2)
    assert [s.key for s in page] == [same[4], same[3]]
    rest = store.calendars_to_sweep(shard, NOW, after=page[-1].next_sweep_at, limit=2)
    assert [s.key for s in rest] == [same[0]]


def test_renewal_reads_due_channels_of_its_shard(store: Store | MemoryStore) -> None:
    *same, other = keys_in_one_shard(3)
    shard = shard_of(same[0])
    store.put_channel(Channel("a", same[0], "r", "h", NOW + 10 * M))
    store.put_channel(Channel("b", same[1], "r", "h", NOW + 5 * M))
    store.put_channel(Channel("late", same[2], "r", "h", NOW + 600 * M))
    store.put_channel(Channel("elsewhere", other, "r", "h", NOW + M))
    stopping = Channel("s", same[0], "r", "h", NOW + 20 * M, state="stopping", stop_after=NOW - M)
    store.put_channel(stopping)
    store.put_channel(
        Channel("s-later", same[1], "r", "h", NOW + 20 * M, state="stopping", stop_after=NOW + M)
    )
    window = NOW + 60 * M
    assert [c.id for c in store.channels_expiring(shard, window, after=None, limit=10)] == [
        "b",
        "a",
    ]
    assert [c.id for c in store.channels_expiring(shard, window, after=NOW + 5 * M, limit=10)] == [
        "a"
    ]
    assert [c.id for c in store.channels_to_stop(shard, NOW, after=None, limit=10)] == ["s"]


def test_only_one_of_two_renewal_runs_claims_a_channel(store: Store | MemoryStore) -> None:
    store.put_channel(Channel("c", "a:a", "r", "h", NOW + M))

    def claim(who: str, at: dt.datetime) -> bool:
        return store.modify_channel(
            "c", lambda ch: renewal.claim(ch, claimant=who, now=at, hold=5 * M)
        )

    assert claim("run-1", NOW) is True
    assert claim("run-2", NOW + M) is False  # held
    replaced = store.modify_channel(
        "c",
        lambda ch: renewal.replaced(ch, claimant="run-1", replacement="c2", stop_after=NOW),
    )
    assert replaced is True
    assert claim("run-2", NOW + 10 * M) is False  # replaced: never claimed again
    stored = store.get_channel("c")
    assert stored is not None and stored.replaced_by == "c2" and stored.state == "stopping"


def test_reports_of_one_run(store: Store | MemoryStore) -> None:
    for shard in (-1, 0, 1):
        store.put_run(RunReport.of("renew", NOW, NOW, {}, outcome="ok", run="r1", shard=shard))
    store.put_run(RunReport.of("renew", NOW, NOW, {}, outcome="ok", run="r2", shard=0))
    assert sorted(r.shard for r in store.reports_of_run("r1")) == [-1, 0, 1]


def test_publish_many_publishes_every_message(emulators: Stack) -> None:
    publisher = Publisher(emulators.project)
    ids = publisher.publish_many(
        "maintenance", [Message({"kind": "sweep", "n": n}) for n in range(50)]
    )
    assert len(ids) == 50 and len(set(ids)) == 50
