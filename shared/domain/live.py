"""Meetings as they happen: what Meet's conference records say, summarized on the record.

Google Workspace Events tell us *that* something happened in a Meet space (a
conference started or ended, someone joined or left, a recording or transcript
file was generated) and name the changed resource; what happened is read from the
Meet API at handling time and summarized here (`summarize`), then merged into the
meeting's `conferences` (`merge`). Because the state is derived from the conference
record and never from the event alone, duplicated, reordered (ended before started)
and dropped events converge: every handling reads the whole truth again, and `merge`
says which facts are new, so each is announced once.

Standard library only; the record's public view (`public_fields`) is derived from the
stored summaries, never stored twice.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

# -- what we announce ------------------------------------------------------------------------
STARTED = "meeting.started"
ENDED = "meeting.ended"
RECORDING_READY = "meeting.recording_ready"
TRANSCRIPT_READY = "meeting.transcript_ready"

# -- what Google sends -------------------------------------------------------------------------
CONFERENCE_STARTED = "google.workspace.meet.conference.v2.started"
CONFERENCE_ENDED = "google.workspace.meet.conference.v2.ended"
PARTICIPANT_JOINED = "google.workspace.meet.participant.v2.joined"
PARTICIPANT_LEFT = "google.workspace.meet.participant.v2.left"
RECORDING_GENERATED = "google.workspace.meet.recording.v2.fileGenerated"
TRANSCRIPT_GENERATED = "google.workspace.meet.transcript.v2.fileGenerated"
EVENT_TYPES: tuple[str, ...] = (
    CONFERENCE_STARTED,
    CONFERENCE_ENDED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    RECORDING_GENERATED,
    TRANSCRIPT_GENERATED,
)
"""The Meet event types a meeting's subscription asks for."""

EXPIRATION_REMINDER = "google.workspace.events.subscription.v1.expirationReminder"
EXPIRED = "google.workspace.events.subscription.v1.expired"
SUSPENDED = "google.workspace.events.subscription.v1.suspended"
LIFECYCLE_TYPES = frozenset({EXPIRATION_REMINDER, EXPIRED, SUSPENDED})

MEET_SERVICE = "//meet.googleapis.com/"
EVENTS_SERVICE = "//workspaceevents.googleapis.com/"

NOT_STARTED, LIVE, ENDED_STATE = "not_started", "live", "ended"


def space_target(space: str) -> str:
    """The subscription target of a space `spaces/{id}`."""
    return MEET_SERVICE + space


def space_of(resource: str) -> str | None:
    """`spaces/{id}` of a Meet full resource name (a `ce-source`, a `targetResource`)."""
    if resource.startswith(MEET_SERVICE + "spaces/"):
        name = resource[len(MEET_SERVICE) :]
        return name if name.count("/") == 1 and not name.endswith("/") else None
    return None


def record_of(name: str) -> str | None:
    """`conferenceRecords/{id}` of any resource under it (a participant session, an
    artifact), or of a full name (`//meet.googleapis.com/conferenceRecords/...`)."""
    if name.startswith(MEET_SERVICE):
        name = name[len(MEET_SERVICE) :]
    parts = name.split("/")
    if len(parts) >= 2 and parts[0] == "conferenceRecords" and parts[1]:
        return f"conferenceRecords/{parts[1]}"
    return None


def changed_resource(data: Mapping[str, Any]) -> str | None:
    """The resource name a Meet event's data names (`{"conferenceRecord": {"name"}}`,
    `{"participantSession": ...}`, `{"recording": ...}`, `{"transcript": ...}`)."""
    for key in ("conferenceRecord", "participantSession", "recording", "transcript"):
        value = data.get(key)
        if isinstance(value, Mapping) and isinstance(value.get("name"), str):
            return str(value["name"])
    return None


