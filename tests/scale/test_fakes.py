"""The simulation's own fakes: the figures of `make scale` are read from them."""

from __future__ import annotations

import datetime as dt
import functools

import pytest

from shared.domain.errors import (
    FullSyncRequiredError,
    NotFoundError,
    RateLimitedError,
)
from shared.domain.models import CalendarState, Channel, Meeting, RunReport
from shared.services.signals import parse_notification
from tests.scale import params
from tests.scale.calendar import ScaleCalendar, ScaleMeet, Window
from tests.scale.core import EPOCH, Sim, SyncExecutor
from tests.scale.pubsub import CountingSink, Message, PushSubscription, SimPublisher
from tests.scale.store import Metered, ScaleStore, clone, collection_of
from tests.scale.workload import in_burst, minute_rates

U0 = ScaleCalendar.owner(0)


def calendar(
    sim: Sim,
    *,
    n: int = 2,
    events: int = 600,
    project: float = 10_000,
    user: float = 600,
    pushed: list[dict[str, str]] | None = None,
) -> ScaleCalendar:
    out = pushed if pushed is not None else []
    return ScaleCalendar(
        sim,
        calendars=n,
        base_events=[events] * n,
        page_size=250,
        project_per_min=project,
        user_per_min=user,
        push=out.append,
        push_delay=1.0,
    )


def watch(cal: ScaleCalendar, channel: str, ttl: int = 3600, user: str = U0) -> None:
    cal.watch(
        user, "primary", channel_id=channel, token=f"tok-{channel}", address="x", ttl_seconds=ttl
    )


# -- sliding windows ---------------------------------------------------------------------------


def test_window_admits_up_to_its_limit_per_sliding_minute() -> None:
    w = Window(3)
    assert [w.admit(t) for t in (0.0, 10.0, 20.0, 30.0)] == [True, True, True, False]
    assert w.admit(60.5)  # the call at 0 s left the window
    assert not w.admit(61.0)
    assert w.peak == 3


def test_window_tolerates_slightly_unordered_times() -> None:
    w = Window(100)
    for t in (10.0, 9.5, 10.2, 9.9):
        assert w.admit(t)
    assert w.total == 4
    w.admit(200.0)
    assert w.total == 1


# -- Calendar: events, sync tokens --------------------------------------------------------------


def test_full_sync_pages_the_base_events_then_a_token_lists_only_changes() -> None:
    sim = Sim()
    cal = calendar(sim)
    items, token, page = [], None, None
    while True:
        got = cal.list_events(U0, "primary", page_token=page, time_min="2026-01-01T00:00:00Z")
        items += got.items
        assert len(got.items) <= 250
        page = got.next_page_token
        if page is None:
            token = got.next_sync_token
            break
    assert len(items) == 600 and len({e["id"] for e in items}) == 600
    assert cal.counts.calls["events.list"] == 3
    cal.user_edit(0, "b7", summary="moved")
    cal.user_add(0)
    cal.user_add(1)  # another calendar
    assert token is not None
    changed = cal.list_events(U0, "primary", sync_token=token)
    assert sorted(e["id"] for e in changed.items) == ["b7", "n1"]
    again = cal.list_events(U0, "primary", sync_token=changed.next_sync_token)
    assert again.items == []


def test_an_invalidated_token_answers_410_and_a_deleted_event_leaves_the_full_listing() -> None:
    sim = Sim()
    cal = calendar(sim, events=10)
    token = cal.list_events(U0, "primary", time_min="x").next_sync_token
    cal.user_delete(0, "b3")
    assert token is not None
    listed = cal.list_events(U0, "primary", sync_token=token).items
    assert [(e["id"], e["status"]) for e in listed] == [("b3", "cancelled")]
    cal.invalidate_sync_tokens(0)
    with pytest.raises(FullSyncRequiredError):
        cal.list_events(U0, "primary", sync_token=token)
    full = cal.list_events(U0, "primary", time_min="x").items
    assert len(full) == 9 and "b3" not in {e["id"] for e in full}


def test_calls_add_their_latency_to_the_invocation_clock() -> None:
    sim = Sim()
    cal = calendar(sim)
    cal.list_events(U0, "primary", time_min="x")  # a full page, and the first token mint
    expected = params.cloud("calendar.list_page") + params.cloud("token.mint")
    assert sim.t == pytest.approx(expected)
    cal.get_event(U0, "primary", "b1")
    assert sim.t == pytest.approx(expected + params.cloud("calendar.call"))


