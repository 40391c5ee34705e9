"""Full and incremental sync, paging, and the 410 fullSyncRequired recovery."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.emulator.support import Harness, error_body, run

A = "alice@example.com"
FULL_SYNC_BODY = {
    "error": {
        "errors": [
            {
                "domain": "calendar",
                "reason": "fullSyncRequired",
                "message": "Sync token is no longer valid, a full sync is required.",
                "locationType": "parameter",
                "location": "syncToken",
            }
        ],
        "code": 410,
        "message": "Sync token is no longer valid, a full sync is required.",
    }
}


def _event(day: int) -> dict[str, Any]:
    return {
        "summary": f"day {day}",
        "start": {"date": f"2030-02-{day:02d}"},
        "end": {"date": f"2030-02-{day + 1:02d}"},
    }


def _sync(cal: Any, max_results: int, **params: Any) -> tuple[list[dict[str, Any]], str, int]:
    """Page through a list; answers items, the final sync token and the page count."""
    items: list[dict[str, Any]] = []
    request = cal.events().list(calendarId="primary", maxResults=max_results, **params)
    pages = 0
    while True:
        page = run(request)
        pages += 1
        items += page["items"]
        if "nextPageToken" in page:
            assert "nextSyncToken" not in page
            request = cal.events().list(
                calendarId="primary",
                maxResults=max_results,
                pageToken=page["nextPageToken"],
                **params,
            )
            continue
        return items, page["nextSyncToken"], pages


def test_full_then_incremental_across_pages(h: Harness) -> None:
    cal = h.calendar(A)
    created = [
        run(cal.events().insert(calendarId="primary", body=_event(d)))["id"] for d in range(1, 6)
    ]
    items, token, pages = _sync(cal, 2)
    assert [e["id"] for e in items] == created
    assert pages == 3

    run(cal.events().patch(calendarId="primary", eventId=created[0], body={"summary": "one"}))
    run(cal.events().patch(calendarId="primary", eventId=created[0], body={"summary": "two"}))
    run(cal.events().delete(calendarId="primary", eventId=created[1]))
    added = [run(cal.events().insert(calendarId="primary", body=_event(d)))["id"] for d in (10, 11)]
    run(cal.events().patch(calendarId="primary", eventId=created[4], body={"location": "x"}))

    changed, token2, pages2 = _sync(cal, 2, syncToken=token)
    by_id = {e["id"]: e for e in changed}
    assert len(changed) == len(by_id) == 5  # each changed event exactly once
    assert set(by_id) == {created[0], created[1], created[4], *added}
    assert by_id[created[0]]["summary"] == "two"  # latest state
    assert by_id[created[1]]["status"] == "cancelled"
    assert pages2 == 3

    nothing, token3, _ = _sync(cal, 2, syncToken=token2)
    assert nothing == []
    run(cal.events().patch(calendarId="primary", eventId=created[2], body={"summary": "late"}))
    again, _, _ = _sync(cal, 2, syncToken=token3)
    assert [e["id"] for e in again] == [created[2]]


def test_full_sync_omits_deleted_and_incremental_keeps_params(h: Harness) -> None:
    cal = h.calendar(A)
    ev = run(cal.events().insert(calendarId="primary", body=_event(1)))
    run(cal.events().delete(calendarId="primary", eventId=ev["id"]))
    items, token, _ = _sync(cal, 10, singleEvents=True)
    assert items == []
    with pytest.raises(HttpError) as exc:
        run(cal.events().list(calendarId="primary", syncToken=token))
    assert exc.value.resp.status == 400
    same, _, _ = _sync(cal, 10, singleEvents=True, syncToken=token)
    assert same == []


def test_invalidated_token_410_and_recovery(h: Harness) -> None:
    cal = h.calendar(A)
    run(cal.events().insert(calendarId="primary", body=_event(1)))
    _, token, _ = _sync(cal, 10)
    h.control("POST", f"/calendars/{A}/invalidate_sync_tokens")
    with pytest.raises(HttpError) as exc:
        run(cal.events().list(calendarId="primary", syncToken=token))
    assert exc.value.resp.status == 410
    assert error_body(exc.value) == FULL_SYNC_BODY
    items, fresh, _ = _sync(cal, 10)
    assert len(items) == 1
    run(cal.events().insert(calendarId="primary", body=_event(3)))
    changed, _, _ = _sync(cal, 10, syncToken=fresh)
    assert len(changed) == 1


def test_aged_token_410(h: Harness) -> None:
    cal = h.calendar(A)
    h.configure(sync_token_max_age_seconds=3600)
    _, token, _ = _sync(cal, 10)
    h.advance(1800)
    _sync(cal, 10, syncToken=token)  # still young
    h.advance(1801)
    with pytest.raises(HttpError) as exc:
        run(cal.events().list(calendarId="primary", syncToken=token))
    assert error_body(exc.value) == FULL_SYNC_BODY
    with pytest.raises(HttpError) as garbage:
        run(cal.events().list(calendarId="primary", syncToken="not-a-token"))
    assert garbage.value.resp.status == 410


def test_updated_min_includes_deleted(h: Harness) -> None:
    cal = h.calendar(A)
    old = run(cal.events().insert(calendarId="primary", body=_event(1)))
    h.advance(120)
    fresh = run(cal.events().insert(calendarId="primary", body=_event(2)))
    run(cal.events().delete(calendarId="primary", eventId=fresh["id"]))
    listed = run(
        cal.events().list(calendarId="primary", updatedMin=fresh["created"], orderBy="updated")
    )
    assert [(e["id"], e["status"]) for e in listed["items"]] == [(fresh["id"], "cancelled")]
    assert old["id"] not in [e["id"] for e in listed["items"]]


def test_partial_response_cuts_every_page_to_the_selection(h: Harness) -> None:
    """`fields` as Google takes it: the envelope and each item cut to the selection,
    paging and sync tokens unchanged, an edit seen through the same selection, nested
    `a/b` and `a(b)` selections, a recurring series' occurrences alike."""
    cal = h.calendar(A)
    created = [
        run(cal.events().insert(calendarId="primary", body={**_event(d), "location": "x"}))
        for d in range(1, 4)
    ]
    fields = "nextPageToken,nextSyncToken,items(id,etag,start/date,attendees(email))"
    items, token, pages = _sync(cal, 2, fields=fields)
    assert pages == 2
    assert items == [
        {"id": e["id"], "etag": e["etag"], "start": {"date": e["start"]["date"]}} for e in created
    ]
    first = run(cal.events().list(calendarId="primary", maxResults=2, fields=fields))
    assert set(first) == {"items", "nextPageToken"}  # no kind, summary, accessRole...

    run(
        cal.events().patch(
            calendarId="primary",
            eventId=created[0]["id"],
            body={"attendees": [{"email": "bob@example.com"}], "summary": "moved"},
        )
    )
    changed, _, _ = _sync(cal, 2, syncToken=token, fields=fields)
    (one,) = changed
    assert one["attendees"] == [{"email": "bob@example.com"}] and "summary" not in one
    assert one["etag"] != created[0]["etag"]  # the selection is cut from the new version

    series = {**_event(10), "recurrence": ["RRULE:FREQ=DAILY;COUNT=2"], "summary": "s"}
    master = run(cal.events().insert(calendarId="primary", body=series))
    occurrences = run(
        cal.events().instances(
            calendarId="primary", eventId=master["id"], fields="items(recurringEventId)"
        )
    )
    assert occurrences == {"items": [{"recurringEventId": master["id"]}] * 2}
    whole = run(cal.events().list(calendarId="primary", fields="accessRole"))
    assert whole == {"accessRole": "owner"}  # no items asked for, none sent


