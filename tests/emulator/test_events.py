"""Events CRUD, conditional requests, import, isolation and list parameters."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.emulator.support import Harness, error_body, run

A = "alice@example.com"
B = "bob@example.com"


def _event(hour: int = 10, day: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "summary": f"meeting {day}/{hour}",
        "start": {"dateTime": f"2030-01-{day:02d}T{hour:02d}:00:00Z"},
        "end": {"dateTime": f"2030-01-{day:02d}T{hour + 1:02d}:00:00Z"},
        **extra,
    }


def _reason(exc: HttpError) -> str:
    reason: str = error_body(exc)["error"]["errors"][0]["reason"]
    return reason


def test_insert_with_client_id_and_duplicate(h: Harness) -> None:
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", body=_event(id="abcdef0123")))
    assert ev["id"] == "abcdef0123"
    assert ev["status"] == "confirmed"
    assert ev["organizer"] == {"email": A, "self": True}
    assert ev["sequence"] == 0
    with pytest.raises(HttpError) as dup:
        run(cal.events().insert(calendarId="primary", body=_event(id="abcdef0123")))
    assert dup.value.resp.status == 409
    assert error_body(dup.value)["error"]["errors"][0] == {
        "domain": "global",
        "reason": "duplicate",
        "message": "The requested identifier already exists.",
    }
    for bad in ("abc", "UPPERCASE1", "wxyz12345"):
        with pytest.raises(HttpError) as invalid:
            run(cal.events().insert(calendarId="primary", body=_event(id=bad)))
        assert invalid.value.resp.status == 400
    got = run(cal.events().get(calendarId=A, eventId="abcdef0123"))
    assert got == ev


def test_patch_update_etag_sequence_and_updated(h: Harness) -> None:
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", body=_event()))
    patched = run(cal.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "x"}))
    assert patched["etag"] != ev["etag"]
    assert patched["summary"] == "x"
    assert patched["sequence"] == 0
    assert patched["updated"] >= ev["updated"]
    moved = run(
        cal.events().patch(
            calendarId="primary",
            eventId=ev["id"],
            body={
                "start": {"dateTime": "2030-01-01T12:00:00Z"},
                "end": {"dateTime": "2030-01-01T13:00:00Z"},
            },
        )
    )
    assert moved["sequence"] == 1
    replaced = run(
        cal.events().update(calendarId="primary", eventId=ev["id"], body=_event(hour=14))
    )
    assert "summary" in replaced and replaced["summary"] == "meeting 1/14"
    assert replaced["etag"] not in (ev["etag"], patched["etag"], moved["etag"])
    with pytest.raises(HttpError) as missing:
        run(
            cal.events().update(
                calendarId="primary", eventId=ev["id"], body={"summary": "no times"}
            )
        )
    assert missing.value.resp.status == 400


def test_if_match_and_if_none_match(h: Harness) -> None:
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", body=_event()))
    run(cal.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "v2"}))
    stale = cal.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "v3"})
    stale.headers["If-Match"] = ev["etag"]
    with pytest.raises(HttpError) as exc:
        stale.execute()
    assert exc.value.resp.status == 412
    assert error_body(exc.value)["error"]["errors"][0] == {
        "domain": "global",
        "reason": "conditionNotMet",
        "message": "Precondition Failed",
        "locationType": "header",
        "location": "If-Match",
    }
    current = run(cal.events().get(calendarId="primary", eventId=ev["id"]))
    fresh = cal.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "v3"})
    fresh.headers["If-Match"] = current["etag"]
    assert run(fresh)["summary"] == "v3"
    latest = run(cal.events().get(calendarId="primary", eventId=ev["id"]))
    cond = cal.events().get(calendarId="primary", eventId=ev["id"])
    cond.headers["If-None-Match"] = latest["etag"]
    with pytest.raises(HttpError) as not_modified:
        cond.execute()
    assert not_modified.value.resp.status == 304
    stale_delete = cal.events().delete(calendarId="primary", eventId=ev["id"])
    stale_delete.headers["If-Match"] = ev["etag"]
    with pytest.raises(HttpError) as del_exc:
        stale_delete.execute()
    assert del_exc.value.resp.status == 412


def test_delete_then_get_cancelled_then_410(h: Harness) -> None:
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", body=_event()))
    assert run(cal.events().delete(calendarId="primary", eventId=ev["id"])) == ""
    got = run(cal.events().get(calendarId="primary", eventId=ev["id"]))
    assert got["status"] == "cancelled"
    with pytest.raises(HttpError) as again:
        run(cal.events().delete(calendarId="primary", eventId=ev["id"]))
    assert again.value.resp.status == 410
    assert error_body(again.value)["error"]["errors"][0]["reason"] == "deleted"
    assert error_body(again.value)["error"]["message"] == "Resource has been deleted"
    listed = run(cal.events().list(calendarId="primary"))
    assert listed["items"] == []
    with_deleted = run(cal.events().list(calendarId="primary", showDeleted=True))
    assert [e["id"] for e in with_deleted["items"]] == [ev["id"]]


def test_import_twice_keeps_one_copy(h: Harness) -> None:
    cal = h.calendar(A)
    body = _event(
        iCalUID="external-123@partner.example", organizer={"email": "boss@partner.example"}
    )
    first = run(cal.events().import_(calendarId="primary", body=body))
    second = run(cal.events().import_(calendarId="primary", body={**body, "summary": "renamed"}))
    assert first["id"] == second["id"]
    assert second["organizer"]["email"] == "boss@partner.example"
    listed = run(cal.events().list(calendarId="primary", iCalUID="external-123@partner.example"))
    assert [(e["id"], e["summary"]) for e in listed["items"]] == [(first["id"], "renamed")]
    with pytest.raises(HttpError) as no_uid:
        run(cal.events().import_(calendarId="primary", body=_event()))
    assert no_uid.value.resp.status == 400
    with pytest.raises(HttpError) as wrong_type:
        run(cal.events().import_(calendarId="primary", body={**body, "eventType": "focusTime"}))
    assert wrong_type.value.resp.status == 400


def test_cross_user_isolation(h: Harness) -> None:
    alice, bob = h.calendar(A), h.calendar(B)
    ev = run(alice.events().insert(calendarId="primary", body=_event()))
    assert run(alice.calendars().get(calendarId="primary"))["id"] == A
    for call in (
        bob.calendars().get(calendarId=A),
        bob.events().list(calendarId=A),
        bob.events().get(calendarId=A, eventId=ev["id"]),
        bob.events().insert(calendarId=A, body=_event()),
    ):
        with pytest.raises(HttpError) as exc:
            run(call)
        assert exc.value.resp.status == 404
        assert _reason(exc.value) == "notFound"
    with pytest.raises(HttpError) as gone:
        run(bob.events().get(calendarId="primary", eventId=ev["id"]))
    assert gone.value.resp.status == 404


def test_deleted_user_calendar_is_404(h: Harness) -> None:
    cal = h.calendar(A)
    run(cal.events().list(calendarId="primary"))
    h.control("DELETE", f"/users/{A}")
    with pytest.raises(HttpError) as exc:
        run(cal.events().list(calendarId="primary"))
    assert exc.value.resp.status == 404


def test_list_filters_and_ordering(h: Harness) -> None:
    cal = h.calendar(A)
    late = run(
        cal.events().insert(calendarId="primary", body=_event(hour=15, location="Room Zeta"))
    )
    early = run(
        cal.events().insert(
            calendarId="primary",
            body=_event(
                hour=9,
                description="quarterly planning",
                extendedProperties={"private": {"app": "meetsync", "k": "1"}},
            ),
        )
    )
    window = run(
        cal.events().list(
            calendarId="primary", timeMin="2030-01-01T10:00:00Z", timeMax="2030-01-01T15:00:00Z"
        )
    )
    assert window["items"] == []  # exclusive on end and start
    inside = run(cal.events().list(calendarId="primary", timeMin="2030-01-01T09:30:00+00:00"))
    assert [e["id"] for e in inside["items"]] == [late["id"], early["id"]]
    ordered = run(cal.events().list(calendarId="primary", singleEvents=True, orderBy="startTime"))
    assert [e["id"] for e in ordered["items"]] == [early["id"], late["id"]]
    assert [
        e["id"] for e in run(cal.events().list(calendarId="primary", q="QUARTERLY"))["items"]
    ] == [early["id"]]
    assert [e["id"] for e in run(cal.events().list(calendarId="primary", q="zeta"))["items"]] == [
        late["id"]
    ]
    props = run(
        cal.events().list(calendarId="primary", privateExtendedProperty=["app=meetsync", "k=1"])
    )
    assert [e["id"] for e in props["items"]] == [early["id"]]
    none = run(cal.events().list(calendarId="primary", privateExtendedProperty=["app=other"]))
    assert none["items"] == []


def test_list_parameter_validation(h: Harness) -> None:
    cal = h.calendar(A)
    full = run(cal.events().list(calendarId="primary"))
    token = full["nextSyncToken"]
    cases: list[tuple[Any, str]] = [
        (cal.events().list(calendarId="primary", timeMin="2030-01-01T10:00:00"), "badRequest"),
        (
            cal.events().list(
                calendarId="primary", timeMin="2030-01-02T00:00:00Z", timeMax="2030-01-01T00:00:00Z"
            ),
            "timeRangeEmpty",
        ),
        (cal.events().list(calendarId="primary", orderBy="startTime"), "badRequest"),
        (cal.events().list(calendarId="primary", syncToken=token, q="x"), "invalid"),
        (
            cal.events().list(
                calendarId="primary", syncToken=token, timeMin="2030-01-01T00:00:00Z"
            ),
            "invalid",
        ),
        (cal.events().list(calendarId="primary", syncToken=token, showDeleted=False), "invalid"),
        (cal.events().list(calendarId="primary", syncToken=token, singleEvents=True), "invalid"),
        (cal.events().list(calendarId="primary", pageToken="garbage"), "invalid"),
    ]
    for request, reason in cases:
        with pytest.raises(HttpError) as exc:
            run(request)
        assert exc.value.resp.status == 400, request.uri
        assert _reason(exc.value) == reason, request.uri


def test_list_paging_max_results(h: Harness) -> None:
    cal = h.calendar(A)
    ids = [
        run(cal.events().insert(calendarId="primary", body=_event(day=d)))["id"]
        for d in range(1, 8)
    ]
    seen: list[str] = []
    request = cal.events().list(calendarId="primary", maxResults=3)
    pages = 0
    while request is not None:
        page = run(request)
        pages += 1
        assert len(page["items"]) <= 3
        assert ("nextPageToken" in page) != ("nextSyncToken" in page)
        seen += [e["id"] for e in page["items"]]
        request = cal.events().list_next(request, page)
    assert seen == ids
    assert pages == 3
