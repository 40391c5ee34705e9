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

What happened in Meet is judged against the emulator's conference records. Always: the
record never says what did not happen (a conference, an end, a file that Meet does not
have; an ended conference exactly as Meet has it), and its announcements are exactly its
facts (one `meeting.started` per conference it holds, one `meeting.ended` per ended one,
one `recording_ready` or `transcript_ready` per file, naming it). And for a followed
meeting whose space's events all reached Pub/Sub (none dropped by the delivery faults,
none possibly lost with a restarted Pub/Sub emulator), the record must be complete: every
conference, its state, times, people and time in the call, its files, and the attendance
of every invited person.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
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
    deliveries: list[Json] = field(default_factory=list)
    """Every attempt of the emulator to publish a Meet event (`/_emulator/event_deliveries`)."""
    lossy: set[str] = field(default_factory=set)
    """Spaces whose Meet events may have been lost outside the emulator (a Pub/Sub restart)."""
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


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
    lossy = world.lossy | _undelivered(world.deliveries)
    for meeting in world.meetings:
        if meeting.space:
            problems += [
                f"meeting {meeting.id}: {p}"
                for p in _judge_conferences(
                    meeting, spaces.get(meeting.space), meeting.space not in lossy, world.now,
                    stream[meeting.id],
                )
            ]  # fmt: skip
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
    if cancelled:  # (before its own announcements arrive, a meeting may show only Meet's)
        last = max(calendar, key=lambda m: int((m.get("data") or {}).get("version", 0)))
        if last.get("type") != "meeting.cancelled":
            problems.append(f"{last.get('type')} announced after meeting.cancelled")
    return problems


# -- what happened in Meet ----------------------------------------------------------------------

FOLLOWED_FOR = dt.timedelta(days=2)
"""The product follows a meeting's space until this long after its scheduled end."""


def _undelivered(deliveries: list[Json]) -> set[str]:
    """Spaces (`spaces/{id}`) with a Meet event that never reached Pub/Sub."""
    delivered = {d.get("ce_id") for d in deliveries if d.get("status") == 200}
    lost = set()
    for d in deliveries:
        if d.get("ce_id") not in delivered:
            source = str((d.get("attributes") or {}).get("ce-source", ""))
            lost.add(source.removeprefix("//meet.googleapis.com/"))
    return lost