# -- Calendar: quotas, token mints ---------------------------------------------------------------


def test_project_and_user_windows_raise_rate_limited_and_count_quota_errors() -> None:
    sim = Sim()
    cal = calendar(sim, n=3, project=5, user=2)
    for _ in range(2):
        cal.get_event(U0, "primary", "b1")
    with pytest.raises(RateLimitedError):
        cal.get_event(U0, "primary", "b1")  # the user's 600/min (here 2)
    for user in (ScaleCalendar.owner(1), ScaleCalendar.owner(2), ScaleCalendar.owner(2)):
        sim.t = 1.0
        cal.get_event(user, "primary", "b1")
    sim.t = 2.0
    with pytest.raises(RateLimitedError):
        cal.get_event(ScaleCalendar.owner(1), "primary", "b1")  # the project's (here 5)
    assert cal.counts.quota_errors == 2 and cal.counts.quota_errors_user == 1
    assert cal.project.peak == 5 and cal.peak_user_per_min == 2


def test_a_token_is_minted_per_instance_and_user_about_hourly() -> None:
    sim = Sim()
    cal = calendar(sim)
    for t in (0.0, 100.0, 3000.0, 3500.0):
        sim.t = t
        cal.get_event(U0, "primary", "b1")
    assert cal.counts.mints == 2  # refreshed 3 min 45 s before the hour
    sim.current.instance = 1
    cal.get_event(U0, "primary", "b1")
    assert cal.counts.mints == 3


def test_onboarding_calls_are_counted_apart_and_not_held_to_the_windows() -> None:
    sim = Sim()
    cal = calendar(sim, project=1, user=1)
    cal.metering = False
    for _ in range(3):
        cal.get_event(U0, "primary", "b1")
    assert cal.counts.onboarding["events.get"] == 3 and not cal.counts.calls


# -- Calendar: channels and notifications ---------------------------------------------------------


def test_a_change_pushes_googles_headers_to_every_live_channel() -> None:
    sim = Sim()
    pushed: list[dict[str, str]] = []
    cal = calendar(sim, pushed=pushed)
    watch(cal, "c1")
    watch(cal, "c2")
    sim.run(10.0)
    assert [h["X-Goog-Resource-State"] for h in pushed] == ["sync", "sync"]
    cal.user_edit(0, "b1", summary="x")
    sim.run(20.0)
    notes = [parse_notification(h) for h in pushed[2:]]
    assert sorted(n.channel_id for n in notes) == ["c1", "c2"]
    assert {n.resource_state for n in notes} == {"exists"}
    assert {n.token for n in notes} == {"tok-c1", "tok-c2"}
    assert {n.message_number for n in notes} == {2}
    cal.stop_channel(U0, "c1", "r0")
    cal.user_edit(0, "b1", summary="y")
    sim.run(30.0)
    assert [h["X-Goog-Channel-ID"] for h in pushed[4:]] == ["c2"]
    with pytest.raises(NotFoundError):
        cal.stop_channel(U0, "c1", "r0")  # stopped already


def test_a_channel_expiring_with_no_other_live_one_is_counted_expired() -> None:
    sim = Sim()
    cal = calendar(sim)
    watch(cal, "old", ttl=100)
    sim.run(50.0)
    watch(cal, "new", ttl=1000)  # renewed in time: the old one lapses harmlessly
    sim.run(200.0)
    assert cal.counts.channels_expired == 0 and cal.counts.channels_lapsed == 1
    sim.run(2000.0)  # nothing renewed "new"
    assert cal.counts.channels_expired == 1
    assert cal.counts.renewals == 1 and cal.counts.duplicate_channels == 0


def test_a_second_replacement_of_one_channel_is_a_duplicate() -> None:
    sim = Sim()
    cal = calendar(sim)
    watch(cal, "old", ttl=1000)
    watch(cal, "first", ttl=1000)
    watch(cal, "second", ttl=1000)  # two runs both renewed "old"
    assert cal.counts.duplicate_channels == 1
    assert cal.counts.peak_live_per_calendar == 3


