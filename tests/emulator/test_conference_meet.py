"""Conference creation through Calendar, and the Meet spaces it makes."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.emulator.support import Harness, error_body, run, wait_for

A = "alice@example.com"
B = "bob@example.com"
CODE_PATTERN = r"^[a-z]{3}-[a-z]{4}-[a-z]{3}$"


def _event(request_id: str | None = "req-1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": "sync",
        "start": {"dateTime": "2030-03-01T10:00:00Z"},
        "end": {"dateTime": "2030-03-01T11:00:00Z"},
        **extra,
    }
    if request_id:
        body["conferenceData"] = {
            "createRequest": {
                "requestId": request_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        }
    return body


def _status(cal: Any, event_id: str) -> str | None:
    ev = run(cal.events().get(calendarId="primary", eventId=event_id))
    status: str | None = (
        ev.get("conferenceData", {}).get("createRequest", {}).get("status", {}).get("statusCode")
    )
    return status


def test_pending_then_success_then_meet_space_ended(h: Harness) -> None:
    cal = h.calendar(A)
    _, token = _full_sync(cal)
    ev = run(cal.events().insert(calendarId="primary", conferenceDataVersion=1, body=_event()))
    assert ev["conferenceData"]["createRequest"]["status"] == {"statusCode": "pending"}
    assert "hangoutLink" not in ev
    wait_for(lambda: _status(cal, ev["id"]) == "success", what="conference success")
    done = run(cal.events().get(calendarId="primary", eventId=ev["id"]))
    conf = done["conferenceData"]
    code = conf["conferenceId"]
    assert done["etag"] != ev["etag"]
    assert done["hangoutLink"] == f"https://meet.google.com/{code}"
    assert conf["entryPoints"] == [
        {
            "entryPointType": "video",
            "uri": f"https://meet.google.com/{code}",
            "label": f"meet.google.com/{code}",
        }
    ]
    assert conf["conferenceSolution"]["key"] == {"type": "hangoutsMeet"}
    assert conf["conferenceSolution"]["name"] == "Google Meet"
    changes = run(cal.events().list(calendarId="primary", syncToken=token))
    assert [
        e["conferenceData"]["createRequest"]["status"]["statusCode"] for e in changes["items"]
    ] == ["success"]

    meet_a, meet_b = h.meet(A), h.meet(B)
    space = run(meet_a.spaces().get(name=f"spaces/{code.upper()}"))
    assert space["meetingCode"] == code
    assert space["meetingUri"] == f"https://meet.google.com/{code}"
    assert "config" in space
    assert run(meet_a.spaces().get(name=space["name"])) == space
    seen_by_b = run(meet_b.spaces().get(name=space["name"]))
    assert "config" not in seen_by_b

    with pytest.raises(HttpError) as none_running:
        run(meet_a.spaces().endActiveConference(name=space["name"], body={}))
    assert error_body(none_running.value)["error"]["status"] == "FAILED_PRECONDITION"
    space_id = space["name"].split("/")[1]
    h.control("POST", f"/spaces/{space_id}/join")
    active = run(meet_a.spaces().get(name=space["name"]))
    assert active["activeConference"]["conferenceRecord"].startswith("conferenceRecords/")
    with pytest.raises(HttpError) as forbidden:
        run(meet_b.spaces().endActiveConference(name=space["name"], body={}))
    assert forbidden.value.resp.status == 403
    assert error_body(forbidden.value)["error"]["status"] == "PERMISSION_DENIED"
    assert run(meet_a.spaces().endActiveConference(name=space["name"], body={})) == {}
    view = h.control("GET", f"/spaces/{space_id}")
    assert view["owner"] == A
    assert [c["ended"] for c in view["conferences"]] == [True]
    assert view["conferences"][0]["ended_by"] == "endActiveConference"
    assert "activeConference" not in run(meet_a.spaces().get(name=space["name"]))


def _full_sync(cal: Any) -> tuple[list[dict[str, Any]], str]:
    page = run(cal.events().list(calendarId="primary"))
    return page["items"], page["nextSyncToken"]


def test_failure_outcome(h: Harness) -> None:
    h.configure(conference_outcome="failure", conference_delay_ms=20)
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", conferenceDataVersion=1, body=_event()))
    wait_for(lambda: _status(cal, ev["id"]) == "failure", what="conference failure")
    failed = run(cal.events().get(calendarId="primary", eventId=ev["id"]))
    assert "entryPoints" not in failed["conferenceData"]
    assert "hangoutLink" not in failed


def test_clock_advance_fires_pending_conference(h: Harness) -> None:
    h.configure(conference_delay_ms=600_000)
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", conferenceDataVersion=1, body=_event()))
    assert _status(cal, ev["id"]) == "pending"
    h.advance(601)
    wait_for(lambda: _status(cal, ev["id"]) == "success", what="conference after clock jump")


def test_version_zero_ignores_conference_data(h: Harness) -> None:
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", body=_event()))
    assert "conferenceData" not in ev
    patched = run(
        cal.events().patch(
            calendarId="primary", eventId=ev["id"], conferenceDataVersion=0, body=_event()
        )
    )
    assert "conferenceData" not in patched
    with_conf = run(
        cal.events().patch(
            calendarId="primary", eventId=ev["id"], conferenceDataVersion=1, body=_event()
        )
    )
    assert with_conf["conferenceData"]["createRequest"]["status"]["statusCode"] == "pending"
    wait_for(lambda: _status(cal, ev["id"]) == "success", what="conference success")
    kept = run(
        cal.events().update(calendarId="primary", eventId=ev["id"], body=_event(request_id=None))
    )
    assert kept["conferenceData"]["createRequest"]["status"]["statusCode"] == "success"


def test_repeated_request_id_ignored_and_copy(h: Harness) -> None:
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", conferenceDataVersion=1, body=_event("r-1")))
    wait_for(lambda: _status(cal, ev["id"]) == "success", what="conference success")
    done = run(cal.events().get(calendarId="primary", eventId=ev["id"]))
    same = run(
        cal.events().patch(
            calendarId="primary", eventId=ev["id"], conferenceDataVersion=1, body=_event("r-1")
        )
    )
    assert same["conferenceData"] == done["conferenceData"]
    conf = done["conferenceData"]
    copied = run(
        cal.events().insert(
            calendarId="primary",
            conferenceDataVersion=1,
            body=_event(
                None,
                conferenceData={
                    "conferenceSolution": conf["conferenceSolution"],
                    "entryPoints": conf["entryPoints"],
                    "conferenceId": conf["conferenceId"],
                },
            ),
        )
    )
    assert copied["hangoutLink"] == done["hangoutLink"]
    assert "createRequest" not in copied["conferenceData"]
    spaces = h.control("GET", "/spaces")
    assert len(spaces) == 1


def test_meet_spaces_create_patch_and_errors(h: Harness) -> None:
    meet_a, meet_b = h.meet(A), h.meet(B)
    space = run(meet_a.spaces().create(body={"config": {"accessType": "OPEN"}}))
    assert space["config"]["accessType"] == "OPEN"
    assert space["config"]["entryPointAccess"] == "ALL"
    assert len(space["name"].split("/")[1]) == 12
    masked = run(
        meet_a.spaces().patch(
            name=space["name"],
            updateMask="config.entryPointAccess",
            body={"config": {"entryPointAccess": "CREATOR_APP_ONLY", "accessType": "RESTRICTED"}},
        )
    )
    assert masked["config"]["entryPointAccess"] == "CREATOR_APP_ONLY"
    assert masked["config"]["accessType"] == "OPEN"
    merged = run(meet_a.spaces().patch(name=space["name"], body={"config": {"moderation": "ON"}}))
    assert merged["config"]["moderation"] == "ON"
    assert merged["config"]["accessType"] == "OPEN"
    star = run(
        meet_a.spaces().patch(
            name=space["name"], updateMask="*", body={"config": {"accessType": "OPEN"}}
        )
    )
    assert "moderation" not in star["config"]
    with pytest.raises(HttpError) as not_owner:
        run(meet_b.spaces().patch(name=space["name"], body={"config": {"accessType": "OPEN"}}))
    assert not_owner.value.resp.status == 403
    with pytest.raises(HttpError) as missing:
        run(meet_a.spaces().get(name="spaces/doesNotExist"))
    assert error_body(missing.value) == {
        "error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
    }
    with pytest.raises(HttpError) as bad_value:
        run(meet_a.spaces().create(body={"config": {"accessType": "EVERYONE"}}))
    assert error_body(bad_value.value)["error"]["status"] == "INVALID_ARGUMENT"