def _when(value: Any) -> dt.datetime | None:
    """An RFC 3339 time (nanoseconds allowed) or epoch seconds, to the microsecond."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    text = str(value).replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]  # the fraction only
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _same_time(a: Any, b: Any) -> bool:
    x, y = _when(a), _when(b)
    if x is None or y is None:
        return x is y
    return abs((x - y).total_seconds()) < 0.001


def _file(artifact: Json) -> str | None:
    destination = artifact.get("driveDestination") or artifact.get("docsDestination") or {}
    return destination.get("file") or destination.get("document") or None


def _person_truth(participant: Json) -> Json:
    """A participant as Meet has it: who, sessions, seconds in closed sessions, in the call."""
    if "signedinUser" in participant:
        kind, name = "signedIn", str(participant.get("email") or "").lower()
    elif "phoneUser" in participant:
        kind, name = "phone", participant["phoneUser"].get("displayName", "")
    else:
        kind, name = "guest", (participant.get("anonymousUser") or {}).get("displayName", "")
    seconds = 0
    for session in participant.get("sessions", []):
        start, end = _when(session.get("startTime")), _when(session.get("endTime"))
        if start is not None and end is not None:
            seconds += max(0, round((end - start).total_seconds()))
    return {
        "who": (kind, name),
        "sessions": len(participant.get("sessions", [])),
        "totalSeconds": seconds,
        "inCall": bool(participant.get("in_call")),
    }


def _person_held(person: Json) -> Json:
    name = person.get("email") if person["kind"] == "signedIn" else person.get("displayName")
    return {
        "who": (person["kind"], str(name or "")),
        "sessions": person.get("sessions"),
        "totalSeconds": person.get("totalSeconds"),
        "inCall": person.get("inCall"),
    }


def _people(people: list[Json]) -> list[Json]:
    return sorted(people, key=lambda p: (p["who"], p["sessions"]))


def _files(artifacts: list[Json]) -> dict[str, Any]:
    return {str(a["name"]): a.get("fileId") for a in artifacts if a.get("fileId")}


def _truth_files(conference: Json, kind: str) -> dict[str, Any]:
    return {
        str(a["name"]): _file(a)
        for a in conference.get("artifacts", [])
        if a.get("kind") == kind and _file(a)
    }


def _conference_problems(held: Json, truth: Json, exact: bool) -> list[str]:
    name, problems = held["name"], []
    ended = truth.get("end_time") is not None
    if not _same_time(held.get("startedAt"), truth.get("start_time")):
        problems.append(f"{name} started at {held.get('startedAt')}, Meet says otherwise")
    if held.get("state") == "ended" and not ended:
        problems.append(f"{name} is held ended; it still runs")
    final = held.get("state") == "ended"
    if final or exact:
        if (held.get("state") == "ended") != ended:
            problems.append(f"{name} is held {held.get('state')}; Meet says ended={ended}")
        elif ended and not _same_time(held.get("endedAt"), truth.get("end_time")):
            problems.append(f"{name} ended at {held.get('endedAt')}, Meet says otherwise")
        people = _people([_person_held(p) for p in held.get("people", [])])
        want = _people([_person_truth(p) for p in truth.get("participants", [])])
        if people != want:
            problems.append(f"{name} people {people}, Meet says {want}")
    for kind, field_ in (("recording", "recordings"), ("transcript", "transcripts")):
        files, truth_files = _files(held.get(field_, [])), _truth_files(truth, kind)
        wrong = {k: v for k, v in files.items() if truth_files.get(k) != v}
        if wrong:
            problems.append(f"{name} holds {kind}s Meet does not have: {wrong}")
        if exact and files != truth_files:
            problems.append(f"{name} {kind}s {sorted(files)}, Meet has {sorted(truth_files)}")
    return problems


def _followed(meeting: Meeting, now: dt.datetime) -> bool:
    end = _when((meeting.end or {}).get("dateTime"))
    return meeting.status == "ready" and (
        bool(meeting.recurrence) or end is None or now < end + FOLLOWED_FOR
    )


def _judge_conferences(
    meeting: Meeting, space: Json | None, complete: bool, now: dt.datetime, stream: list[Json]
) -> list[str]:
    """The record's `conferences` and Meet announcements against the space's records."""
    truth = {str(c.get("name")): c for c in (space or {}).get("conferences", [])}
    held = {str(c.get("name")): c for c in meeting.conferences}
    exact = complete and _followed(meeting, now)
    problems = [f"holds conference {n}, which Meet never had" for n in held.keys() - truth.keys()]
    if exact:
        problems += [f"conference {n} was never recorded" for n in truth.keys() - held.keys()]
    for name in held.keys() & truth.keys():
        problems += _conference_problems(held[name], truth[name], exact)
    if exact and not problems:
        problems += _attendance_problems(meeting, list(truth.values()))
    return problems + _live_stream(meeting, stream)


def _attendance_problems(meeting: Meeting, truth: list[Json]) -> list[str]:
    """Each invited person joined or not, and their seconds, over every conference."""
    seconds: Counter[str] = Counter()
    joined: set[str] = set()
    for conference in truth:
        for participant in conference.get("participants", []):
            person = _person_truth(participant)
            kind, name = person["who"]
            if kind == "signedIn":
                joined.add(name)
                seconds[name] += person["totalSeconds"]
    problems = []
    for row in meeting.public()["attendance"]["attendees"]:
        email = row["email"]
        want = {"email": email, "joined": email in joined, "totalSeconds": seconds[email]}
        if row != want:
            problems.append(f"attendance {row}, Meet says {want}")
    return problems


def _live_stream(meeting: Meeting, stream: list[Json]) -> list[str]:
    """Announcements of what happened in Meet are exactly the record's facts, once each."""
    distinct = {str(m.get("id")): m for m in stream if m.get("type") in LIVE}
    kinds: Counter[str] = Counter(str(m.get("type")) for m in distinct.values())
    conferences = meeting.conferences
    problems = []
    want = {
        "meeting.started": len(conferences),
        "meeting.ended": sum(1 for c in conferences if c.get("state") == "ended"),
    }
    for kind, count in want.items():
        if kinds[kind] != count:
            problems.append(f"{kinds[kind]} {kind} announcements for {count} such facts")
    for kind, field_ in (
        ("meeting.recording_ready", "recordings"),
        ("meeting.transcript_ready", "transcripts"),
    ):
        named = Counter(
            str(((m.get("data") or {}).get("artifact") or {}).get("name"))
            for m in distinct.values()
            if m.get("type") == kind
        )
        files = {n for c in conferences for n in _files(c.get(field_, []))}
        if set(named) != files or any(n > 1 for n in named.values()):
            problems.append(f"{kind} announced for {dict(named)}, the record's files are {files}")
    return problems