def test_insert_makes_a_ready_conference_and_patch_honours_if_match() -> None:
    sim = Sim()
    cal = calendar(sim)
    body = {"id": "m1", "conferenceData": {"createRequest": {"requestId": "m1"}}}
    made = cal.insert_event(U0, "primary", body)
    assert made["conferenceData"]["createRequest"]["status"]["statusCode"] == "success"
    assert made["conferenceData"]["entryPoints"][0]["uri"].startswith("https://meet.google.com/")
    patched = cal.patch_event(U0, "primary", "m1", {"summary": "s"}, etag=made["etag"])
    assert patched["etag"] != made["etag"]
    with pytest.raises(Exception, match="Precondition"):
        cal.patch_event(U0, "primary", "m1", {"summary": "t"}, etag=made["etag"])
    assert cal.counts.bursts == 1  # two changes within the settle time: one burst


def test_meet_space_creates_are_held_to_ten_a_minute_per_user() -> None:
    sim = Sim()
    meet = ScaleMeet(sim, project_create_per_min=100)
    for _ in range(10):
        meet.create_space(U0, {})
    with pytest.raises(RateLimitedError):
        meet.create_space(U0, {})
    assert meet.quota_errors == 1 and meet.calls["spaces.create"] == 10


# -- Pub/Sub -------------------------------------------------------------------------------------


def _subscription(
    sim: Sim, outcomes: list[bool], log: list[tuple[str, float]], *, slots: int = 4
) -> PushSubscription:
    def handler(message: Message, slot: int) -> tuple[bool, float]:
        log.append((message.id, sim.t))
        ok = outcomes.pop(0) if outcomes else True
        return ok, sim.t + 5.0

    return PushSubscription(
        sim,
        "sub",
        handler,
        slots=slots,
        ordered=True,
        min_backoff=10,
        max_backoff=600,
        max_attempts=3,
        ack_deadline=330,
        latency=0.1,
    )


def test_ordered_delivery_keeps_one_message_in_flight_per_key() -> None:
    sim = Sim()
    log: list[tuple[str, float]] = []
    sub = _subscription(sim, [], log)
    for mid, key in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        sub.publish(Message(mid, {}, key, 0.0))
    sim.run(100.0)
    assert log == [("a1", 0.1), ("b1", 0.1), ("a2", 5.1)]
    assert sub.stats.acked == 3 and sub.stats.peak_in_flight == 2


def test_a_nack_blocks_its_key_until_redelivered_with_backoff_then_dead_letters() -> None:
    sim = Sim()
    log: list[tuple[str, float]] = []
    sub = _subscription(sim, [False, False, False], log)
    sub.publish(Message("a1", {}, "a", 0.0))
    sub.publish(Message("a2", {}, "a", 0.0))
    sim.run(1000.0)
    # a1 at 0.1, ends 5.1, back after 10 s; ends 20.1, back after 20 s; third fails: dead
    assert log == [("a1", 0.1), ("a1", 15.1), ("a1", 40.1), ("a2", 45.1)]
    assert sub.stats.dead_lettered == 1 and sub.stats.nacked == 3 and sub.stats.acked == 1


def test_deliveries_wait_for_a_free_slot() -> None:
    sim = Sim()
    log: list[tuple[str, float]] = []
    sub = _subscription(sim, [], log, slots=1)
    for k in range(3):
        sub.publish(Message(f"m{k}", {}, f"k{k}", 0.0))
    sim.run(100.0)
    assert [t for _, t in log] == [0.1, 5.1, 10.1]
    assert sub.stats.peak_backlog == 2  # the first went straight to the free slot


def test_the_publisher_routes_charges_latency_and_counts() -> None:
    sim = Sim()
    log: list[tuple[str, float]] = []
    sub = _subscription(sim, [], log)
    pub = SimPublisher(sim, {"t": sub})
    pub.publish("t", {"x": 1}, ordering_key="k", attributes={"state": "sweep"})
    CountingSink(sim, pub, "events").emit({"type": "meeting.ready"}, ordering_key="m")
    assert sim.t == pytest.approx(2 * 0.015)
    assert pub.published == {"t": 1, "events": 1} and pub.sweep_signals == 1
    sim.run(10.0)
    assert log and log[0][0] == "1"


# -- the store -----------------------------------------------------------------------------------


def _store(sim: Sim) -> ScaleStore:
    return ScaleStore(sim, frozenset({("calendars", "last_sync_started")}))


