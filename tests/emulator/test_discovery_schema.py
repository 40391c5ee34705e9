"""The schema checker itself must reject what the discovery documents do not allow."""

from __future__ import annotations

import pytest

from tests.emulator.discovery_schema import SchemaError, validate_response


def test_accepts_valid_bodies() -> None:
    validate_response(
        "calendar.events.get", {"id": "abcde", "sequence": 1, "start": {"date": "2030-01-01"}}
    )
    validate_response("calendar.events.watch", {"kind": "api#channel", "expiration": "123"})
    validate_response("meet.spaces.get", {"name": "spaces/x", "config": {"accessType": "OPEN"}})
    validate_response("calendar.events.delete", "")
    validate_response("meet.conferenceRecords.get", {"startTime": "2030-01-01T10:00:00.000Z"})
    validate_response("workspaceevents.subscriptions.get", {"ttl": "86400s", "state": "ACTIVE"})
    validate_response("directory.users.get", {"primaryEmail": "a@b", "isAdmin": True})


@pytest.mark.parametrize(
    ("method_id", "body"),
    [
        ("calendar.events.get", {"id": "abcde", "surprise": True}),
        ("calendar.events.get", {"sequence": "1"}),
        ("calendar.events.get", {"start": {"date": "not a date"}}),
        ("calendar.events.get", {"attendees": {"email": "x"}}),
        ("calendar.events.get", {"extendedProperties": {"private": {"k": 1}}}),
        ("calendar.events.watch", {"expiration": 123}),
        ("calendar.events.watch", {"expiration": "soon"}),
        ("meet.spaces.get", {"config": {"accessType": "EVERYONE"}}),
        ("meet.conferenceRecords.get", {"startTime": "yesterday"}),
        ("meet.conferenceRecords.recordings.get", {"state": 3}),
        ("workspaceevents.subscriptions.get", {"state": "PAUSED"}),
        ("workspaceevents.subscriptions.get", {"ttl": "one day"}),
        ("directory.users.get", {"primaryEmail": "a@b", "isAdmin": "yes"}),
        ("calendar.events.delete", {"unexpected": "body"}),
    ],
)
def test_rejects_invalid_bodies(method_id: str, body: object) -> None:
    with pytest.raises(SchemaError):
        validate_response(method_id, body)
