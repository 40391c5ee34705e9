"""Every meeting converges (issue 14, part B) on the in-memory adapters: reconciliation of a
meeting whose create is still in flight, a create racing a full sync, the cancelled
series of fault-suite seed 6022, and the audit that corrects any record that disagrees
with its event."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from shared.domain import conference
from shared.domain.errors import AuthRevokedError, BudgetExhaustedError, GoneError
from shared.domain.event import SPACE_PROPERTY, private_property
from shared.domain.models import Meeting, MeetingStatus, RunOutcome
from shared.domain.shards import shard_of
from shared.memory import ready_conference
from shared.services.audit import Auditor, AuditReport
from shared.services.decisions import ConferenceActions
from shared.services.maintenance import Dispatch, MaintenanceService, dispatch_request, parse
from tests.unit.support import ALICE, KEY, System, system

PERIOD = dt.timedelta(hours=24)
MOVED = {
    "start": {"dateTime": "2026-12-02T10:00:00Z"},
    "end": {"dateTime": "2026-12-02T11:00:00Z"},
}


def baseline(w: System, *keys: str) -> list[Meeting]:
    """Alice's calendar watched and synced once, holding one ready meeting per key."""
    w.watched()
    made = [w.create(key) for key in keys or ("k1",)]
    assert w.sync_now().outcome == "synced"
    return [w.meeting(m.id) for m in made]


def event_of(w: System, meeting: Meeting) -> dict[str, Any]:
    return w.calendar.events[KEY][meeting.event_id]


def miss_everything(w: System) -> None:
    """The calendar's sync token jumps past every change so far: whatever a sync should
    have applied is never listed again (what lost notifications plus a sync that
    wrongly skipped a change would leave behind)."""
    high = max(int(e["_seq"]) for e in w.calendar.events[KEY].values())
    w.store.update_calendar(KEY, {"sync_token": f"0:{high}"})


def auditor(
    w: System, *, window_days: int = 30, fraction: Callable[[], float] = lambda: 0.5
) -> Auditor:
    actions = ConferenceActions(
        calendar=w.calendar,
        meet=w.meet,
        store=w.store,
        sink=w.sink,
        source="//meetsync.unit/meetings",
        now=w.clock,
        audit_period=PERIOD,
        random_fraction=fraction,
    )
    return Auditor(
        store=w.store,
        calendar=w.calendar,
        actions=actions,
        period=PERIOD,
        window=dt.timedelta(days=window_days),
        now=w.clock,
        random_fraction=fraction,
    )


def audit_all(w: System, audit: Auditor) -> AuditReport:
    """Every shard's due meetings, as the maintenance jobs of one run would."""
    merged = AuditReport()
    for shard in range(64):
        report, resume = audit.audit_shard(shard, due=w.clock())
        assert resume is None
        for name in ("in_step", "corrected", "left", "waiting", "auth_revoked", "errors"):
            getattr(merged, name).extend(getattr(report, name))
    return merged


def due(w: System, meeting_id: str) -> None:
    """Make a meeting due for the audit now."""
    w.store.meetings[meeting_id].next_audit_at = w.clock() - dt.timedelta(seconds=1)


# -- race (a): reconciliation of a meeting whose create is still in flight ------------------


def test_an_event_deleted_while_its_create_polls_is_cancelled_by_the_full_sync() -> None:
    """The user deletes the event while create_meeting polls its conference (no etag on
    the record yet) and the token dies; Calendar answers the deleted event's get with 410.
    The full sync's reconciliation cancels the meeting: 410 says it was inserted."""
    w = system()
    w.watched()
    w.sync_now()
    w.calendar.conference_ready = False  # the create polls
    seen: list[str] = []

    def user_deletes_then_a_full_sync(method: str) -> None:
        if method != "events.get" or seen:
            return
        mid = next(iter(w.store.meetings))
        seen.append(w.meeting(mid).event_etag)
        w.calendar.delete(ALICE, "primary", mid)
        w.calendar.invalidate_sync_tokens(ALICE, "primary")
        w.calendar.fail["events.get"] = GoneError("deleted", status=410, reason="deleted")
        w.sync_now()
        seen.append(w.meeting(mid).status)

    w.calendar.before = user_deletes_then_a_full_sync
    made = w.create()
    w.calendar.before = None
    assert seen == ["", MeetingStatus.CANCELLED]  # cancelled by the sync, not the poll
    assert w.meeting(made.id).status == MeetingStatus.CANCELLED
    assert w.sink.types(made.id).count("meeting.cancelled") == 1


