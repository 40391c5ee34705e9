"""Meet conference records made by what happens in a space, read with googleapiclient.

Every response is validated against meet.v2.json (and admin.directory_v1.json) by ``run``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from tests.emulator.support import (
    ALL_SCOPES,
    SCOPES,
    Harness,
    error_body,
    run,
    wait_for,
)

A = "alice@example.com"
B = "bob@example.com"
C = "carol@example.com"
PHONE = "+1 555-***-**42"


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _space(h: Harness, owner: str = A, config: dict[str, Any] | None = None) -> dict[str, Any]:
    meet = h.meet(owner, h.credentials(owner, ALL_SCOPES))
    space: dict[str, Any] = run(meet.spaces().create(body={"config": config or {}}))
    return space


def _calendar_space(h: Harness, owner: str = A) -> str:
    """A space made by Calendar's conference createRequest (not by the Meet API)."""
    cal = h.calendar(owner)
    body = {
        "summary": "sync",
        "start": {"dateTime": "2030-03-01T10:00:00Z"},
        "end": {"dateTime": "2030-03-01T11:00:00Z"},
        "conferenceData": {
            "createRequest": {"requestId": "r1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}
        },
    }
    h.configure(conference_delay_ms=0)
    ev = run(cal.events().insert(calendarId="primary", conferenceDataVersion=1, body=body))

    def code() -> str | None:
        got = run(cal.events().get(calendarId="primary", eventId=ev["id"]))
        found: str | None = got.get("conferenceData", {}).get("conferenceId")
        return found

    meeting_code = wait_for(code, what="conference")
    space: dict[str, Any] = h.control("GET", f"/spaces/{meeting_code}")
    return str(space["name"])


def _all(request_fn: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a paged Meet list, page by page (each page validated)."""
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = run(request_fn(pageToken=token, **kwargs) if token else request_fn(**kwargs))
        items.extend(page.get(key, []))
        token = page.get("nextPageToken")
        if not token:
            return items


def test_full_meeting_through_googleapiclient(h: Harness) -> None:
    space = _space(h)
    name = space["name"]
    h.add_user(B)
    h.space_call(name, "join", {"email": A})
    h.space_call(name, "join", {"email": B})
    joined = h.space_call(name, "join", {"anonymous": "Guest"})
    assert joined["participant_session"].startswith("conferenceRecords/")
    h.advance(60)
    h.space_call(name, "leave", {"email": B})
    h.advance(60)
    h.space_call(name, "join", {"email": B})
    h.space_call(name, "join", {"phone": PHONE})

    meet = h.meet(A, h.credentials(A, ALL_SCOPES))
    records = meet.conferenceRecords()
    [live] = run(records.list(filter=f'space.name = "{name}"'))["conferenceRecords"]
    assert "endTime" not in live and "expireTime" not in live
    assert live["space"] == name
    assert run(meet.spaces().get(name=name))["activeConference"] == {
        "conferenceRecord": live["name"]
    }
    active = run(records.participants().list(parent=live["name"], filter="latest_end_time IS NULL"))
    assert len(active["participants"]) == 4

    h.advance(600)
    view = h.space_call(name, "end")
    assert view["conferences"][0]["ended_by"] == "ended for everyone"
    assert "activeConference" not in run(meet.spaces().get(name=name))
    h.advance(30)
    h.space_call(name, "artifacts", {"kind": "recording"})
    h.space_call(name, "artifacts", {"kind": "transcript"})

    [record] = run(records.list(filter=f'space.name = "{name}"'))["conferenceRecords"]
    assert record == run(records.get(name=record["name"]))
    assert _ts(record["endTime"]) - _ts(record["startTime"]) == pytest.approx(720, abs=2)
    assert _ts(record["expireTime"]) - _ts(record["endTime"]) == pytest.approx(30 * 86400)

    people = _all(records.participants().list, "participants", parent=record["name"])
    assert [p.get("anonymousUser") or p.get("phoneUser") or p["signedinUser"] for p in people] == [
        {"displayName": PHONE},
        {"displayName": "Guest"},
        {"user": f"users/{h.user_id(B)}", "displayName": "Bob"},
        {"user": f"users/{h.user_id(A)}", "displayName": "Alice"},
    ]
    for person in people:
        assert run(records.participants().get(name=person["name"])) == person
        assert person["latestEndTime"] == record["endTime"]
    bob = people[2]
    sessions = run(records.participants().participantSessions().list(parent=bob["name"]))
    first, second = sessions["participantSessions"][1], sessions["participantSessions"][0]
    assert first["startTime"] == bob["earliestStartTime"]
    assert _ts(first["endTime"]) - _ts(first["startTime"]) == pytest.approx(60, abs=1)
    assert second["endTime"] == record["endTime"]
    got = run(records.participants().participantSessions().get(name=first["name"]))
    assert got == first

    [recording] = run(records.recordings().list(parent=record["name"]))["recordings"]
    assert recording["state"] == "FILE_GENERATED"
    file_id = recording["driveDestination"]["file"]
    assert recording["driveDestination"]["exportUri"] == (
        f"https://drive.google.com/file/d/{file_id}/view"
    )
    assert (recording["startTime"], recording["endTime"]) == (
        record["startTime"],
        record["endTime"],
    )
    assert run(records.recordings().get(name=recording["name"])) == recording
    [transcript] = run(records.transcripts().list(parent=record["name"]))["transcripts"]
    assert transcript["state"] == "FILE_GENERATED"
    assert transcript["docsDestination"]["document"]
    assert run(records.transcripts().get(name=transcript["name"])) == transcript
    entries = _all(
        records.transcripts().entries().list, "transcriptEntries", parent=transcript["name"]
    )
    assert len(entries) == 5  # one line per session
    assert {e["participant"] for e in entries} == {p["name"] for p in people}
    assert all(e["languageCode"] == "en-US" and e["text"] for e in entries)
    assert run(records.transcripts().entries().get(name=entries[0]["name"])) == entries[0]
    assert run(records.smartNotes().list(parent=record["name"])) == {}

    # users/{id} is the Directory id: any user of the domain may resolve it
    user_key = people[3]["signedinUser"]["user"].removeprefix("users/")
    directory = h.directory(B)
    alice = run(directory.users().get(userKey=user_key, viewType="domain_public"))
    assert (alice["primaryEmail"], alice["id"], alice["name"]["fullName"]) == (A, user_key, "Alice")


def test_directory_views_and_errors(h: Harness) -> None:
    h.add_user(A)
    h.control("POST", "/users", {"email": "admin@example.com", "admin": True})
    h.add_user("someone@elsewhere.org")
    admin = h.directory("admin@example.com")
    full = run(admin.users().get(userKey=h.user_id(A)))
    assert full["primaryEmail"] == A
    assert full["isAdmin"] is False
    assert full["kind"] == "admin#directory#user"
    assert run(admin.users().get(userKey=A.upper()))["id"] == full["id"]
    with pytest.raises(HttpError) as not_admin:
        run(h.directory(B).users().get(userKey=h.user_id(A)))
    assert not_admin.value.resp.status == 403
    assert error_body(not_admin.value)["error"]["message"] == (
        "Not Authorized to access this resource/api"
    )
    with pytest.raises(HttpError) as missing:
        run(admin.users().get(userKey="100000000000000000000"))
    assert missing.value.resp.status == 404
    assert error_body(missing.value)["error"]["errors"][0]["reason"] == "notFound"
    with pytest.raises(HttpError) as other_domain:
        run(admin.users().get(userKey="someone@elsewhere.org", viewType="domain_public"))
    assert other_domain.value.resp.status == 403
    bare = build(  # a token without the directory scopes
        "admin",
        "directory_v1",
        static_discovery=True,
        credentials=h.credentials(A, SCOPES),
        client_options={"api_endpoint": f"{h.url}/"},
        cache_discovery=False,
    )
    with pytest.raises(HttpError) as scope:
        run(bare.users().get(userKey=A, viewType="domain_public"))
    assert scope.value.resp.status == 403
    assert error_body(scope.value)["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_conference_record_filters_and_pages(h: Harness) -> None:
    one, two = _space(h)["name"], _space(h)["name"]
    for _ in range(3):
        h.space_call(one, "join", {"email": A})
        h.advance(100)
        h.space_call(one, "leave", {"email": A})
        h.advance(100)
    h.space_call(two, "join", {"anonymous": "Guest"})
    meet = h.meet(A, h.credentials(A, ALL_SCOPES)).conferenceRecords()
    everything = _all(meet.list, "conferenceRecords")
    assert len(everything) == 4
    starts = [_ts(r["startTime"]) for r in everything]
    assert starts == sorted(starts, reverse=True)  # newest first
    assert everything[0]["space"] == two
    paged = _all(meet.list, "conferenceRecords", pageSize=1)
    assert paged == everything
    assert len(_all(meet.list, "conferenceRecords", filter=f'space.name="{one}"')) == 3
    code = h.control("GET", f"/spaces/{two.split('/')[1]}")["meetingCode"]
    by_code = run(meet.list(filter=f'space.meeting_code = "{code}"'))["conferenceRecords"]
    assert [r["space"] for r in by_code] == [two]
    live = run(meet.list(filter="end_time IS NULL"))["conferenceRecords"]
    assert [r["space"] for r in live] == [two]
    second = everything[2]["startTime"]
    newer = run(meet.list(filter=f'start_time>="{second}" AND space.name = "{one}"'))
    assert [r["name"] for r in newer["conferenceRecords"]] == [
        everything[1]["name"],
        everything[2]["name"],
    ]
    either = run(meet.list(filter=f'(space.name = "{two}") OR end_time < "{second}"'))
    assert len(either["conferenceRecords"]) == 2
    for bad in ('space.name = "x" AND', "spaces.name = 1", 'start_time > "yesterday"'):
        with pytest.raises(HttpError) as exc:
            run(meet.list(filter=bad))
        assert error_body(exc.value)["error"]["status"] == "INVALID_ARGUMENT"
    with pytest.raises(HttpError) as token:
        run(meet.list(pageToken="not-a-token"))
    assert token.value.resp.status == 400


def test_who_may_read_conference_records(h: Harness) -> None:
    calendar_made = _calendar_space(h)
    h.add_user(B)
    h.add_user(C)
    h.space_call(calendar_made, "join", {"email": A})
    h.space_call(calendar_made, "join", {"email": B})
    h.space_call(calendar_made, "end")

    created_only = h.meet(A, h.credentials(A, SCOPES)).conferenceRecords()
    assert run(created_only.list()) == {}  # Calendar made the space, not the app
    readonly = h.meet(A, h.credentials(A, ALL_SCOPES)).conferenceRecords()
    [record] = run(readonly.list())["conferenceRecords"]
    with pytest.raises(HttpError) as denied:
        run(created_only.get(name=record["name"]))
    assert denied.value.resp.status == 403

    participant = h.meet(B, h.credentials(B, ALL_SCOPES)).conferenceRecords()
    assert run(participant.get(name=record["name"])) == record
    stranger = h.meet(C, h.credentials(C, ALL_SCOPES)).conferenceRecords()
    assert run(stranger.list()) == {}
    with pytest.raises(HttpError) as not_there:
        run(stranger.get(name=record["name"]))
    assert error_body(not_there.value)["error"]["status"] == "PERMISSION_DENIED"

    app_made = _space(h)["name"]
    h.space_call(app_made, "join", {"email": A})
    assert len(run(created_only.list())["conferenceRecords"]) == 1

    h.advance(30 * 86400 + 1)  # the calendar-made conference's record is deleted
    with pytest.raises(HttpError) as gone:
        run(readonly.get(name=record["name"]))
    assert error_body(gone.value)["error"]["status"] == "NOT_FOUND"
    assert len(run(readonly.list())["conferenceRecords"]) == 1  # the live one stays

    calendar_only = h.meet(A, h.credentials(A, ["https://www.googleapis.com/auth/calendar"]))
    with pytest.raises(HttpError) as scope:
        run(calendar_only.conferenceRecords().list())
    info = error_body(scope.value)["error"]["details"][0]
    assert info["metadata"]["method"] == (
        "google.apps.meet.v2.ConferenceRecordsService.ListConferenceRecords"
    )


def test_body_less_join_and_leave_keep_their_meaning(h: Harness) -> None:
    name = _space(h)["name"]
    meet = h.meet(A, h.credentials(A, ALL_SCOPES))
    view = h.space_call(name, "join")
    assert not view["conferences"][0]["ended"]
    assert "activeConference" in run(meet.spaces().get(name=name))
    h.space_call(name, "leave")
    assert "activeConference" not in run(meet.spaces().get(name=name))
    view = h.control("GET", f"/spaces/{name.split('/')[1]}")
    assert [(c["ended"], c["ended_by"]) for c in view["conferences"]] == [
        (True, "last participant left")
    ]


def test_last_one_out_ends_the_conference_and_control_errors(h: Harness) -> None:
    name = _space(h)["name"]
    h.space_call(name, "join", {"email": A})
    h.space_call(name, "join", {"email": A})  # a second device: a second session
    h.space_call(name, "leave", {"email": A})
    assert not h.control("GET", f"/spaces/{name.split('/')[1]}")["conferences"][0]["ended"]
    h.space_call(name, "leave", {"email": A})
    view = h.control("GET", f"/spaces/{name.split('/')[1]}")
    assert view["conferences"][0]["ended_by"] == "last participant left"
    [alice] = view["conferences"][0]["participants"]
    assert len(alice["sessions"]) == 2 and not alice["in_call"]
    for action, body, status in [
        ("leave", {"email": A}, 409),
        ("end", {}, 409),
        ("join", {"email": A, "phone": "x"}, 400),
        ("join", {"email": "not-an-email"}, 400),
        ("artifacts", {"kind": "video"}, 400),
        ("artifacts", {"kind": "transcript", "entries": [{"email": B, "text": "hi"}]}, 409),
    ]:
        resp = h.http.post(f"{h.url}/_emulator/spaces/{name.split('/')[1]}/{action}", json=body)
        assert resp.status_code == status, (action, body, resp.text)
    fresh = _space(h)["name"]
    resp = h.http.post(
        f"{h.url}/_emulator/spaces/{fresh.split('/')[1]}/artifacts", json={"kind": "recording"}
    )
    assert resp.status_code == 409  # no conference yet


def test_transcript_entries_given_and_auto_artifacts(h: Harness) -> None:
    config = {
        "artifactConfig": {
            "recordingConfig": {"autoRecordingGeneration": "ON"},
            "transcriptionConfig": {"autoTranscriptionGeneration": "ON"},
        }
    }
    name = _space(h, config=config)["name"]
    h.configure(artifact_delay_ms=60_000)
    h.space_call(name, "join", {"email": A})
    h.space_call(name, "join", {"anonymous": "Guest"})
    records = h.meet(A, h.credentials(A, ALL_SCOPES)).conferenceRecords()
    [record] = run(records.list())["conferenceRecords"]
    [recording] = run(records.recordings().list(parent=record["name"]))["recordings"]
    assert recording["state"] == "STARTED"
    assert "driveDestination" not in recording and "endTime" not in recording
    h.advance(300)
    h.space_call(name, "end")
    [ended] = run(records.transcripts().list(parent=record["name"]))["transcripts"]
    assert ended["state"] == "ENDED" and "docsDestination" not in ended
    h.advance(61)

    def generated() -> bool:
        got = run(records.recordings().get(name=recording["name"]))
        return bool(got["state"] == "FILE_GENERATED")

    wait_for(generated, what="the auto recording's file")
    transcript = run(records.transcripts().get(name=ended["name"]))
    assert transcript["state"] == "FILE_GENERATED"
    assert run(records.smartNotes().list(parent=record["name"])) == {}

    h.space_call(
        name,
        "artifacts",
        {
            "kind": "transcript",
            "entries": [{"email": A, "text": "Hello"}, {"anonymous": "Guest", "text": "Hi"}],
        },
    )
    transcripts = run(records.transcripts().list(parent=record["name"]))["transcripts"]
    assert len(transcripts) == 2
    entries = run(records.transcripts().entries().list(parent=transcripts[1]["name"]))
    assert [e["text"] for e in entries["transcriptEntries"]] == ["Hello", "Hi"]
    note = h.space_call(name, "artifacts", {"kind": "smart_note"})
    [smart] = run(records.smartNotes().list(parent=record["name"]))["smartNotes"]
    assert smart["name"] == note["name"] and smart["docsDestination"]["document"]
    assert run(records.smartNotes().get(name=smart["name"])) == smart
