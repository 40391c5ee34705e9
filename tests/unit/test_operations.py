"""What operators read back (issue 16): each meeting's announcement history, a report of
every renew and sweep run, and why the worker failed on a change signal."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from shared.domain import conference
from shared.domain.errors import PublishError, TransientError
from shared.domain.models import ANNOUNCED_KEPT, RunOutcome
from shared.domain.shards import SHARDS, shard_of
from shared.services.outbox import Announcer, queued
from shared.services.runs import latest_run
from shared.services.worker import PoisonMessageError, data_digest
from tests.unit.support import ALICE, KEY, T0, System, system
from tests.unit.test_outbox import MOVED, parts, stored

DAY = 86_400


def push(payload: Any) -> dict[str, Any]:
    """A Pub/Sub push body as functions-framework hands it to the worker."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"message": {"data": base64.b64encode(raw).decode(), "messageId": "m"}}


# -- announcement history ---------------------------------------------------------------------


def test_sent_announcements_are_noted_on_the_record_with_their_type() -> None:
    p = parts()
    p.actions.transition(p.meeting, dict(MOVED), [conference.RESCHEDULED])
    history = stored(p).announced
    assert [(h["id"], h["type"]) for h in history] == [
        (p.sink.events[0]["id"], "meeting.rescheduled")
    ]
    assert history[0]["time"] == p.sink.events[0]["time"]


def test_an_unsent_announcement_is_not_in_the_history() -> None:
    p = parts()
    p.sink.fail_next = 1
    with pytest.raises(PublishError):
        p.actions.transition(p.meeting, dict(MOVED), [conference.RESCHEDULED])
    assert stored(p).announced == []
    Announcer(store=p.store, sink=p.sink).flush(stored(p))
    assert [h["type"] for h in stored(p).announced] == ["meeting.rescheduled"]


def test_the_history_keeps_the_newest_and_a_stale_write_does_not_lose_it() -> None:
    p = parts()
    announcer = Announcer(store=p.store, sink=p.sink)
    for version in range(1, ANNOUNCED_KEPT + 6):
        event = conference.cloud_event(
            dataclasses.replace(p.meeting, version=version), conference.UPDATED, T0, "//t"
        )
        p.store.put_meeting(dataclasses.replace(stored(p), outbox=[event]))
        announcer.flush(stored(p))
    history = stored(p).announced
    assert len(history) == ANNOUNCED_KEPT
    assert history[-1]["id"] == p.sink.events[-1]["id"]
    stale = dataclasses.replace(p.meeting, summary="read long ago")  # announced == []
    assert queued(stale, stored(p)).announced == history


# -- run reports ------------------------------------------------------------------------------


def test_each_renew_run_stores_a_report_per_shard_and_one_merged_view() -> None:
    w = system()
    old = str(w.channels.watch(ALICE, "primary")["channelId"])
    w.renew()
    first = latest_run(w.store, "renew")
    assert first is not None and first.outcome == RunOutcome.OK and first.done
    assert first.counts.get("renewed", 0) == 0
    assert len([r for r in w.store.reports_of_run(first.run) if r.shard >= 0]) == SHARDS
    w.clock.advance(5 * DAY + 60)
    w.renew()
    run = latest_run(w.store, "renew")
    assert run is not None and run.run != first.run
    assert run.counts["renewed"] == 1 and run.details["renewed"] == [old]
    assert run.started_at == T0 + dt.timedelta(seconds=5 * DAY + 60)
    assert all(r.purge_at is not None for r in w.store.reports_of_run(run.run))


def test_a_channel_that_expired_before_renewal_is_reported_and_replaced() -> None:
    w = system()
    old = str(w.channels.watch(ALICE, "primary")["channelId"])
    w.clock.advance(8 * DAY)  # past its 7-day expiry: the renewal job did not run
    report = w.renew()
    assert report.expired == [old] and report.renewed == [old]
    run = latest_run(w.store, "renew")
    assert run is not None and run.outcome == RunOutcome.ATTENTION


