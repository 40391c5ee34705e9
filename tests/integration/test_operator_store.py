"""The repositories operators read through (`meetsync`), against the Firestore emulator:
run reports, delivery failures, counts and per-user listings."""

from __future__ import annotations

import datetime as dt

from google.cloud import firestore

from devstack.stack import Stack
from shared.domain.models import DeliveryFailure, Meeting, RunReport, User
from shared.store.firestore import MEETINGS, USERS, Store

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def make_store(stack: Stack) -> Store:
    return Store(firestore.Client(project=stack.project))


def test_the_last_run_of_each_kind(emulators: Stack) -> None:
    store = make_store(emulators)
    assert store.last_run("renew") is None
    for started, kind, outcome in [
        (NOW - 2 * H, "renew", "ok"),
        (NOW, "renew", "failed"),
        (NOW - H, "renew", "attention"),
        (NOW + H, "sweep", "ok"),
    ]:
        store.put_run(RunReport.of(kind, started, started, {"renewed": ["c1"]}, outcome=outcome))
    last = store.last_run("renew")
    assert last is not None and last.started_at == NOW and last.outcome == "failed"
    assert last.details == {"renewed": ["c1"]} and last.counts == {"renewed": 1}


def test_a_failure_recorded_again_counts_one_more_attempt(emulators: Stack) -> None:
    store = make_store(emulators)
    digest = DeliveryFailure.digest(b"data")
    first = DeliveryFailure(digest, "m1", "TransientError: 500", "a:a", 1, NOW, NOW)
    store.record_failure(first)
    later = DeliveryFailure(digest, "m1", "TransientError: 503", "a:a", 1, NOW + H, NOW + H)
    stored = store.record_failure(later)
    assert (stored.attempts, stored.first_failed_at, stored.last_failed_at) == (2, NOW, NOW + H)
    assert stored.reason == "TransientError: 503"
    assert store.failures_for([digest, DeliveryFailure.digest(b"other")]) == {digest: stored}
    assert store.failures_for([]) == {}


def test_counts_and_listings(emulators: Stack) -> None:
    store = make_store(emulators)
    for email, status in [
        ("a@x.com", "active"),
        ("b@x.com", "active"),
        ("c@x.com", "auth_revoked"),
    ]:
        store.put_user(User(email=email, status=status))
    for n, (organizer, status) in enumerate(
        [("a@x.com", "ready"), ("a@x.com", "cancelled"), ("b@x.com", "ready")]
    ):
        store.put_meeting(Meeting(id=f"m{n}", organizer=organizer, mode="calendar", status=status))
    assert store.count_by(USERS, "status", ["active", "auth_revoked", "disconnected"]) == {
        "active": 2,
        "auth_revoked": 1,
        "disconnected": 0,
    }
    assert store.count_by(MEETINGS, "status", ["ready"]) == {"ready": 2}
    assert sorted(u.email for u in store.all_users()) == ["a@x.com", "b@x.com", "c@x.com"]
    assert sorted(m.id for m in store.meetings_by_organizer("A@x.com")) == ["m0", "m1"]
    assert [m.id for m in store.meetings_by_organizer("a@x.com", "cancelled")] == ["m1"]