def test_a_missing_event_never_seen_is_left_to_its_create() -> None:
    """404 for an event the record never saw: its create has not inserted it yet (seed 82).
    Reconciliation leaves it pending; the create owns it."""
    w = system()
    w.watched()
    w.sync_now()
    pending = Meeting(
        id="inflight",
        organizer=ALICE,
        mode="calendar",
        calendar_key=KEY,
        calendar_id="primary",
        event_id="inflight",
        request_id="inflight",
    )
    w.store.create_meeting(pending)
    w.calendar.invalidate_sync_tokens(ALICE, "primary")
    assert w.sync_now().full_syncs == 1
    assert w.meeting("inflight").status == MeetingStatus.PENDING


# -- race (b): a create's ready write racing a full sync -------------------------------------


def test_a_ready_write_during_a_full_sync_still_gets_its_stamp() -> None:
    """The heads are read before the listing; create_meeting (a client's GET) turns the
    record ready while the sync lists. The sync, not the event's next change, stamps it."""
    w = system()
    w.watched()
    w.sync_now()
    w.calendar.conference_ready = False
    made = w.create()
    assert made.status == MeetingStatus.PENDING
    event = event_of(w, made)
    ready_conference(event)
    w.calendar.put(ALICE, "primary", event)  # the conference is ready (a new version)
    w.calendar.invalidate_sync_tokens(ALICE, "primary")
    fired: list[str] = []

    def client_reads_the_meeting(method: str) -> None:
        if method == "events.list" and not fired:
            fired.append(method)
            assert w.meetings.get(made.id).status == MeetingStatus.READY  # no stamp: sync's

    w.calendar.before = client_reads_the_meeting
    report = w.sync_now()
    w.calendar.before = None
    assert fired and report.full_syncs == 1
    ready = w.meeting(made.id)
    assert ready.status == MeetingStatus.READY
    assert private_property(event_of(w, made), SPACE_PROPERTY) == ready.space
    assert ready.event_etag == event_of(w, made)["etag"]


# -- seed 6022: a cancelled series after an invalidated token ---------------------------------


