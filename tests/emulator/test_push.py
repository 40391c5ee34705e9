"""events.watch / channels.stop and the push delivery contract."""

from __future__ import annotations

import email.utils
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.emulator.support import Harness, Receiver, error_body, run, wait_for

A = "alice@example.com"
B = "bob@example.com"
EVENT = {
    "summary": "x",
    "start": {"dateTime": "2030-04-01T10:00:00Z"},
    "end": {"dateTime": "2030-04-01T11:00:00Z"},
}


def _watch(cal: Any, receiver: Receiver, channel_id: str, **extra: Any) -> dict[str, Any]:
    body = {"id": channel_id, "type": "web_hook", "address": receiver.url, **extra}
    channel: dict[str, Any] = run(cal.events().watch(calendarId="primary", body=body))
    return channel


def test_watch_sync_then_exists_with_headers(h: Harness, receiver: Receiver) -> None:
    cal = h.calendar(A)
    channel = _watch(cal, receiver, "chan-1", token="secret-token", params={"ttl": "3600"})
    assert channel["kind"] == "api#channel"
    assert channel["token"] == "secret-token"
    assert channel["resourceUri"].startswith("https://www.googleapis.com/calendar/v3/calendars/")
    now = h.control("GET", "/clock")["now"]
    assert abs(int(channel["expiration"]) - (now + 3600) * 1000) < 5000
    [sync] = receiver.wait(1)
    ev = run(cal.events().insert(calendarId="primary", body=EVENT))
    receiver.wait(2)
    run(cal.events().patch(calendarId="primary", eventId=ev["id"], body={"summary": "y"}))
    receiver.wait(3)
    run(cal.events().delete(calendarId="primary", eventId=ev["id"]))
    messages = receiver.wait(4)
    assert len(messages) == 4
    headers = sync["headers"]
    assert headers["X-Goog-Resource-State"] == "sync"
    assert headers["X-Goog-Message-Number"] == "1"
    assert headers["X-Goog-Channel-ID"] == "chan-1"
    assert headers["X-Goog-Resource-ID"] == channel["resourceId"]
    assert headers["X-Goog-Resource-URI"] == channel["resourceUri"]
    assert headers["X-Goog-Channel-Token"] == "secret-token"
    assert headers["User-Agent"] == "APIs-Google"
    assert headers["Content-Length"] == "0"
    expiry = email.utils.parsedate_to_datetime(headers["X-Goog-Channel-Expiration"])
    assert abs(expiry.timestamp() * 1000 - int(channel["expiration"])) < 1000
    numbers = sorted(int(m["headers"]["X-Goog-Message-Number"]) for m in messages)
    assert numbers[0] == 1 and len(set(numbers)) == 4
    for message in messages:
        assert message["body"] == b""
        assert message["path"] == "/hook"
    assert [m["headers"]["X-Goog-Resource-State"] for m in messages[1:]] == ["exists"] * 3


def test_channels_share_resource_id_and_ids_are_unique(h: Harness, receiver: Receiver) -> None:
    cal = h.calendar(A)
    h.configure(channel_max_ttl_seconds=600)
    first = _watch(cal, receiver, "one")
    second = _watch(cal, receiver, "two", params={"ttl": "100000"})
    assert first["resourceId"] == second["resourceId"]
    now_ms = h.control("GET", "/clock")["now"] * 1000
    assert int(second["expiration"]) <= now_ms + 600_000 + 1000
    with pytest.raises(HttpError) as reused:
        _watch(cal, receiver, "one")
    assert reused.value.resp.status == 400
    assert error_body(reused.value)["error"]["errors"][0]["reason"] == "channelIdNotUnique"
    with pytest.raises(HttpError) as too_long:
        _watch(cal, receiver, "x" * 65)
    assert too_long.value.resp.status == 400


def test_stop_only_by_creator(h: Harness, receiver: Receiver) -> None:
    alice, bob = h.calendar(A), h.calendar(B)
    stopped = _watch(alice, receiver, "stop-me")
    live = _watch(alice, receiver, "keep-me")
    receiver.wait(2)
    stop_body = {"id": stopped["id"], "resourceId": stopped["resourceId"]}
    with pytest.raises(HttpError) as other:
        run(bob.channels().stop(body=stop_body))
    assert other.value.resp.status in (403, 404)
    assert run(alice.channels().stop(body=stop_body)) == ""
    with pytest.raises(HttpError) as twice:
        run(alice.channels().stop(body=stop_body))
    assert twice.value.resp.status == 404
    h.control("POST", f"/calendars/{A}/notify")
    receiver.wait(2, channel_id=live["id"])
    assert len(receiver.messages(stopped["id"])) == 1  # only its sync message


def test_expired_channel_delivers_nothing(h: Harness, receiver: Receiver) -> None:
    cal = h.calendar(A)
    short = _watch(cal, receiver, "short", params={"ttl": "60"})
    receiver.wait(1, channel_id=short["id"])
    h.advance(61)
    live = _watch(cal, receiver, "long")
    receiver.wait(1, channel_id=live["id"])
    run(cal.events().insert(calendarId="primary", body=EVENT))
    receiver.wait(2, channel_id=live["id"])
    assert len(receiver.messages(short["id"])) == 1
    assert {c["id"]: c["expired"] for c in h.control("GET", "/channels")} == {
        "short": True,
        "long": False,
    }


def test_drop_and_duplicate_knobs(h: Harness, receiver: Receiver) -> None:
    cal = h.calendar(A)
    channel = _watch(cal, receiver, "knobs")
    receiver.wait(1)
    h.control("POST", "/push", {"drop_next": 1, "seed": 7})
    run(cal.events().insert(calendarId="primary", body=EVENT))  # dropped
    run(cal.events().insert(calendarId="primary", body=EVENT))  # delivered
    receiver.wait(2)
    dropped = [d for d in h.deliveries() if d["status"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["channel_id"] == channel["id"]
    h.control("POST", "/push", {"duplicate": True})
    run(cal.events().insert(calendarId="primary", body=EVENT))
    messages = receiver.wait(4)
    last_two = [m["headers"]["X-Goog-Message-Number"] for m in messages[2:]]
    assert len(last_two) == 2 and last_two[0] == last_two[1]
    numbers = [int(m["headers"]["X-Goog-Message-Number"]) for m in messages[:3]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


def test_retries_on_503(h: Harness, receiver: Receiver) -> None:
    cal = h.calendar(A)
    receiver.statuses = [503, 200]
    _watch(cal, receiver, "retry")
    receiver.wait(2)
    attempts = wait_for(lambda: (d := h.deliveries()) and len(d) >= 2 and d, what="deliveries")
    assert [(d["status"], d["attempt"]) for d in attempts] == [(503, 1), (200, 2)]
    assert all(d["state"] == "sync" and d["message_number"] == 1 for d in attempts)


def test_delay_and_reorder_still_deliver_everything(h: Harness, receiver: Receiver) -> None:
    cal = h.calendar(A)
    settings = h.control("POST", "/push", {"delay_ms": 20, "reorder": True, "seed": 3})
    assert settings["reorder"] is True and settings["delay_ms"] == 20
    _watch(cal, receiver, "slow")
    for _ in range(4):
        run(cal.events().insert(calendarId="primary", body=EVENT))
    messages = receiver.wait(5)
    numbers = {int(m["headers"]["X-Goog-Message-Number"]) for m in messages}
    assert len(numbers) == 5 and min(numbers) == 1