def test_renew_errors_make_a_failed_run_and_a_crashed_job_is_reported_and_redelivered() -> None:
    w = system()
    w.channels.watch(ALICE, "primary")
    w.clock.advance(6 * DAY)
    w.calendar.fail["events.watch"] = TransientError("backend error", status=503)
    w.renew()
    run = latest_run(w.store, "renew")
    assert run is not None and run.outcome == RunOutcome.FAILED and run.counts["errors"] == 1

    def broken(*args: object, **kwargs: object) -> list[Any]:
        raise RuntimeError("firestore unavailable")

    w.store.channels_to_stop = broken  # type: ignore[method-assign]
    w.clock.advance(60)
    with pytest.raises(RuntimeError):
        w.renew()  # the first job raises: Pub/Sub would redeliver it
    crashed = latest_run(w.store, "renew")
    assert crashed is not None and crashed.outcome == RunOutcome.FAILED and not crashed.done
    assert crashed.error == "RuntimeError: firestore unavailable"


def test_each_sweep_stores_what_it_enqueued_and_a_failed_publish_fails_the_job() -> None:
    w = system()
    w.watched()
    assert w.sweep() == [KEY]
    run = latest_run(w.store, "sweep")
    assert run is not None and run.outcome == RunOutcome.OK and run.done
    assert run.details == {"enqueued": [KEY]} and run.counts == {"enqueued": 1}
    w.clock.advance(900)
    w.maintenance.handle({"kind": "sweep", "all": True})
    jobs = w.publisher.messages.pop(w.settings.maintenance_topic)
    w.publisher.fail_next = 1
    shard = shard_of(KEY)
    for data, _key, _attrs in jobs:  # the shard with the calendar publishes, and fails
        if data["shard"] != shard:
            w.maintenance.handle(data)
    with pytest.raises(PublishError):
        w.maintenance.handle(next(d for d, _k, _a in jobs if d["shard"] == shard))
    failed = latest_run(w.store, "sweep")
    assert failed is not None and failed.outcome == RunOutcome.FAILED
    assert latest_run(w.store, "renew") is None


def signal(w: System) -> dict[str, Any]:
    return {
        "calendar_key": KEY,
        "channel_id": "c1",
        "message_number": 3,
        "state": "exists",
        "received_at": w.clock().isoformat(),
    }


def test_a_poison_message_is_recorded_before_it_is_refused() -> None:
    w = system()
    body = push(b"not json")
    with pytest.raises(PoisonMessageError):
        w.worker.handle(body, "msg-1")
    with pytest.raises(PoisonMessageError):
        w.worker.handle(body, "msg-1")
    digest = data_digest(body)
    assert digest == w.store.failures_for([digest])[digest].data_sha256
    failure = w.store.failures_for([digest])[digest]
    assert failure.reason.startswith("poison: ") and failure.attempts == 2
    assert failure.message_id == "msg-1" and failure.calendar_key == ""


def test_a_failing_sync_is_recorded_by_its_data_then_raised() -> None:
    w = system()
    w.watched()
    w.calendar.fail["events.list"] = TransientError("calendar.events.list: HTTP 500", status=500)
    body = push(signal(w))
    with pytest.raises(TransientError):
        w.worker.handle(body, "msg-2")
    raw = base64.b64decode(body["message"]["data"])
    failures = w.store.failures_for([data_digest(body), "unknown"])
    assert list(failures) == [data_digest(body)]
    failure = failures[data_digest(body)]
    assert data_digest(body) == failure.digest(raw)  # what the dead-lettered copy hashes to
    assert failure.reason == "TransientError: calendar.events.list: HTTP 500"
    assert failure.calendar_key == KEY and failure.attempts == 1
    assert failure.purge_at is not None and failure.purge_at > T0 + dt.timedelta(days=7)


def test_a_recording_failure_never_hides_the_delivery_failure() -> None:
    w = system()

    def down(failure: object) -> object:
        raise RuntimeError("firestore down")

    w.store.record_failure = down  # type: ignore[assignment,method-assign]
    with pytest.raises(PoisonMessageError):
        w.worker.handle(push(b"[]"), "msg-3")
