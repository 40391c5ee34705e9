"""The conference-update policy: what a changed Calendar event means for a meeting we hold.

`decide` is a pure function of (meeting record, event as Calendar returns it);
the sync service carries out its decision (Meet calls, record update, outbound
events). The table it implements is in the design: ready, failed, rescheduled,
updated, cancelled, detached, and echoes of our own writes ignored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shared.domain import event as event_
from shared.domain.ids import sha256_hex
from shared.domain.models import FailureReason, Meeting, MeetingHead, MeetingStatus

Json = dict[str, Any]

READY = "meeting.ready"
FAILED = "meeting.failed"
RESCHEDULED = "meeting.rescheduled"
UPDATED = "meeting.updated"
CANCELLED = "meeting.cancelled"
DETACHED = "meeting.detached"
CREATED = "meeting.created"


@dataclass(slots=True)
class Decision:
    fields: Json = field(default_factory=dict)
    emits: list[str] = field(default_factory=list)
    end_conference: bool = False
    resolve_space_code: str = ""
    """Meeting code whose stable `spaces/{id}` name must be looked up through Meet."""
    stamp_space: bool = False
    """Write the space name back onto the event (with If-Match)."""

    @property
    def noop(self) -> bool:
        return not (self.fields or self.emits or self.end_conference or self.stamp_space)


def is_ours(meeting: Meeting, conference: event_.Conference) -> bool:
    """Our conference: made from our requestId, or the space we created and copied in."""
    if meeting.request_id and conference.request_id == meeting.request_id:
        return True
    return bool(meeting.meeting_code) and conference.conference_id == meeting.meeting_code


def decide(meeting: Meeting, event: Json) -> Decision:
    """What to do about `event`, the latest state of `meeting`'s Calendar event."""
    decision = Decision()
    etag = str(event.get("etag", ""))
    if meeting.status == MeetingStatus.CANCELLED or meeting.gave_up:
        return decision  # terminal (a create that gave up deleted its own event)
    if etag and etag == meeting.event_etag:
        # an echo or duplicate of what we hold; but create_meeting may have seen the
        # conference become ready first, and the stamp is the sync's job
        decision.stamp_space = _needs_stamp(meeting, event)
        return decision
    decision.fields.update(event_etag=etag, event_updated=str(event.get("updated", "")))

    if event.get("status") == "cancelled":
        decision.fields["status"] = MeetingStatus.CANCELLED
        decision.end_conference = bool(meeting.space) and meeting.status != MeetingStatus.DETACHED
        decision.emits.append(CANCELLED)
        return decision

    conference = event_.Conference.of(event)
    if meeting.status != MeetingStatus.DETACHED:
        _decide_conference(meeting, event, conference, decision)

    start, end = event_.times(event, "start"), event_.times(event, "end")
    if (start, end) != (meeting.start, meeting.end):
        decision.fields.update(start=start, end=end)
        decision.emits.append(RESCHEDULED)
    summary, attendees = str(event.get("summary", "")), event_.attendee_emails(event)
    if summary != meeting.summary or attendees != meeting.attendees:
        decision.fields.update(summary=summary, attendees=attendees)
        decision.emits.append(UPDATED)
    if event.get("htmlLink") and event["htmlLink"] != meeting.html_link:
        decision.fields["html_link"] = event["htmlLink"]
    recurrence = [str(line) for line in event.get("recurrence") or []]
    if recurrence != meeting.recurrence:  # kept quietly: how long the space is followed
        decision.fields["recurrence"] = recurrence
    return decision


def settled(head: MeetingHead, event: Json) -> bool:
    """True when `decide` would surely do nothing for `event`, judged from the meeting's
    head alone: the record is terminal, or holds this very event version (same etag) and
    no stamp is owed. A full sync reads whole records only for the rest."""
    if head.status == MeetingStatus.CANCELLED:
        return True
    etag = str(event.get("etag", ""))
    if not etag or etag != head.event_etag:
        return False
    return (
        head.status != MeetingStatus.READY
        or not head.space
        or event_.stamped_space(event) == head.space
    )