def parse_time(value: object) -> dt.datetime | None:
    """An RFC 3339 timestamp as Google writes it (`Z`, up to nanoseconds), or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python takes at most 6 fraction digits
        head, _, rest = text.partition(".")
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]  # the fraction only
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _seconds(start: object, end: object) -> int | None:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return None
    return max(0, round((b - a).total_seconds()))


def _artifact(resource: Json) -> Json:
    destination = resource.get("driveDestination") or resource.get("docsDestination") or {}
    file_id = destination.get("file") or destination.get("document") or None
    return {
        "name": str(resource.get("name", "")),
        "state": str(resource.get("state", "")),
        "fileId": file_id,
        "exportUri": destination.get("exportUri") or None,
        "startedAt": resource.get("startTime") or None,
        "endedAt": resource.get("endTime") or None,
    }


def _person(participant: Json, sessions: Sequence[Json], emails: Mapping[str, str]) -> Json:
    if "signedinUser" in participant:
        user = str(participant["signedinUser"].get("user", ""))
        kind, display = "signedIn", participant["signedinUser"].get("displayName", "")
        email = emails.get(user)
    elif "phoneUser" in participant:
        user, kind, email = "", "phone", None
        display = participant["phoneUser"].get("displayName", "")
    else:
        user, kind, email = "", "guest", None
        display = (participant.get("anonymousUser") or {}).get("displayName", "")
    total = sum(_seconds(s.get("startTime"), s.get("endTime")) or 0 for s in sessions)
    person: Json = {
        "kind": kind,
        "displayName": str(display),
        "email": email.lower() if email else None,
        "totalSeconds": total,
        "sessions": len(sessions),
        "inCall": any(not s.get("endTime") for s in sessions)
        or not participant.get("latestEndTime"),
    }
    if user:
        person["user"] = user
    return person


def summarize(
    record: Json,
    participants: Iterable[tuple[Json, Sequence[Json]]],
    emails: Mapping[str, str],
    recordings: Iterable[Json] = (),
    transcripts: Iterable[Json] = (),
) -> Json:
    """One conference record as the meeting keeps it: state, times, duration, who came
    (each participant with their sessions; `emails` names signed-in users by `users/{id}`)
    and its artifacts. Time in the call counts closed sessions."""
    people = sorted(
        (_person(p, sessions, emails) for p, sessions in participants),
        key=lambda x: (x["kind"], x["email"] or "", x["displayName"]),
    )
    counts = {"signedIn": 0, "guests": 0, "phone": 0}
    for person in people:
        counts[{"signedIn": "signedIn", "guest": "guests", "phone": "phone"}[person["kind"]]] += 1
    ended = bool(record.get("endTime"))
    return {
        "name": str(record["name"]),
        "state": ENDED_STATE if ended else LIVE,
        "startedAt": record.get("startTime") or None,
        "endedAt": record.get("endTime") or None,
        "durationSeconds": _seconds(record.get("startTime"), record.get("endTime")),
        "participants": counts,
        "people": people,
        "recordings": [_artifact(r) for r in recordings],
        "transcripts": [_artifact(t) for t in transcripts],
    }


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing to announce: its kind and, for a recording or transcript, which file (each
    file ready is its own fact: its own announcement, naming it under `artifact`)."""

    kind: str
    artifact: Json | None = None

    @property
    def key(self) -> str:
        """What tells two facts of one kind apart in one change (the announcement's id)."""
        return str(self.artifact["name"]) if self.artifact else ""


def _ready(artifacts: Iterable[Json]) -> dict[str, Json]:
    return {str(a["name"]): a for a in artifacts if a.get("fileId")}


def _merge_artifacts(old: Sequence[Json], new: Sequence[Json]) -> list[Json]:
    """Artifacts by name; a generated file is never forgotten by a staler read."""
    merged = {str(a["name"]): a for a in old}
    for artifact in new:
        kept = merged.get(str(artifact["name"]))
        if kept is None or not kept.get("fileId") or artifact.get("fileId"):
            merged[str(artifact["name"])] = artifact
    return sorted(merged.values(), key=lambda a: (a.get("startedAt") or "", a["name"]))


def _progress(conference: Json) -> int:
    """How far a live conference's read has got: every join and every leave moves it on,
    so of two reads of one conference the later never has less (a slower handler's older
    read must not replace a newer one)."""
    people = conference["people"]
    return sum(2 * int(p.get("sessions") or 0) - bool(p.get("inCall")) for p in people)