def test_a_cancelled_series_with_a_moved_occurrence_is_cancelled_after_a_410() -> None:
    """Seed 6022's story: the series moved, one occurrence moved (an exception carrying our
    marker), the series renamed while every notification was lost, the token invalidated
    and the series cancelled (its exception with it)."""
    w = system()
    (m,) = baseline(w)
    w.meet.active.add(m.space)
    w.calendar.edit(ALICE, "primary", m.event_id, recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"])
    w.sync_now()
    w.calendar.edit(ALICE, "primary", m.event_id, **MOVED)
    w.sync_now()
    occurrence = {
        **event_of(w, m),
        "id": f"{m.event_id}_20261209T100000Z",
        "recurringEventId": m.event_id,
        "summary": "one-off",
    }
    occurrence.pop("recurrence")
    w.calendar.put(ALICE, "primary", occurrence)
    w.sync_now()
    w.calendar.edit(ALICE, "primary", m.event_id, summary="Renamed series")  # notification lost
    w.calendar.invalidate_sync_tokens(ALICE, "primary")
    w.calendar.delete(ALICE, "primary", m.event_id)
    w.calendar.delete(ALICE, "primary", occurrence["id"])

    report = w.sync_now()

    assert report.full_syncs == 1
    assert w.meeting(m.id).status == MeetingStatus.CANCELLED
    assert w.meet.ended == [m.space]
    assert w.sink.types(m.id)[-1] == "meeting.cancelled"


def test_the_audit_corrects_a_ready_record_whose_series_is_cancelled() -> None:
    """Whatever made every sync miss the cancellation (seed 6022), the audit reads the
    event, cancels the record and ends its conference, as a sync would have."""
    w = system()
    (m,) = baseline(w)
    w.meet.active.add(m.space)
    w.calendar.edit(ALICE, "primary", m.event_id, recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"])
    w.sync_now()
    w.calendar.delete(ALICE, "primary", m.event_id)
    miss_everything(w)
    assert w.sync_now().emitted == []  # the sync no longer sees it
    assert w.meeting(m.id).status == MeetingStatus.READY
    due(w, m.id)

    report = audit_all(w, auditor(w))

    assert report.corrected == [m.id]
    assert w.meeting(m.id).status == MeetingStatus.CANCELLED
    assert w.meeting(m.id).next_audit_at is None  # cancelled: out of the audit
    assert w.meet.ended == [m.space]
    assert w.sink.types(m.id)[-1] == "meeting.cancelled"


# -- the audit -----------------------------------------------------------------------------------


def test_a_meeting_that_becomes_ready_is_first_audited_within_a_period() -> None:
    w = system()
    (m,) = baseline(w)
    assert m.next_audit_at is not None
    assert w.clock() <= m.next_audit_at <= w.clock() + PERIOD
    assert m.shard == shard_of(m.id)


def test_the_audit_corrects_a_change_every_sync_missed() -> None:
    w = system()
    (m,) = baseline(w)
    w.calendar.edit(ALICE, "primary", m.event_id, summary="Renamed", **MOVED)
    miss_everything(w)
    w.sync_now()
    assert w.meeting(m.id).summary == "Planning"
    due(w, m.id)

    report = audit_all(w, auditor(w))

    after = w.meeting(m.id)
    assert report.corrected == [m.id] and report.errors == []
    assert (after.summary, after.start) == ("Renamed", MOVED["start"])
    assert after.event_etag == event_of(w, m)["etag"]
    assert w.sink.types(m.id)[-2:] == ["meeting.rescheduled", "meeting.updated"]
    assert w.calendar.calls["events.get"] >= 1


def test_the_audit_trusts_no_etag_a_wrong_record_holds() -> None:
    """A record that holds the event's etag and still disagrees (written wrong by some
    writer) is corrected too: the audit decides as if it had never seen the event."""
    w = system()
    (m,) = baseline(w)
    w.store.meetings[m.id].summary = "Wrong"
    due(w, m.id)
    report = audit_all(w, auditor(w))
    assert report.corrected == [m.id]
    assert w.meeting(m.id).summary == "Planning"
    assert w.sink.types(m.id)[-1] == "meeting.updated"


def test_the_audit_writes_a_stamp_the_event_still_owes() -> None:
    w = system()
    (m,) = baseline(w)
    event = event_of(w, m)
    del event["extendedProperties"]["private"][SPACE_PROPERTY]
    w.calendar.put(ALICE, "primary", event)
    miss_everything(w)
    due(w, m.id)
    report = audit_all(w, auditor(w))
    assert report.corrected == [m.id]
    assert private_property(event_of(w, m), SPACE_PROPERTY) == m.space
    assert w.meeting(m.id).event_etag == event_of(w, m)["etag"]


def test_a_meeting_in_step_is_read_at_most_once_per_period_and_not_written() -> None:
    w = system()
    (m,) = baseline(w)
    audit = auditor(w, fraction=lambda: 0.0)
    due(w, m.id)
    writes = w.store.writes_by_doc[f"meetings/{m.id}"]
    version = w.meeting(m.id).version

    first = audit_all(w, audit)
    gets = w.calendar.calls["events.get"]
    w.clock.advance(PERIOD.total_seconds() - 60)
    second = audit_all(w, audit)

    assert first.in_step == [m.id] and second.in_step == []
    assert w.calendar.calls["events.get"] == gets  # not read again within the period
    assert w.meeting(m.id).version == version  # nothing announced
    assert w.store.writes_by_doc[f"meetings/{m.id}"] == writes + 1  # its next audit time
    w.clock.advance(120)
    assert audit_all(w, audit).in_step == [m.id]


def test_audits_are_spread_over_a_quarter_period() -> None:
    w = system()
    made = baseline(w, *(f"k{i}" for i in range(8)))
    fractions = iter(i / 8 for i in range(100))
    audit = auditor(w, fraction=lambda: next(fractions))
    for meeting in made:
        due(w, meeting.id)
    audit_all(w, audit)
    times = sorted(w.meeting(m.id).next_audit_at or w.clock() for m in made)
    assert len(set(times)) == len(made)
    assert all(w.clock() + PERIOD <= t <= w.clock() + PERIOD * 1.25 for t in times)


def test_meetings_no_longer_followed_leave_the_audit() -> None:
    w = system()
    gone, ended, pending = baseline(w, "gone", "ended", "pending")
    w.store.meetings[gone.id].status = MeetingStatus.CANCELLED
    past = {"dateTime": "2026-09-01T10:00:00Z"}  # long before the 30-day window
    w.calendar.edit(ALICE, "primary", ended.event_id, start=past, end=past)
    w.sync_now()
    w.store.meetings[pending.id] = dataclasses.replace(
        w.store.meetings[pending.id], status=MeetingStatus.PENDING, event_etag=""
    )
    for meeting in (gone, ended, pending):
        due(w, meeting.id)
    gets = w.calendar.calls["events.get"]

    report = audit_all(w, auditor(w))

    assert sorted(report.left) == [gone.id]
    assert report.waiting == [pending.id]  # its create owns it: no Calendar read
    assert report.in_step == [ended.id]
    assert w.calendar.calls["events.get"] == gets + 1  # the ended one, read a last time
    assert w.meeting(gone.id).next_audit_at is None
    assert w.meeting(ended.id).next_audit_at is None
    assert w.meeting(pending.id).next_audit_at is not None


def test_a_spent_calendar_budget_ends_the_job_with_a_continuation() -> None:
    w = system()
    a, b = baseline(w, "a", "b")
    w.store.meetings[b.id].shard = w.store.meetings[a.id].shard
    due(w, a.id)
    due(w, b.id)
    w.calendar.fail["events.get"] = BudgetExhaustedError("spent")
    audit = auditor(w)
    report, resume = audit.audit_shard(w.meeting(a.id).shard, due=w.clock())
    assert resume is not None and report.errors == []
    follow, done = audit.audit_shard(w.meeting(a.id).shard, due=w.clock(), after=resume.after)
    assert done is None and len(follow.in_step) == 2


def test_the_audit_runs_as_a_maintenance_kind_per_shard() -> None:
    w = system()
    (m,) = baseline(w)
    due(w, m.id)
    maintenance = MaintenanceService(
        publisher=w.publisher,
        topic=w.settings.maintenance_topic,
        channels=w.channels,
        sweeper=w.sweeper,
        runs=w.store,
        sweep_age_seconds=w.settings.sweep_age_seconds,
        now=w.clock,
        monotonic=w.clock.monotonic,
        auditor=auditor(w),
    )
    w.maintenance = maintenance
    run, lists = w.run_maintenance({"kind": "audit"})
    assert lists.get("in_step") == [m.id]
    reports = [r for r in w.store.reports_of_run(run) if r.shard >= 0]
    assert len(reports) == 64 and all(r.kind == "audit" and r.done for r in reports)


def test_audit_decides_nothing_for_a_record_in_step() -> None:
    w = system()
    (m,) = baseline(w)
    assert conference.audit(m, event_of(w, m)).noop
    assert not conference.audit(dataclasses.replace(m, summary="x"), event_of(w, m)).noop


def test_a_revoked_organizer_is_reported_and_audited_a_period_later() -> None:
    w = system()
    (m,) = baseline(w)
    due(w, m.id)
    w.calendar.fail["events.get"] = AuthRevokedError("invalid_grant", status=400)
    report = audit_all(w, auditor(w))
    assert report.auth_revoked == [m.id] and report.summary()[0] == RunOutcome.ATTENTION
    assert (w.meeting(m.id).next_audit_at or w.clock()) >= w.clock() + PERIOD


def test_an_audit_of_every_followed_meeting_is_one_request_away() -> None:
    assert parse({"kind": "audit"}) == Dispatch("audit")
    assert dispatch_request({"action": "audit", "all": True}) == Dispatch("audit", sweep_all=True)
    w = system()
    (m,) = baseline(w)  # first audit within a period: not due now
    maintenance = MaintenanceService(
        publisher=w.publisher,
        topic=w.settings.maintenance_topic,
        channels=w.channels,
        sweeper=w.sweeper,
        runs=w.store,
        sweep_age_seconds=w.settings.sweep_age_seconds,
        now=w.clock,
        monotonic=w.clock.monotonic,
        auditor=auditor(w),
    )
    w.maintenance = maintenance
    assert w.run_maintenance({"kind": "audit"})[1] == {}
    assert w.run_maintenance({"kind": "audit", "all": True})[1].get("in_step") == [m.id]
