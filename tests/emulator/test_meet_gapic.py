"""Meet through Google's GAPIC client (google-apps-meet, REST transport), as Google serves it.

GAPIC REST asks for ``$alt=json;enum-encoding=int`` and sends enum fields as numbers;
the emulator accepts them, answers numbers when asked, and names otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import Forbidden, NotFound
from google.apps import meet_v2
from google.apps.meet_v2.types import resource

from emulator import enums
from tests.emulator.discovery_schema import validate_response
from tests.emulator.support import ALL_SCOPES, Harness, make_credentials

A = "alice@example.com"
B = "bob@example.com"
SCOPE = " ".join(ALL_SCOPES)


def _proto_enums() -> dict[str, list[str]]:
    """Every enum field of meet_v2's resources: JSON name → names by number."""
    found: dict[str, list[str]] = {}

    def walk(message: Any) -> None:  # a protobuf Descriptor
        for field in message.fields:
            if field.enum_type is not None:
                values = sorted(field.enum_type.values, key=lambda v: v.number)
                names = [v.name for v in values]
                assert [v.number for v in values] == list(range(len(values)))
                assert found.setdefault(field.json_name, names) == names, field.full_name
        for nested in message.nested_types:
            walk(nested)

    for message in resource.Space.meta.pb.DESCRIPTOR.file.message_types_by_name.values():
        walk(message)
    return found


def test_enum_tables_match_the_protos() -> None:
    assert _proto_enums() == enums.MEET


class Gapic:
    """GAPIC clients for one user, REST transport, pointed at the emulator."""

    def __init__(self, h: Harness, email: str) -> None:
        h.add_user(email)
        token = h.control("POST", f"/users/{email}/token", {"scope": SCOPE})["access_token"]
        creds = make_credentials(token=token)
        options = ClientOptions(api_endpoint=h.url)
        self.spaces = meet_v2.SpacesServiceClient(
            credentials=creds, transport="rest", client_options=options
        )
        self.records = meet_v2.ConferenceRecordsServiceClient(
            credentials=creds, transport="rest", client_options=options
        )
        self.token = token


def _raw(h: Harness, token: str, path: str, **params: str) -> Any:
    """The same call as plain JSON (names), validated against meet.v2.json."""
    resp = requests.get(
        f"{h.url}/v2/{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()


def test_full_meeting_through_gapic(h: Harness) -> None:
    alice, _ = Gapic(h, A), Gapic(h, B)
    created = alice.spaces.create_space(
        request={
            "space": {
                "config": {
                    "access_type": resource.SpaceConfig.AccessType.OPEN,
                    "moderation": resource.SpaceConfig.Moderation.ON,
                }
            }
        }
    )
    assert created.config.access_type == resource.SpaceConfig.AccessType.OPEN
    assert created.config.entry_point_access == resource.SpaceConfig.EntryPointAccess.ALL
    updated = alice.spaces.update_space(
        request={
            "space": {
                "name": created.name,
                "config": {
                    "entry_point_access": resource.SpaceConfig.EntryPointAccess.CREATOR_APP_ONLY,
                    "access_type": resource.SpaceConfig.AccessType.RESTRICTED,
                },
            },
            "update_mask": {"paths": ["config.entry_point_access"]},
        }
    )
    assert updated.config.entry_point_access == (
        resource.SpaceConfig.EntryPointAccess.CREATOR_APP_ONLY
    )
    assert updated.config.access_type == resource.SpaceConfig.AccessType.OPEN
    fetched = alice.spaces.get_space(name=f"spaces/{created.meeting_code}")
    assert fetched.name == created.name

    h.space_call(created.name, "join", {"email": A})
    h.space_call(created.name, "join", {"email": B})
    h.advance(30)
    h.space_call(created.name, "leave", {"email": B})
    live = alice.spaces.get_space(name=created.name)
    record_name = live.active_conference.conference_record
    assert record_name.startswith("conferenceRecords/")
    alice.spaces.end_active_conference(name=created.name)
    assert not alice.spaces.get_space(name=created.name).active_conference.conference_record
    h.space_call(created.name, "artifacts", {"kind": "recording"})
    h.space_call(created.name, "artifacts", {"kind": "transcript"})

    [record] = alice.records.list_conference_records(
        request={"filter": f'space.name = "{created.name}"'}
    )
    assert record.name == record_name and record.space == created.name
    assert record.end_time.timestamp() > record.start_time.timestamp()
    assert alice.records.get_conference_record(name=record.name) == record
    people = list(alice.records.list_participants(parent=record.name))
    assert [p.signedin_user.user for p in people] == [
        f"users/{h.user_id(B)}",
        f"users/{h.user_id(A)}",
    ]
    assert alice.records.get_participant(name=people[0].name) == people[0]
    [session] = alice.records.list_participant_sessions(parent=people[0].name)
    assert session.end_time.timestamp() - session.start_time.timestamp() == pytest.approx(30, 1)
    assert alice.records.get_participant_session(name=session.name) == session
    [recording] = alice.records.list_recordings(parent=record.name)
    assert recording.state == resource.Recording.State.FILE_GENERATED
    assert recording.drive_destination.file
    assert alice.records.get_recording(name=recording.name) == recording
    [transcript] = alice.records.list_transcripts(parent=record.name)
    assert transcript.state == resource.Transcript.State.FILE_GENERATED
    assert alice.records.get_transcript(name=transcript.name) == transcript
    entries = list(alice.records.list_transcript_entries(parent=transcript.name))
    assert len(entries) == 2
    assert alice.records.get_transcript_entry(name=entries[0].name) == entries[0]
    assert list(alice.records.list_smart_notes(parent=record.name)) == []

    calls = [r for r in h.requests_log() if r["api"] == "meet"]
    assert calls and all(r["query"].get("$alt") == "json;enum-encoding=int" for r in calls)
    assert all(r["status"] == 200 for r in calls)

    # the same resources as JSON: names without $alt, numbers with it
    by_name = _raw(h, alice.token, recording.name)
    validate_response("meet.conferenceRecords.recordings.get", by_name)
    assert by_name["state"] == "FILE_GENERATED"
    by_number = _raw(h, alice.token, recording.name, **{"$alt": "json;enum-encoding=int"})
    assert by_number == {**by_name, "state": 3}
    space_json = _raw(h, alice.token, created.name)
    validate_response("meet.spaces.get", space_json)
    numbered = _raw(h, alice.token, created.name, **{"$alt": "json;enum-encoding=int"})
    assert numbered["config"]["accessType"] == 1 and space_json["config"]["accessType"] == "OPEN"


def test_gapic_errors(h: Harness) -> None:
    alice, bob = Gapic(h, A), Gapic(h, B)
    space = alice.spaces.create_space(request={"space": {}})
    h.space_call(space.name, "join", {"email": A})
    [record] = alice.records.list_conference_records()
    with pytest.raises(Forbidden):
        bob.records.get_conference_record(name=record.name)
    with pytest.raises(NotFound):
        alice.records.get_participant(name=f"{record.name}/participants/nobody")
    with pytest.raises(Forbidden):
        bob.spaces.update_space(
            request={
                "space": {"name": space.name, "config": {"moderation": 2}},
                "update_mask": {"paths": ["config.moderation"]},
            }
        )
