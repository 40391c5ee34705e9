"""What happens in a Meet space: conferences, participants, sessions and artifacts.

The control API (``/_emulator/spaces/{id}/join|leave|end|artifacts``) and Meet's
``endActiveConference`` drive these; each change is what Meet records (conference
records, participants, participant sessions, recordings, transcripts) and what the
Workspace Events API announces (``subscriptions.publish``). As in Meet, a conference
starts when the first participant joins and ends when the last one leaves or the owner
ends it; every join is a new participant session. A space whose ``artifactConfig``
turns recording, transcription or smart notes ``ON`` records from the conference's
start; the file is generated ``artifact_delay_ms`` of emulator time after it ends.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from emulator import subscriptions
from emulator.directory import display_name
from emulator.state import (
    Artifact,
    ConferenceRecord,
    Emulator,
    Participant,
    ParticipantSession,
    Space,
    TranscriptEntry,
)

_ALPHABET = string.ascii_letters + string.digits
KINDS = ("recording", "transcript", "smart_note")
_COLLECTION = {"recording": "recordings", "transcript": "transcripts", "smart_note": "smartNotes"}
_AUTO = {
    "recording": ("recordingConfig", "autoRecordingGeneration"),
    "transcript": ("transcriptionConfig", "autoTranscriptionGeneration"),
    "smart_note": ("smartNotesConfig", "autoSmartNotesGeneration"),
}
_FILE_EVENT = {
    "recording": "google.workspace.meet.recording.v2.fileGenerated",
    "transcript": "google.workspace.meet.transcript.v2.fileGenerated",
}
STARTED = "google.workspace.meet.conference.v2.started"
ENDED = "google.workspace.meet.conference.v2.ended"
JOINED = "google.workspace.meet.participant.v2.joined"
LEFT = "google.workspace.meet.participant.v2.left"


class MeetingError(Exception):
    """A control call that makes no sense in the space's current state."""


@dataclass(frozen=True)
class Who:
    """A participant as the control API names one."""

    kind: str
    """``signedin``, ``anonymous`` or ``phone``."""
    name: str
    """The email (signed in) or the display name (guest, phone)."""


def new_id(length: int = 16) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


# -- resource names ------------------------------------------------------------------------


def record_name(record: ConferenceRecord) -> str:
    return f"conferenceRecords/{record.id}"


def participant_name(record: ConferenceRecord, participant: Participant) -> str:
    return f"{record_name(record)}/participants/{participant.id}"


def session_name(
    record: ConferenceRecord, participant: Participant, session: ParticipantSession
) -> str:
    return f"{participant_name(record, participant)}/participantSessions/{session.id}"


def artifact_name(record: ConferenceRecord, artifact: Artifact) -> str:
    return f"{record_name(record)}/{_COLLECTION[artifact.kind]}/{artifact.id}"


def entry_name(record: ConferenceRecord, artifact: Artifact, entry: TranscriptEntry) -> str:
    return f"{artifact_name(record, artifact)}/entries/{entry.id}"


# -- conferences ---------------------------------------------------------------------------


def start_conference(emu: Emulator, space: Space) -> ConferenceRecord:
    """The running conference, started (and announced) if none runs."""
    if space.active is not None:
        return space.active
    while True:
        record_id = new_id()
        if not any(r.id == record_id for s in emu.spaces.values() for r in s.conferences):
            break
    now = emu.clock.now()
    record = ConferenceRecord(record_id, now, space_id=space.id)
    space.conferences.append(record)
    subscriptions.publish(emu, space, STARTED, {"conferenceRecord": {"name": record_name(record)}})
    for kind, (section, key) in _AUTO.items():
        if ((space.config.get("artifactConfig") or {}).get(section) or {}).get(key) == "ON":
            record.artifacts.append(Artifact(new_id(), kind, now))
    return record


def find_participant(record: ConferenceRecord, who: Who) -> Participant | None:
    for participant in record.participants.values():
        same = (
            participant.email == who.name
            if who.kind == "signedin"
            else (participant.display_name == who.name)
        )
        if participant.kind == who.kind and same:
            return participant
    return None


def join(emu: Emulator, space: Space, who: Who) -> tuple[ConferenceRecord, Participant, str]:
    """``who`` joins (a new session, on a new device): the conference starts if needed."""
    record = start_conference(emu, space)
    participant = find_participant(record, who)
    if participant is None:
        display = display_name(who.name) if who.kind == "signedin" else who.name
        participant = Participant(
            new_id(), who.kind, display, email=who.name if who.kind == "signedin" else None
        )
        record.participants[participant.id] = participant
    session = ParticipantSession(new_id(), emu.clock.now())
    participant.sessions.append(session)
    name = session_name(record, participant, session)
    subscriptions.publish(emu, space, JOINED, {"participantSession": {"name": name}})
    return record, participant, name


