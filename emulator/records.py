"""Meet REST v2 ``conferenceRecords`` and what hangs off them, read-only.

``conferenceRecords`` (list with ``filter``, get), ``participants`` and their
``participantSessions``, ``recordings``, ``transcripts`` (and their ``entries``) and
``smartNotes`` (list, get), made by what happens in spaces (``meeting.py``). Who sees a
conference: its space's owner and its signed-in participants, with
``meetings.space.readonly``; with only ``meetings.space.created``, conferences of spaces
made through the Meet API (not by Calendar). Lists are ordered and paged as Google
documents; records disappear 30 days after their conference ended.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from emulator import listquery, meeting
from emulator.clock import rfc3339
from emulator.directory import user_id
from emulator.errors import ApiError, meet_error
from emulator.scopes import MEET_CREATED, MEET_READONLY
from emulator.state import (
    Artifact,
    Caller,
    ConferenceRecord,
    Emulator,
    Participant,
    ParticipantSession,
    Space,
)
from emulator.wire import Request, Response, json_response

JSON = dict[str, Any]

RECORD_TTL_SECONDS = 30 * 86400
"""Google deletes a conference record 30 days after the conference ends."""
_ARTIFACT_LISTS = {
    "recordings": "recording",
    "transcripts": "transcript",
    "smartNotes": "smart_note",
}
_RECORD_FIELDS = {"space.name", "space.meeting_code", "start_time", "end_time"}
_PARTICIPANT_FIELDS = {"earliest_start_time", "latest_end_time"}
_SESSION_FIELDS = {"start_time", "end_time"}


def _ts(value: float | None) -> str | None:
    return None if value is None else rfc3339(value)


def _put(out: JSON, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


# -- resources -----------------------------------------------------------------------------


def record_resource(space: Space, record: ConferenceRecord) -> JSON:
    out: JSON = {"name": meeting.record_name(record), "startTime": rfc3339(record.start_ts)}
    if record.end_ts is not None:
        out["endTime"] = rfc3339(record.end_ts)
        out["expireTime"] = rfc3339(record.end_ts + RECORD_TTL_SECONDS)
    out["space"] = f"spaces/{space.id}"
    return out


def participant_resource(record: ConferenceRecord, participant: Participant) -> JSON:
    out: JSON = {"name": meeting.participant_name(record, participant)}
    if participant.kind == "signedin":
        assert participant.email is not None
        out["signedinUser"] = {
            "user": f"users/{user_id(participant.email)}",
            "displayName": participant.display_name,
        }
    elif participant.kind == "anonymous":
        out["anonymousUser"] = {"displayName": participant.display_name}
    else:
        out["phoneUser"] = {"displayName": participant.display_name}
    out["earliestStartTime"] = rfc3339(min(s.start_ts for s in participant.sessions))
    if not participant.in_call:
        out["latestEndTime"] = rfc3339(max(s.end_ts or 0.0 for s in participant.sessions))
    return out


def session_resource(
    record: ConferenceRecord, participant: Participant, session: ParticipantSession
) -> JSON:
    out: JSON = {
        "name": meeting.session_name(record, participant, session),
        "startTime": rfc3339(session.start_ts),
    }
    _put(out, "endTime", _ts(session.end_ts))
    return out


def artifact_resource(record: ConferenceRecord, artifact: Artifact) -> JSON:
    out: JSON = {"name": meeting.artifact_name(record, artifact), "state": artifact.state}
    out["startTime"] = rfc3339(artifact.start_ts)
    _put(out, "endTime", _ts(artifact.end_ts))
    if artifact.state == "FILE_GENERATED" and artifact.file_id:
        if artifact.kind == "recording":
            out["driveDestination"] = {
                "file": artifact.file_id,
                "exportUri": f"https://drive.google.com/file/d/{artifact.file_id}/view",
            }
        else:
            out["docsDestination"] = {
                "document": artifact.file_id,
                "exportUri": f"https://docs.google.com/document/d/{artifact.file_id}/view",
            }
    return out


# -- access --------------------------------------------------------------------------------


def _expired(emu: Emulator, record: ConferenceRecord) -> bool:
    return record.end_ts is not None and record.end_ts + RECORD_TTL_SECONDS <= emu.clock.now()


def can_see(caller: Caller, space: Space, record: ConferenceRecord) -> bool:
    """Owner or signed-in participant; ``.created`` alone covers app-made spaces only."""
    readonly = MEET_READONLY in caller.scopes
    if not readonly and not (MEET_CREATED in caller.scopes and space.created_by_app):
        return False
    if space.owner == caller.email:
        return True
    return any(p.email == caller.email for p in record.participants.values())


def _all_records(emu: Emulator) -> list[tuple[Space, ConferenceRecord]]:
    return [
        (space, record)
        for space in emu.spaces.values()
        for record in space.conferences
        if not _expired(emu, record)
    ]


def _record(emu: Emulator, caller: Caller, record_id: str) -> tuple[Space, ConferenceRecord]:
    for space, record in _all_records(emu):
        if record.id == record_id:
            if not can_see(caller, space, record):
                raise meet_error(403)
            return space, record
    raise meet_error(404)


def _listing(
    req: Request,
    items: list[Any],
    key: str,
    render: Callable[[Any], JSON],
    sizes: tuple[int, int],
    list_key: str,
) -> Response:
    size = listquery.page_size(req.q("pageSize"), *sizes)
    chunk, token = listquery.page(items, req.q("pageToken"), size, list_key)
    out: JSON = {}
    if chunk:
        out[key] = [render(item) for item in chunk]
    if token:
        out["nextPageToken"] = token
    return json_response(out)


def _filtered(
    req: Request,
    items: list[Any],
    fields: set[str],
    get: Callable[[Any, str], Any],
    time_fields: set[str],
) -> list[Any]:
    text = req.q("filter")
    if not text:
        return items
    node = listquery.parse(text, fields)
    listquery.validate_times(node, time_fields)
    return [item for item in items if listquery.matches(node, _bind(get, item))]


def _bind(get: Callable[[Any, str], Any], item: Any) -> Callable[[str], Any]:
    return lambda field: get(item, field)


# -- handlers ------------------------------------------------------------------------------


def _list_records(emu: Emulator, req: Request, caller: Caller) -> Response:
    visible = [(s, r) for s, r in _all_records(emu) if can_see(caller, s, r)]
    visible.sort(key=lambda sr: (sr[1].start_ts, sr[1].id), reverse=True)

    def get(item: tuple[Space, ConferenceRecord], field: str) -> Any:
        space, record = item
        return {
            "space.name": f"spaces/{space.id}",
            "space.meeting_code": space.meeting_code,
            "start_time": record.start_ts,
            "end_time": record.end_ts,
        }[field]

    found = _filtered(req, visible, _RECORD_FIELDS, get, {"start_time", "end_time"})
    return _listing(
        req,
        found,
        "conferenceRecords",
        lambda sr: record_resource(*sr),
        (25, 100),
        f"conferenceRecords|{req.q('filter') or ''}",
    )


def _participant(record: ConferenceRecord, participant_id: str) -> Participant:
    participant = record.participants.get(participant_id)
    if participant is None:
        raise meet_error(404)
    return participant


def _artifact(record: ConferenceRecord, kind: str, artifact_id: str) -> Artifact:
    for artifact in record.artifacts:
        if artifact.kind == kind and artifact.id == artifact_id:
            return artifact
    raise meet_error(404)


def _under_record(
    emu: Emulator, req: Request, space: Space, record: ConferenceRecord, parts: list[str]
) -> Response:
    """``conferenceRecords/{id}/...`` (``parts`` after the record id)."""
    head = parts[0]
    if head == "participants":
        if len(parts) == 1:
            people = sorted(
                record.participants.values(),
                key=lambda p: (min(s.start_ts for s in p.sessions), p.id),
                reverse=True,
            )

            def get_p(participant: Participant, field: str) -> Any:
                if field == "earliest_start_time":
                    return min(s.start_ts for s in participant.sessions)
                if participant.in_call:
                    return None
                return max(s.end_ts or 0.0 for s in participant.sessions)

            found = _filtered(req, people, _PARTICIPANT_FIELDS, get_p, _PARTICIPANT_FIELDS)
            return _listing(
                req,
                found,
                "participants",
                lambda p: participant_resource(record, p),
                (100, 250),
                f"participants|{record.id}|{req.q('filter') or ''}",
            )
        participant = _participant(record, parts[1])
        if len(parts) == 2:
            return json_response(participant_resource(record, participant))
        if parts[2] != "participantSessions" or len(parts) > 4:
            raise meet_error(404)
        if len(parts) == 3:
            sessions = sorted(participant.sessions, key=lambda s: (s.start_ts, s.id), reverse=True)

            def get_s(session: ParticipantSession, field: str) -> Any:
                return session.start_ts if field == "start_time" else session.end_ts

            found = _filtered(req, sessions, _SESSION_FIELDS, get_s, _SESSION_FIELDS)
            return _listing(
                req,
                found,
                "participantSessions",
                lambda s: session_resource(record, participant, s),
                (100, 250),
                f"sessions|{participant.id}|{req.q('filter') or ''}",
            )
        session = next((s for s in participant.sessions if s.id == parts[3]), None)
        if session is None:
            raise meet_error(404)
        return json_response(session_resource(record, participant, session))
    kind = _ARTIFACT_LISTS.get(head)
    if kind is None:
        raise meet_error(404, f"Method not found: GET /v2/conferenceRecords/{record.id}/{head}")
    if len(parts) == 1:
        items = sorted((a for a in record.artifacts if a.kind == kind), key=lambda a: a.start_ts)
        return _listing(
            req,
            items,
            head,
            lambda a: artifact_resource(record, a),
            (10, 100),
            f"{head}|{record.id}",
        )
    artifact = _artifact(record, kind, parts[1])
    if len(parts) == 2:
        return json_response(artifact_resource(record, artifact))
    if kind != "transcript" or parts[2] != "entries" or len(parts) > 4:
        raise meet_error(404)
    participants = record.participants

    def entry_resource(entry: Any) -> JSON:
        return {
            "name": meeting.entry_name(record, artifact, entry),
            "participant": meeting.participant_name(record, participants[entry.participant_id]),
            "text": entry.text,
            "languageCode": entry.language_code,
            "startTime": rfc3339(entry.start_ts),
            "endTime": rfc3339(entry.end_ts),
        }

    if len(parts) == 3:
        entries = sorted(artifact.entries, key=lambda e: e.start_ts)  # stable: spoken order
        return _listing(
            req, entries, "transcriptEntries", entry_resource, (10, 100), f"entries|{artifact.id}"
        )
    entry = next((e for e in artifact.entries if e.id == parts[3]), None)
    if entry is None:
        raise meet_error(404)
    return json_response(entry_resource(entry))


def handle(emu: Emulator, req: Request, caller: Caller, rest: str) -> Response:
    """``GET /v2/conferenceRecords...`` for an authenticated caller."""
    if req.method != "GET":
        raise meet_error(404, f"Method not found: {req.method} /v2/{rest}")
    parts = [unquote(p) for p in rest.split("/")]
    if any(not p or re.search(r"[:\s]", p) for p in parts):
        raise meet_error(404, f"Method not found: GET /v2/{rest}")
    with emu.lock:
        if len(parts) == 1:
            return _list_records(emu, req, caller)
        space, record = _record(emu, caller, parts[1])
        if len(parts) == 2:
            return json_response(record_resource(space, record))
        return _under_record(emu, req, space, record, parts[2:])


def is_records_path(rest: str) -> bool:
    return rest == "conferenceRecords" or rest.startswith("conferenceRecords/")


__all__ = ["ApiError", "can_see", "handle", "is_records_path", "record_resource"]