def audit(meeting: Meeting, event: Json) -> Decision:
    """`decide` as if the record had never seen this version of the event, so a record that
    disagrees with its event is corrected even when it holds the event's etag (the audit:
    it trusts nothing the record says about the event). A no-op when they agree: fields the
    record already holds are not written again."""
    decision = decide(dataclasses.replace(meeting, event_etag=""), event)
    if decision.emits or decision.end_conference or decision.resolve_space_code:
        return decision
    if decision.stamp_space or any(getattr(meeting, k) != v for k, v in decision.fields.items()):
        return decision
    return Decision()


def _needs_stamp(meeting: Meeting, event: Json) -> bool:
    """A ready meeting of ours whose event does not carry its space name yet."""
    conference = event_.Conference.of(event)
    return (
        meeting.status == MeetingStatus.READY
        and bool(meeting.space)
        and conference is not None
        and is_ours(meeting, conference)
        and conference.ready
        and event_.stamped_space(event) != meeting.space
    )


def _decide_conference(
    meeting: Meeting, event: Json, conference: event_.Conference | None, decision: Decision
) -> None:
    if conference is None or not is_ours(meeting, conference):
        decision.fields["status"] = MeetingStatus.DETACHED
        decision.emits.append(DETACHED)
        return
    if conference.ready:
        decision.stamp_space = not meeting.space or event_.stamped_space(event) != meeting.space
    if meeting.status == MeetingStatus.PENDING and conference.ready:
        code = conference.conference_id
        decision.fields.update(
            status=MeetingStatus.READY,
            meeting_code=code,
            meeting_uri=conference.uri or f"https://meet.google.com/{code}",
        )
        if not meeting.space:
            decision.resolve_space_code = code
        decision.emits.append(READY)
    elif meeting.status == MeetingStatus.PENDING and conference.status == "failure":
        decision.fields["status"] = MeetingStatus.FAILED
        decision.fields["failure_reason"] = FailureReason.CONFERENCE_FAILED.value
        decision.emits.append(FAILED)


def auditable(meeting: Meeting) -> bool:
    """Whether the audit has anything to compare: an event of ours that we still follow
    (not cancelled, and not a create that gave up and deleted its own event)."""
    return (
        bool(meeting.event_id and meeting.calendar_key)
        and meeting.status != MeetingStatus.CANCELLED
        and not meeting.gave_up
    )


def audit_schedule(
    meeting: Meeting, now: dt.datetime, period: dt.timedelta, fraction: float
) -> Json:
    """Fields keeping `meeting` in (or out of) the audit: a meeting that becomes auditable
    is first due at a random point (`fraction` of `period`) ahead, so meetings made
    together are not audited together; one that stops being auditable leaves it."""
    if not auditable(meeting):
        return {"next_audit_at": None} if meeting.next_audit_at is not None else {}
    if meeting.next_audit_at is None:
        return {"next_audit_at": now + period * fraction}
    return {}


CANCELLED_RETENTION = dt.timedelta(days=30)
"""A cancelled meeting's record is deleted this long after the cancellation (Firestore
TTL on `purge_at`): it answers GET and idempotent retries until then."""


def apply(meeting: Meeting, fields: Json, now: dt.datetime, *, emits: bool = True) -> Meeting:
    """A new record with `fields` set and `updated_at` moved; the version is bumped when the
    change is announced, since it is part of the announcement's id. A cancellation sets the
    record's purge time."""
    version = meeting.version + 1 if emits else meeting.version
    if fields.get("status") == MeetingStatus.CANCELLED and meeting.purge_at is None:
        fields = {**fields, "purge_at": now + CANCELLED_RETENTION}
    return dataclasses.replace(meeting, **fields, version=version, updated_at=now)


def cloud_event(
    meeting: Meeting,
    kind: str,
    now: dt.datetime,
    source: str,
    *,
    key: str = "",
    extra: Json | None = None,
) -> Json:
    """The outbound CloudEvent (structured JSON). Its id is stable for one change of one
    meeting (meeting id, kind, record version, and `key` when one change announces several
    facts of a kind: two recordings ready at once), so a re-delivery carries the same id.
    `extra` joins the meeting's view in `data` (the recording a `recording_ready` is for)."""
    fact = f"{meeting.id}:{kind}:{meeting.version}" + (f":{key}" if key else "")
    return {
        "specversion": "1.0",
        "id": sha256_hex(fact)[:32],
        "source": source,
        "type": kind,
        "subject": f"meetings/{meeting.id}",
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": {**meeting.public(), **(extra or {})},
    }
