"""Push notifications to change signals, on the in-memory store and publisher: what is
published for a genuine notification, and that a forged or malformed one publishes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from shared.domain.errors import PublishError
from shared.domain.ids import token_hash
from shared.domain.models import CalendarState, ChangeSignal, Channel, ChannelState
from shared.domain.refusals import Kind, Refusal
from shared.services.signals import Notification, parse_notification
from tests.unit.support import BOB, KEY, T0, System, system

TOKEN = "the-channel-token"
TOPIC = "calendar-changes"


def with_channel(**fields: object) -> System:
    w = system()
    w.watched()
    channel = Channel(
        id="ch-1",
        calendar_key=KEY,
        resource_id="res-1",
        token_hash=token_hash(TOKEN),
        expiration=T0 + dt.timedelta(days=7),
    )
    w.store.put_channel(Channel.from_dict({**channel.to_dict(), **fields}))
    return w


def headers(**changes: str | None) -> list[tuple[str, str]]:
    base: dict[str, str | None] = {
        "X-Goog-Channel-ID": "ch-1",
        "X-Goog-Channel-Token": TOKEN,
        "X-Goog-Message-Number": "7",
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/x/events",
    }
    base.update(changes)
    return [(k, v) for k, v in base.items() if v is not None]


def published(w: System) -> list[tuple[dict[str, object], str, dict[str, str]]]:
    return list(w.publisher.messages.get(TOPIC, []))


def refused(call: Callable[[], object]) -> Refusal:
    with pytest.raises(Refusal) as info:
        call()
    return info.value


# -- accepted ---------------------------------------------------------------------------------


def test_a_genuine_notification_publishes_one_signal_ordered_by_calendar() -> None:
    w = with_channel()
    accepted = w.signals.receive(headers())
    assert accepted.enqueued and accepted.to_dict() == {
        "status": "enqueued",
        "messageId": accepted.message_id,
    }
    ((data, ordering_key, attributes),) = published(w)
    assert ordering_key == KEY
    assert attributes == {"calendar": KEY, "state": "exists"}
    signal = ChangeSignal.from_dict(data)
    assert (signal.calendar_key, signal.channel_id, signal.message_number) == (KEY, "ch-1", 7)
    assert signal.received_at == w.clock()


def test_header_names_are_case_insensitive() -> None:
    w = with_channel()
    assert w.signals.receive([(k.lower(), v) for k, v in headers()]).enqueued
    assert len(published(w)) == 1


def test_the_sync_handshake_is_acknowledged_without_publishing() -> None:
    w = with_channel()
    accepted = w.signals.receive(headers(**{"X-Goog-Resource-State": "sync"}))
    assert not accepted.enqueued and accepted.to_dict() == {"status": "sync acknowledged"}
    assert published(w) == []


# -- refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "kind", "field"),
    [
        ({"X-Goog-Channel-ID": "unknown"}, Kind.NOT_FOUND, "X-Goog-Channel-ID"),
        ({"X-Goog-Channel-Token": "forged"}, Kind.FORBIDDEN, "X-Goog-Channel-Token"),
        ({"X-Goog-Channel-Token": None}, Kind.FORBIDDEN, "X-Goog-Channel-Token"),
        ({"X-Goog-Channel-Token": "x" * 2000}, Kind.FORBIDDEN, "X-Goog-Channel-Token"),
        ({"X-Goog-Resource-ID": "res-other"}, Kind.FORBIDDEN, "X-Goog-Resource-ID"),
        ({"X-Goog-Channel-ID": None}, Kind.INVALID, "X-Goog-Channel-ID"),
        ({"X-Goog-Channel-ID": "  "}, Kind.INVALID, "X-Goog-Channel-ID"),
        ({"X-Goog-Channel-ID": "x" * 1025}, Kind.INVALID, "X-Goog-Channel-ID"),
        ({"X-Goog-Channel-ID": "ch-\u00e9"}, Kind.INVALID, "X-Goog-Channel-ID"),
        ({"X-Goog-Message-Number": "seven"}, Kind.INVALID, "X-Goog-Message-Number"),
        ({"X-Goog-Message-Number": None}, Kind.INVALID, "X-Goog-Message-Number"),
        ({"X-Goog-Resource-State": "deleted"}, Kind.INVALID, "X-Goog-Resource-State"),
        ({"X-Goog-Resource-ID": None}, Kind.INVALID, "X-Goog-Resource-ID"),
        ({"X-Goog-Resource-URI": None}, Kind.INVALID, "X-Goog-Resource-URI"),
    ],
)
def test_a_bad_notification_is_refused_naming_the_header_and_publishes_nothing(
    changes: dict[str, str | None], kind: Kind, field: str
) -> None:
    w = with_channel()
    refusal = refused(lambda: w.signals.receive(headers(**changes)))
    assert (refusal.kind, refusal.field) == (kind, field)
    assert published(w) == []


def test_a_stopped_channel_is_not_found() -> None:
    w = with_channel(state=ChannelState.STOPPED.value)
    refusal = refused(lambda: w.signals.receive(headers()))
    assert (refusal.kind, refusal.field) == (Kind.NOT_FOUND, "X-Goog-Channel-ID")
    assert published(w) == []


def test_a_failed_publish_is_unavailable_so_google_retries() -> None:
    w = with_channel()
    w.publisher.fail_next = 1
    refusal = refused(lambda: w.signals.receive(headers()))
    assert refusal.kind is Kind.UNAVAILABLE and refusal.retry_after > 0
    assert published(w) == []
    assert w.signals.receive(headers()).enqueued  # Google's retry goes through
    assert len(published(w)) == 1


def test_accept_lets_a_publish_error_through() -> None:
    w = with_channel()
    w.publisher.fail_next = 1
    with pytest.raises(PublishError):
        w.signals.accept(parse_notification(dict(headers())))


def test_parse_keeps_what_the_headers_say() -> None:
    assert parse_notification(dict(headers(**{"X-Goog-Resource-State": "Exists"}))) == (
        Notification(
            channel_id="ch-1",
            message_number=7,
            resource_id="res-1",
            resource_state="exists",
            resource_uri="https://www.googleapis.com/calendar/v3/calendars/x/events",
            token=TOKEN,
        )
    )


# -- the sweep --------------------------------------------------------------------------------


def test_the_sweep_publishes_one_signal_per_watched_calendar_only() -> None:
    w = system()
    alice = w.watched()
    bob = w.watched(BOB)
    w.store.put_calendar(
        CalendarState(key="carol:carol", owner="carol", calendar_id="carol", status="stopped")
    )
    w.store.put_calendar(
        CalendarState(key="dave:dave", owner="dave", calendar_id="dave", status="gone")
    )
    swept = w.sweep()
    assert sorted(swept) == sorted([alice.key, bob.key])
    messages = published(w)
    assert sorted(key for _, key, _ in messages) == sorted(swept)
    for data, key, attributes in messages:
        signal = ChangeSignal.from_dict(data)
        assert signal.calendar_key == key and signal.state == "sweep"
        assert attributes == {"calendar": key, "state": "sweep"}