def merge(conferences: Sequence[Json], entry: Json) -> tuple[list[Json], list[Fact]]:
    """`conferences` with `entry` (a fresh `summarize`) merged in, and the facts it adds,
    in order (started, ended, then each recording and transcript file that became ready).
    Never goes back: an ended conference stays ended, a generated file stays, an older
    read of a live conference does not replace a newer one."""
    old = next((c for c in conferences if c.get("name") == entry["name"]), None)
    merged = dict(entry)
    if old is not None and old.get("state") == ENDED_STATE and entry["state"] != ENDED_STATE:
        merged = {**entry, **{k: old[k] for k in ("state", "endedAt", "durationSeconds")}}
        merged["people"] = old.get("people", entry["people"])
        merged["participants"] = old.get("participants", entry["participants"])
    elif (
        old is not None
        and old.get("state") == LIVE == entry["state"]
        and (_progress(old) > _progress(entry))
    ):
        merged["people"], merged["participants"] = old["people"], old["participants"]
    old_recordings = list(old.get("recordings", [])) if old else []
    old_transcripts = list(old.get("transcripts", [])) if old else []
    merged["recordings"] = _merge_artifacts(old_recordings, entry["recordings"])
    merged["transcripts"] = _merge_artifacts(old_transcripts, entry["transcripts"])
    facts: list[Fact] = []
    if old is None or old.get("state") not in (LIVE, ENDED_STATE):
        facts.append(Fact(STARTED))
    if merged["state"] == ENDED_STATE and (old is None or old.get("state") != ENDED_STATE):
        facts.append(Fact(ENDED))
    for kind, field_ in ((RECORDING_READY, "recordings"), (TRANSCRIPT_READY, "transcripts")):
        before = _ready(old.get(field_, []) if old else [])
        facts += [
            Fact(kind, {**artifact, "conference": merged["name"]})
            for name, artifact in sorted(_ready(merged[field_]).items())
            if name not in before
        ]
    if old == merged:
        return list(conferences), []
    others = [c for c in conferences if c.get("name") != entry["name"]]
    ordered = sorted([*others, merged], key=lambda c: (c.get("startedAt") or "", c["name"]))
    return ordered, facts


def _attendance(conferences: Sequence[Json], attendees: Iterable[str]) -> Json:
    invited: dict[str, Json] = {}
    for email in attendees:
        if email and email.lower() not in invited:
            invited[email.lower()] = {"email": email.lower(), "joined": False, "totalSeconds": 0}
    unmatched: dict[tuple[str, str], Json] = {}
    for conf in conferences:
        for person in conf.get("people", []):
            email = person.get("email")
            row = invited.get(email) if email else None
            if row is None:
                key = (person["kind"], email or person.get("displayName", ""))
                row = unmatched.setdefault(
                    key,
                    {
                        "kind": person["kind"],
                        "displayName": person.get("displayName", ""),
                        "email": email,
                        "totalSeconds": 0,
                    },
                )
            row["joined"] = True
            row["totalSeconds"] += int(person.get("totalSeconds") or 0)
    for row in unmatched.values():
        row.pop("joined", None)
    return {"attendees": list(invited.values()), "unmatched": list(unmatched.values())}


def public_fields(conferences: Sequence[Json], attendees: Iterable[str]) -> Json:
    """`conference` (the latest), `conferences`, `attendance` (each invited person, the
    organizer first: joined or not and time in the call over every conference; anyone
    else under `unmatched`) and `artifacts`, as the HTTP API and announcements show them."""
    latest = conferences[-1] if conferences else None
    conference: Json = {
        "state": latest["state"] if latest else NOT_STARTED,
        "startedAt": latest.get("startedAt") if latest else None,
        "endedAt": latest.get("endedAt") if latest else None,
        "durationSeconds": latest.get("durationSeconds") if latest else None,
        "participants": dict(latest["participants"])
        if latest
        else {"signedIn": 0, "guests": 0, "phone": 0},
    }
    artifacts: Json = {"recordings": [], "transcripts": []}
    for conf in conferences:
        for kind in ("recordings", "transcripts"):
            artifacts[kind] += [{**a, "conference": conf["name"]} for a in conf.get(kind, [])]
    return {
        "conference": conference,
        "conferences": copy.deepcopy(list(conferences)),
        "attendance": _attendance(conferences, attendees),
        "artifacts": artifacts,
    }
