"""Watching, unwatching and renewing channels, on the in-memory Calendar and store: which
channels are live in Calendar, what the store records, and what is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from shared.domain.errors import AuthRevokedError, ForbiddenError, NotFoundError, TransientError
from shared.domain.ids import token_hash
from shared.domain.models import Channel, ChannelState
from shared.domain.refusals import Kind, Refusal
from shared.services.channels import ChannelService, watch_target
from shared.services.maintenance import Dispatch, parse
from tests.unit.support import ALICE, BOB, KEY, T0, System, system

DAY = 86_400.0


def refused(call: Callable[[], object]) -> Refusal:
    with pytest.raises(Refusal) as info:
        call()
    return info.value


def channel(w: System, channel_id: str) -> Channel:
    found = w.store.get_channel(channel_id)
    assert found is not None, channel_id
    return found


def live(w: System) -> list[str]:
    return [str(c["id"]) for c in w.calendar.live_channels(KEY)]


# -- watch / unwatch --------------------------------------------------------------------------


def test_watch_opens_one_channel_stores_only_the_token_hash_and_syncs() -> None:
    w = system()
    answer = w.channels.watch(ALICE, "primary")
    assert answer["created"] is True and answer["calendarKey"] == KEY
    channel_id = str(answer["channelId"])
    assert live(w) == [channel_id]
    granted = w.calendar.channels[channel_id]
    stored = channel(w, channel_id)
    token = w.calendar.tokens[channel_id]
    assert stored.token_hash == token_hash(token)
    assert token not in repr(stored.to_dict())  # the token itself is never stored
    assert stored.resource_id == granted["resourceId"]
    ttl = w.settings.channel_ttl_seconds  # less up to 10% of jitter, so cohorts spread out
    assert T0 + dt.timedelta(seconds=ttl * 0.9) <= stored.expiration
    assert stored.expiration <= T0 + dt.timedelta(seconds=ttl)
    assert answer["expiration"] == stored.expiration.isoformat()
    state = w.state()
    assert state.status == "watching" and state.resource_id == granted["resourceId"]
    assert state.sync_token and state.token_version == 1  # the initial full sync ran


def test_watching_again_reuses_the_live_channel() -> None:
    w = system()
    first = w.channels.watch(ALICE, "primary")
    again = w.channels.watch(ALICE.upper(), ALICE)  # the same calendar, spelt otherwise
    assert again["created"] is False and again["channelId"] == first["channelId"]
    assert len(live(w)) == 1 and w.calendar.calls["events.watch"] == 1


def test_unwatch_stops_every_channel_and_the_calendar() -> None:
    w = system()
    first = w.channels.watch(ALICE, "primary")
    answer = w.channels.unwatch(ALICE, "primary")
    assert answer["stoppedChannels"] == [first["channelId"]]
    assert live(w) == []
    assert channel(w, str(first["channelId"])).state == ChannelState.STOPPED
    state = w.state()
    assert state.status == "stopped" and state.sync_token == ""
    # watching again opens a new channel and syncs in full
    again = w.channels.watch(ALICE, "primary")
    assert again["created"] is True and live(w) == [again["channelId"]]
    assert w.state().status == "watching" and w.state().sync_token


def test_a_watch_google_refuses_leaves_the_calendar_unwatched() -> None:
    w = system()
    w.calendar.fail["events.watch"] = ForbiddenError("not yours", status=403, reason="forbidden")
    with pytest.raises(ForbiddenError):
        w.channels.watch(ALICE, "primary")
    assert w.state().status == "stopped"
    assert w.store.channels == {} and live(w) == []
    assert w.sweep() == []


# -- refusals ---------------------------------------------------------------------------------


def test_an_unknown_user_is_forbidden() -> None:
    w = system()
    refusal = refused(lambda: w.channels.watch("mallory@example.com", "primary"))
    assert (refusal.kind, refusal.field) == (Kind.FORBIDDEN, "user")
    assert not w.calendar.calls


def test_a_revoked_user_must_reauthorize() -> None:
    w = system()
    w.store.set_user_status(ALICE, "auth_revoked")
    refusal = refused(lambda: w.channels.watch(ALICE, "primary"))
    assert (refusal.kind, refusal.field) == (Kind.CONFLICT, "user")
    assert not w.calendar.calls


def test_watch_without_a_webhook_is_misconfigured() -> None:
    w = system()
    service = ChannelService(
        store=w.store,
        calendar=w.calendar,
        config=w.channels._config.__class__(
            webhook_url="", ttl_seconds=3600, renew_window_seconds=600, overlap_seconds=60
        ),
        initial_sync=lambda key: None,
        now=w.clock,
    )
    assert refused(lambda: service.watch(ALICE, "primary")).kind is Kind.MISCONFIGURED
    assert not w.calendar.calls and w.store.get_calendar(KEY) is None


def test_unwatch_of_a_calendar_never_watched_is_not_found() -> None:
    w = system()
    refusal = refused(lambda: w.channels.unwatch(BOB, "primary"))
    assert (refusal.kind, refusal.field) == (Kind.NOT_FOUND, "calendarId")


def test_request_helpers_name_the_bad_field() -> None:
    assert watch_target({"user": "Alice@Example.com"}) == (ALICE, "primary")
    assert refused(lambda: watch_target({"user": "alice"})).field == "user"
    assert refused(lambda: watch_target({"user": ALICE, "calendarId": "a/b"})).field == (
        "calendarId"
    )
    assert parse({"kind": "renew"}) == Dispatch("renew")
    assert parse({"action": "sweep", "all": True}) == Dispatch("sweep", sweep_all=True)
    bad = refused(lambda: parse({"kind": "explode"}))
    assert (bad.kind, bad.field) == (Kind.INVALID, "kind")


# -- renewal ----------------------------------------------------------------------------------


def test_a_channel_near_expiry_is_replaced_then_stopped_after_the_overlap() -> None:
    w = system()
    old = str(w.channels.watch(ALICE, "primary")["channelId"])
    assert w.renew().renewed == []  # far from expiry: nothing to do
    w.clock.advance(5 * DAY + 60)  # within the 2-day renew window

    report = w.renew()

    assert report.renewed == [old]
    stopping = channel(w, old)
    new = stopping.replaced_by
    assert stopping.state == ChannelState.STOPPING
    assert sorted(live(w)) == sorted([old, new])  # both live during the overlap
    assert channel(w, new).state == ChannelState.ACTIVE
    assert w.calendar.tokens[new] != w.calendar.tokens[old]

    w.clock.advance(w.settings.channel_overlap_seconds / 2)
    assert w.renew().stopped == []  # still overlapping
    w.clock.advance(w.settings.channel_overlap_seconds)
    report = w.renew()
    assert report.stopped == [old] and report.renewed == []
    assert live(w) == [new]
    assert channel(w, old).state == ChannelState.STOPPED
    # the calendar is still watched through the replacement
    assert w.channels.watch(ALICE, "primary")["channelId"] == new


def test_a_revoked_user_marks_the_calendar_and_the_user() -> None:
    w = system()
    old = str(w.channels.watch(ALICE, "primary")["channelId"])
    w.clock.advance(6 * DAY)
    w.calendar.fail["events.watch"] = AuthRevokedError("x", status=400, reason="invalid_grant")
    report = w.renew()
    assert report.auth_revoked == [KEY] and report.renewed == []
    assert w.state().status == "auth_revoked"
    user = w.store.get_user(ALICE)
    assert user is not None and user.status == "auth_revoked"
    assert channel(w, old).state == ChannelState.STOPPED
    assert w.sweep() == []  # no longer synced


def test_a_gone_calendar_is_marked_gone() -> None:
    w = system()
    old = str(w.channels.watch(ALICE, "primary")["channelId"])
    w.clock.advance(6 * DAY)
    w.calendar.fail["events.watch"] = NotFoundError("no calendar", status=404)
    report = w.renew()
    assert report.gone == [KEY]
    assert w.state().status == "gone" and w.state().status_reason
    assert channel(w, old).state == ChannelState.STOPPED


def test_a_transient_failure_is_reported_and_retried_next_run() -> None:
    w = system()
    old = str(w.channels.watch(ALICE, "primary")["channelId"])
    w.clock.advance(6 * DAY)
    w.calendar.fail["events.watch"] = TransientError("backend error", status=503)
    report = w.renew()
    assert len(report.errors) == 1 and old in report.errors[0]
    assert channel(w, old).state == ChannelState.ACTIVE and w.state().status == "watching"
    assert w.renew().renewed == [old]


def test_an_orphan_channel_of_a_stopped_calendar_is_stopped() -> None:
    w = system()
    old = str(w.channels.watch(ALICE, "primary")["channelId"])
    w.store.update_calendar(KEY, {"status": "stopped"})  # stopped, channel left behind
    assert w.renew().orphans_stopped == []  # renewal reads due channels only
    w.clock.advance(6 * DAY)  # now it is due
    report = w.renew()
    assert report.orphans_stopped == [old]
    assert live(w) == []
    stopped = channel(w, old)
    assert stopped.state == ChannelState.STOPPED and stopped.purge_at is not None
    assert w.renew().orphans_stopped == []  # done once


def test_a_channel_whose_calendar_record_is_missing_is_stopped_in_the_store() -> None:
    w = system()
    stray = Channel("stray", "ghost:ghost", "res-ghost", token_hash("t"), T0 + dt.timedelta(days=1))
    w.store.put_channel(stray)
    assert w.renew().orphans_stopped == ["stray"]
    assert channel(w, "stray").state == ChannelState.STOPPED
    assert w.calendar.calls["channels.stop"] == 0  # nobody to stop it as