def leave(emu: Emulator, space: Space, who: Who) -> str:
    """``who`` leaves (their latest open session ends); the last one out ends the call."""
    record = space.active
    participant = find_participant(record, who) if record else None
    open_sessions = [s for s in participant.sessions if s.end_ts is None] if participant else []
    if record is None or participant is None or not open_sessions:
        raise MeetingError(f"{who.name} is not in a conference of space {space.id}")
    session = open_sessions[-1]
    session.end_ts = emu.clock.now()
    name = session_name(record, participant, session)
    subscriptions.publish(emu, space, LEFT, {"participantSession": {"name": name}})
    if not any(p.in_call for p in record.participants.values()):
        end(emu, space, "last participant left")
    return name


def end(emu: Emulator, space: Space, ended_by: str) -> bool:
    """End the running conference for everyone still in it; False when none runs."""
    record = space.active
    if record is None:
        return False
    now = emu.clock.now()
    for participant in record.participants.values():
        for session in participant.sessions:
            if session.end_ts is None:
                session.end_ts = now
                name = session_name(record, participant, session)
                subscriptions.publish(emu, space, LEFT, {"participantSession": {"name": name}})
    record.end_ts = now
    record.ended_by = ended_by
    subscriptions.publish(emu, space, ENDED, {"conferenceRecord": {"name": record_name(record)}})
    delay = float(emu.config["artifact_delay_ms"]) / 1000
    for artifact in record.artifacts:
        if artifact.state == "STARTED":
            artifact.state, artifact.end_ts = "ENDED", now
            emu.scheduler.call_at(now + delay, _Finish(emu, space.id, record.id, artifact.id))
    return True


@dataclass
class _Finish:
    """A scheduled file generation for an auto-recorded artifact."""

    emu: Emulator
    space_id: str
    record_id: str
    artifact_id: str

    def __call__(self) -> None:
        with self.emu.lock:
            space = self.emu.spaces.get(self.space_id)
            if space is None:
                return
            record = next((r for r in space.conferences if r.id == self.record_id), None)
            if record is None:
                return
            artifact = next((a for a in record.artifacts if a.id == self.artifact_id), None)
            if artifact is not None and artifact.state == "ENDED":
                _generate_file(self.emu, space, record, artifact, None)


# -- artifacts -----------------------------------------------------------------------------


def generate(
    emu: Emulator,
    space: Space,
    kind: str,
    record: ConferenceRecord | None = None,
    entries: list[tuple[Who, str]] | None = None,
) -> tuple[ConferenceRecord, Artifact]:
    """Generate the file of a ``kind`` artifact of ``record`` (default: the latest
    conference): the one being recorded if any, else a new one spanning the conference."""
    if kind not in KINDS:
        raise MeetingError(f"kind must be one of {', '.join(KINDS)}")
    if record is None:
        if not space.conferences:
            raise MeetingError(f"space {space.id} has had no conference")
        record = space.conferences[-1]
    now = emu.clock.now()
    artifact = next(
        (a for a in record.artifacts if a.kind == kind and a.state in ("STARTED", "ENDED")), None
    )
    if artifact is None:
        earlier = [a.end_ts or a.start_ts for a in record.artifacts if a.kind == kind]
        artifact = Artifact(new_id(), kind, max(earlier, default=record.start_ts))
        record.artifacts.append(artifact)
    if artifact.end_ts is None:
        artifact.end_ts = record.end_ts if record.end_ts is not None else now
    resolved: list[tuple[Participant, str]] | None = None
    if entries is not None:
        resolved = []
        for who, text in entries:
            participant = find_participant(record, who)
            if participant is None:
                raise MeetingError(f"{who.name} did not take part in {record_name(record)}")
            resolved.append((participant, text))
    _generate_file(emu, space, record, artifact, resolved)
    return record, artifact


def _generate_file(
    emu: Emulator,
    space: Space,
    record: ConferenceRecord,
    artifact: Artifact,
    entries: list[tuple[Participant, str]] | None,
) -> None:
    artifact.state = "FILE_GENERATED"
    artifact.file_id = "1" + new_id(32)
    if artifact.kind == "transcript":
        _transcribe(record, artifact, entries)
    event = _FILE_EVENT.get(artifact.kind)
    if event:
        key = "recording" if artifact.kind == "recording" else "transcript"
        subscriptions.publish(emu, space, event, {key: {"name": artifact_name(record, artifact)}})


def _transcribe(
    record: ConferenceRecord,
    artifact: Artifact,
    entries: list[tuple[Participant, str]] | None,
) -> None:
    """Transcript entries: the given ones, or one line per participant session."""
    end = artifact.end_ts if artifact.end_ts is not None else artifact.start_ts
    lines: list[tuple[Participant, str, float, float]] = []
    if entries is None:
        for participant in record.participants.values():
            for session in participant.sessions:
                stop = session.end_ts if session.end_ts is not None else end
                text = f"{participant.display_name} speaking (emulated transcript)."
                lines.append((participant, text, session.start_ts, stop))
        lines.sort(key=lambda line: line[2])
    else:
        span = max(end - artifact.start_ts, 0.0)
        step = span / max(len(entries), 1)
        for i, (participant, text) in enumerate(entries):
            start = artifact.start_ts + i * step
            lines.append((participant, text, start, start + step))
    artifact.entries = [
        TranscriptEntry(new_id(), p.id, text, "en-US", start, stop)
        for p, text, start, stop in lines
    ]