def test_metered_store_counts_by_collection_and_charges_latency() -> None:
    sim = Sim()
    store = _store(sim)
    fs = Metered(store)
    fs.put_calendar(CalendarState(key="a:a", owner="a", calendar_id="a"))
    fs.get_calendar("a:a")
    fs.channels_for("a:a")
    counts = store.counts
    assert counts.writes == {"calendars": 1}
    assert counts.reads == {"calendars": 1, "channels": 1}  # an empty query bills a read
    assert counts.queries == {"channels": 1}
    assert sim.t == pytest.approx(
        params.cloud("firestore.write")
        + params.cloud("firestore.read")
        + params.cloud("firestore.query")
    )
    assert collection_of("calendars_to_sweep") == "calendars"
    assert collection_of("channels_in_state") == "channels"
    assert collection_of("pending_announcements") == "meetings"


def _replace_with(
    state: CalendarState, _current: CalendarState | None
) -> tuple[None, CalendarState]:
    return None, state


def test_writes_per_document_per_minute_and_time_fields_indexed_or_exempt() -> None:
    sim = Sim()
    store = _store(sim)
    seen: list[tuple[str, str]] = []
    store.on_token = lambda key, token, t: seen.append((key, token))
    at = EPOCH
    for k in range(3):
        state = CalendarState(
            key="a:a",
            owner="a",
            calendar_id="a",
            sync_token=f"0:{k // 2}",
            last_sync_started=at + dt.timedelta(seconds=k),
            next_sweep_at=at,
        )
        store.modify_calendar("a:a", functools.partial(_replace_with, state))
    counts = store.counts
    assert counts.max_doc_writes_per_min == 3 and counts.busiest_doc == "calendars/a:a"
    assert seen == [("a:a", "0:0"), ("a:a", "0:1")]
    # next_sweep_at is indexed: written once (then unchanged); last_sync_started is exempt
    assert counts.indexed_time_fields == {"calendars.next_sweep_at": 1}
    assert counts.exempt_time_fields == {"calendars.last_sync_started": 3}


def test_clone_copies_records_deeply_enough() -> None:
    meeting = Meeting(id="m", organizer="a", mode="calendar", attendees=["b"])
    copied = clone(meeting)
    assert copied == meeting and copied is not meeting
    copied.attendees.append("c")
    assert meeting.attendees == ["b"]
    channel = Channel(id="c", calendar_key="a:a", resource_id="r", token_hash="h", expiration=EPOCH)
    assert clone(channel) == channel
    report = RunReport.of("sweep", EPOCH, EPOCH, {"x": ["1"]}, outcome="ok")
    assert clone(report) == report


# -- the clock and the workload --------------------------------------------------------------------


def test_background_reads_overlap_until_their_result_is_waited_for() -> None:
    sim = Sim()

    def read() -> int:
        sim.spend(0.4)
        return 7

    future = SyncExecutor(sim).submit(read)
    assert sim.t == 0.0
    sim.spend(0.1)
    assert future.result() == 7 and sim.t == pytest.approx(0.4)
    sim.spend(1.0)
    assert future.result() == 7 and sim.t == pytest.approx(1.4)


def test_an_invocation_returns_its_end_and_leaves_the_clock_at_its_start() -> None:
    sim = Sim()
    sim.t = 10.0

    def body() -> str:
        sim.sleep(0.3)
        raise ValueError("boom")

    result, error, end = sim.invoke("f", 0, body)
    assert result is None and isinstance(error, ValueError)
    assert sim.t == 10.0 and end == pytest.approx(10.305)
    stats = sim.functions["f"]
    assert stats.errors == 1 and stats.slept_s == pytest.approx(0.3)


def test_the_working_day_curve_gives_twenty_changes_a_day_and_a_tenfold_burst() -> None:
    rates = minute_rates()
    assert sum(rates) == pytest.approx(params.CHANGES_PER_DAY)
    assert rates[9 * 60 + 5] == pytest.approx(10 * rates[9 * 60 + 15])
    assert in_burst(86_400 + 9 * 3600 + 30) and not in_burst(9 * 3600 + 600)


def test_cron_times_follow_terraforms_schedules() -> None:
    assert params.cron_times("4-59/15 * * * *", 0, 3600) == [240.0, 1140.0, 2040.0, 2940.0]
    assert params.cron_times("7 */2 * * *", 0, 86_400)[:2] == [420.0, 7620.0]
    with pytest.raises(ValueError, match="unsupported"):
        params.cron_times("0 0 1 * *", 0, 10)


def test_a_call_older_than_the_window_does_not_count_in_it() -> None:
    w = Window(100)
    w.admit(100.0)
    w.admit(10.0)  # an invocation that started long before, still running
    assert w.total == 1
    w.admit(200.0)
    assert w.total == 1
