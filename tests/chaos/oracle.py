"""The fault suite's judge: what the product holds and announced, against the workspace
emulator's ground truth once the system has gone quiet.

Written apart from the product's own policy code on purpose (a second opinion, not a
copy): it reads the emulator's stored events and spaces, the meeting records from
Firestore, and every outbound CloudEvent the observer saw, and names each disagreement.

Every meeting must have converged: `pending` is never an end state. A meeting ends ready
(its event, its conference, the space stamped), cancelled or detached (following the
user), or failed: by Calendar's conference failure (its event stays and is followed), or
by the create giving up, which leaves nothing behind (no live event, no conference
running in its space). Every space our create made belongs to a meeting.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from shared.domain.models import Meeting

Json = dict[str, Any]
MARKER = "meetsyncMeeting"
SPACE_MARK = "meetsyncSpace"
SHOWN = ("status", "summary", "start", "end", "attendees", "space", "meetingUri", "meetingCode")
"""The fields of an announcement a consumer acts on; timestamps and links are not compared."""
ONCE = ("meeting.ready", "meeting.failed", "meeting.detached", "meeting.cancelled")
LIVE = frozenset(
    {"meeting.started", "meeting.ended", "meeting.recording_ready", "meeting.transcript_ready"}
)
"""Announcements of what happened in Meet (`meet_events`), not of calendar changes."""
ENDED_BY_US = "endActiveConference"
CONFERENCE_FAILED = "conference_failed"
"""The one `failure_reason` of a failed meeting whose event stays (Calendar could not make
the conference): every other failure is the create giving up, which removes its event."""


@dataclass
class World:
    """Everything the judge looks at, gathered after the system went quiet."""

    events: dict[str, Json]
    """Every stored event of every watched calendar, by event id (ids are random, unique)."""
    spaces: list[Json]
    """The emulator's spaces, with `meetingCode`, `name` and `conferences`."""
    meetings: list[Meeting]
    stream: list[Json] = field(default_factory=list)
    """Outbound CloudEvents in the order the observer received them, duplicates included."""


def _private(event: Json) -> Json:
    return dict((event.get("extendedProperties") or {}).get("private") or {})


def _times(value: Any) -> Json:
    value = value or {}
    return {k: value[k] for k in ("date", "dateTime", "timeZone") if k in value}


def _conference_state(meeting: Meeting, event: Json) -> str:
    """`ours-<status>` for the conference this meeting created or copied in, else `foreign`."""
    data = event.get("conferenceData")
    if not isinstance(data, dict):
        return "foreign"
    create = data.get("createRequest") or {}
    if meeting.request_id and create.get("requestId") == meeting.request_id:
        return f"ours-{(create.get('status') or {}).get('statusCode', '')}"
    if meeting.meeting_code and data.get("conferenceId") == meeting.meeting_code:
        return "ours-success"
    return "foreign"


def expected_status(meeting: Meeting, event: Json) -> str:
    if event.get("status") == "cancelled":
        return "cancelled"
    if meeting.status == "detached":
        return "detached"  # sticky: a conference the user removed is never taken back
    return {
        "ours-success": "ready",
        "ours-failure": "failed",
        "ours-pending": "pending",
    }.get(_conference_state(meeting, event), "detached")


def judge(world: World) -> list[str]:
    """Every disagreement between the product and the ground truth, as readable lines."""
    problems: list[str] = []
    by_id = {m.id: m for m in world.meetings}
    spaces = {s.get("name"): s for s in world.spaces}
    codes = {s.get("meetingCode"): s for s in world.spaces}
    for event in world.events.values():
        owner = _private(event).get(MARKER)
        if owner and not event.get("recurringEventId") and owner not in by_id:
            problems.append(
                f"event {event['id']} is marked as meeting {owner}, which has no record"
            )
    stream: dict[str, list[Json]] = defaultdict(list)
    for message in world.stream:
        stream[str(message.get("subject", "")).removeprefix("meetings/")].append(message)
    for meeting in world.meetings:
        problems += [
            f"meeting {meeting.id}: {p}"
            for p in _judge_meeting(meeting, world.events, spaces, codes, stream[meeting.id])
        ]
    for subject in stream.keys() - by_id.keys():
        problems.append(f"announcements for unknown meeting {subject}")
    held = {m.space for m in world.meetings if m.space}
    for space in world.spaces:
        if space.get("created_by_app") and space.get("name") not in held:
            problems.append(f"space {space.get('name')} made by us belongs to no meeting")
    return problems