@pytest.mark.parametrize("fields", ["items(id", "items)", "id,,etag", "(id)", "items/(id)"])
def test_a_malformed_selection_is_a_400_naming_fields(h: Harness, fields: str) -> None:
    cal = h.calendar(A)
    with pytest.raises(HttpError) as exc:
        run(cal.events().list(calendarId="primary", fields=fields))
    assert exc.value.resp.status == 400
    (error,) = error_body(exc.value)["error"]["errors"]
    assert error["location"] == "fields" and "Invalid field selection" in error["message"]


def test_selections_add_up_and_a_star_takes_every_field() -> None:
    """Google's syntax beyond what the product sends: `a(b),a(c)` is `a(b,c)` at any depth,
    `a,a/b` is `a` whole, and `*` is every field of its level."""
    from emulator import partial

    event = {"id": "e", "start": {"date": "d", "dateTime": "t", "timeZone": "z"}, "x": {"y": 1}}
    both = partial.parse("items(start/date),items(start/dateTime)")
    assert partial.apply([event], both["items"]) == [{"start": {"date": "d", "dateTime": "t"}}]
    assert partial.parse("start,start/date") == {"start": None}
    assert partial.apply(event, partial.parse("*")) == event
    starred = partial.parse("*,start(date)")
    assert partial.apply(event, starred) == {**event, "start": {"date": "d"}}


def test_a_star_selection_lists_whole_pages(h: Harness) -> None:
    cal = h.calendar(A)
    made = run(cal.events().insert(calendarId="primary", body=_event(1)))
    page = run(cal.events().list(calendarId="primary", fields="*"))
    assert page["kind"] == "calendar#events" and page["items"] == [made]
    ids = run(cal.events().list(calendarId="primary", fields="items/*"))
    assert ids == {"items": [made]}