def _judge_meeting(
    meeting: Meeting,
    events: dict[str, Json],
    spaces: dict[Any, Json],
    codes: dict[Any, Json],
    stream: list[Json],
) -> list[str]:
    problems = []
    if meeting.status == "pending":
        problems.append("still pending: it never converged")
    if meeting.mode == "instant":
        return problems + _judge_stream(meeting, stream)
    event = events.get(meeting.event_id)
    if meeting.status == "failed" and meeting.failure_reason != CONFERENCE_FAILED:
        return problems + _judge_given_up(meeting, event, spaces) + _judge_stream(meeting, stream)
    if event is None:
        return [*problems, f"its event {meeting.event_id!r} does not exist"]
    want = expected_status(meeting, event)
    if meeting.status != want:
        problems.append(f"status {meeting.status}, the calendar says {want}")
    space = spaces.get(meeting.space) if meeting.space else None
    if want == "cancelled":
        detached = any(m.get("type") == "meeting.detached" for m in stream)
        running = [c for c in (space or {}).get("conferences", []) if not c.get("ended")]
        if space is not None and not detached and running:
            problems.append(f"cancelled, but the conference in {meeting.space} still runs")
    else:
        seen = {
            "summary": str(event.get("summary", "")),
            "start": _times(event.get("start")),
            "end": _times(event.get("end")),
            "attendees": sorted(
                str(a.get("email", "")).lower() for a in event.get("attendees") or []
            ),
            "event_etag": str(event.get("etag", "")),
        }
        for name, value in seen.items():
            held = getattr(meeting, name)
            if held != value:
                problems.append(f"{name} is {held!r}, the calendar says {value!r}")
    if want == "ready":
        code = (event.get("conferenceData") or {}).get("conferenceId")
        truth = codes.get(code)
        if meeting.meeting_code != code or truth is None or meeting.space != truth.get("name"):
            problems.append(f"conference {meeting.meeting_code}/{meeting.space} is not {code}")
        if _private(event).get(SPACE_MARK) != meeting.space:
            problems.append(f"the event is stamped {_private(event).get(SPACE_MARK)!r}")
    if meeting.status == "detached" and space is not None:
        ended = [c for c in space.get("conferences", []) if c.get("ended_by") == ENDED_BY_US]
        if ended:
            problems.append("detached, yet its conference was ended by us")
    return problems + _judge_stream(meeting, stream)


def _judge_given_up(meeting: Meeting, event: Json | None, spaces: dict[Any, Json]) -> list[str]:
    """A create that gave up leaves nothing behind: no live event, no running conference
    (its space, which Meet cannot delete, stays named on the record)."""
    problems = []
    if not meeting.failure_reason:
        problems.append("failed without a failure reason")
    if event is not None and event.get("status") != "cancelled":
        problems.append(f"failed ({meeting.failure_reason}), yet its event is still live")
    space = spaces.get(meeting.space) if meeting.space else None
    if any(not c.get("ended") for c in (space or {}).get("conferences", [])):
        problems.append(f"failed, yet the conference in {meeting.space} still runs")
    return problems


def _shown(data: Json) -> Json:
    return {k: data.get(k) for k in SHOWN}


def _judge_stream(meeting: Meeting, stream: list[Json]) -> list[str]:
    """At-least-once delivery, but one id per change; the last change is the record."""
    problems = []
    distinct: dict[str, Json] = {}
    for message in stream:
        first = distinct.setdefault(str(message.get("id")), message)
        if (first.get("type"), _shown(first.get("data") or {})) != (
            message.get("type"),
            _shown(message.get("data") or {}),
        ):
            problems.append(f"announcement {message.get('id')} was sent with two contents")
    kinds: dict[str, int] = defaultdict(int)
    for message in distinct.values():
        kinds[str(message.get("type"))] += 1
    for kind in ONCE:
        if kinds[kind] > 1:
            problems.append(f"{kinds[kind]} different {kind} announcements")
    needed = {
        "ready": "meeting.ready",
        "failed": "meeting.failed",
        "detached": "meeting.detached",
        "cancelled": "meeting.cancelled",
    }.get(meeting.status)
    if needed and not kinds[needed]:
        problems.append(f"status {meeting.status} was never announced ({needed})")
    if not distinct:
        return problems
    last = max(distinct.values(), key=lambda m: int((m.get("data") or {}).get("version", 0)))
    want = _shown(meeting.public())
    got = _shown(last.get("data") or {})
    if got != want:
        diff = {k: (got[k], want[k]) for k in SHOWN if got[k] != want[k]}
        problems.append(f"the last announcement disagrees with the record: {diff}")
    cancelled = [m for m in distinct.values() if m.get("type") == "meeting.cancelled"]
    # what happened in Meet (`meeting.started`, `.ended`, ...) may be learnt after the
    # cancellation (ending its conference is part of it): only calendar changes may not follow
    calendar = [m for m in distinct.values() if m.get("type") not in LIVE]
    last_calendar = max(calendar, key=lambda m: int((m.get("data") or {}).get("version", 0)))
    if cancelled and last_calendar.get("type") != "meeting.cancelled":
        problems.append(f"{last_calendar.get('type')} announced after meeting.cancelled")
    return problems
