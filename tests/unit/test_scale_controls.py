"""The scale controls on in-memory ports: the Calendar budget, renewal claims under
overlapping runs, jittered lifetimes, the sweep by staleness, continuations past a job's
time budget, and the worker acknowledging what retrying cannot fix."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable

import pytest

from shared.domain.errors import AuthRevokedError, BudgetExhaustedError, NotFoundError
from shared.domain.models import ChangeSignal, ChannelState
from shared.domain.shards import SHARDS, shard_of
from shared.services.budget import BudgetedCalendar, TokenBucket
from shared.services.runs import Resume
from tests.unit.support import ALICE, BOB, KEY, system

DAY = 86_400.0


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_bucket_spreads_calls_at_its_rate_and_refuses_past_the_wait() -> None:
    t = FakeTime()
    bucket = TokenBucket(600, clock=t)  # 10 a second, a second's worth saved at most
    waits = [bucket.reserve(max_wait=5.0) for _ in range(20)]
    assert waits[:10] == [0.0] * 10  # the saved burst
    assert waits[10] == pytest.approx(0.1) and waits[19] == pytest.approx(1.0)
    assert bucket.reserve(max_wait=0.5) is None  # would wait 1.1 s: refused, nothing taken
    t.now += 60  # idle for a minute: still only a second's worth saved
    assert sum(1 for _ in range(30) if bucket.reserve(max_wait=0.0) == 0.0) == 10


def test_budgeted_calendar_waits_then_gives_the_work_back() -> None:
    w = system()
    t = FakeTime()
    budgeted = BudgetedCalendar(
        w.calendar, TokenBucket(60, clock=t), max_wait_seconds=2.0, sleep=t.sleep
    )
    budgeted.list_events(ALICE, ALICE)
    budgeted.list_events(ALICE, ALICE)  # waits a second for its token
    budgeted.list_events(ALICE, ALICE)
    assert t.slept == [pytest.approx(1.0), pytest.approx(1.0)]
    bucket = TokenBucket(60, clock=t)
    budgeted = BudgetedCalendar(w.calendar, bucket, max_wait_seconds=2.0, sleep=t.sleep)
    for _ in range(4):  # other callers of this instance queued 4 calls ahead
        bucket.reserve(max_wait=100.0)
    with pytest.raises(BudgetExhaustedError):
        budgeted.list_events(ALICE, ALICE)
    assert w.calendar.calls["events.list"] == 3


def test_overlapping_renewal_runs_open_one_replacement_per_channel() -> None:
    w = system()
    for user in (ALICE, BOB):
        w.channels.watch(user, "primary")
    w.clock.advance(6 * DAY)
    first = {c.id for c in w.store.channels.values()}
    # the second run starts while the first is between its claim and its replacement
    interleaved: list[str] = []

    def second_run(path: str) -> None:
        if path.startswith("channels/") and not interleaved:
            interleaved.append(path)
            for shard in range(SHARDS):
                w.channels.renew_shard(shard)

    w.store.before_write = second_run
    for shard in range(SHARDS):
        w.channels.renew_shard(shard)
    w.store.before_write = None
    assert interleaved
    opened = [c for c in w.store.channels.values() if c.id not in first]
    assert len(opened) == 2  # one per calendar, though two runs ran
    for old in first:
        stored = w.store.channels[old]
        assert stored.state == ChannelState.STOPPING and stored.replaced_by in {
            c.id for c in opened
        }
    assert sorted(len(w.calendar.live_channels(k)) for k in {KEY, f"{BOB}:{BOB}"}) == [2, 2]


def test_channel_lifetimes_are_jittered_so_a_cohort_spreads() -> None:
    w = system()
    fractions = iter([0.0, 1.0])
    w.channels._random = lambda: next(fractions)
    w.channels.watch(ALICE, "primary")
    w.channels.watch(BOB, "primary")
    ttl = w.settings.channel_ttl_seconds
    got = sorted((c.expiration - w.clock()).total_seconds() for c in w.store.channels.values())
    assert got == [pytest.approx(ttl * 0.9), pytest.approx(ttl)]


def test_the_sweep_skips_calendars_synced_within_the_sweep_age() -> None:
    w = system()
    w.channels.watch(ALICE, "primary")  # synced now: next sweep 4.5 to 6 h away
    assert w.sweep(all_calendars=False) == []
    w.clock.advance(w.settings.sweep_age_seconds * 0.74)
    assert w.sweep(all_calendars=False) == []
    w.clock.advance(w.settings.sweep_age_seconds * 0.27)
    assert w.sweep(all_calendars=False) == [KEY]


def test_a_job_out_of_time_publishes_its_continuation(monkeypatch: pytest.MonkeyPatch) -> None:
    w = system()
    w.channels.watch(ALICE, "primary")
    w.store.update_calendar(KEY, {"next_sweep_at": w.clock() - dt.timedelta(hours=1)})
    shard = shard_of(KEY)
    ticks = iter([0.0, 100.0, 100.0, 200.0, 200.0])  # out of time at once, then fine
    w.maintenance._monotonic = lambda: next(ticks)
    job = {"kind": "sweep", "run": "r", "shard": shard, "due": w.clock().isoformat()}
    first = w.maintenance.handle(job)
    assert first["done"] is False and first["counts"] == {"enqueued": 0}
    ((follow, _key, _attrs),) = w.publisher.messages[w.settings.maintenance_topic]
    assert follow["part"] == 1 and follow["shard"] == shard
    w.maintenance._monotonic = lambda: 0.0
    assert w.maintenance.handle(follow)["counts"] == {"enqueued": 1}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (AuthRevokedError("revoked", status=400, reason="invalid_grant"), "auth_revoked"),
        (NotFoundError("no calendar", status=404), "gone"),
    ],
)
def test_the_worker_marks_an_unreachable_calendar_and_acknowledges(
    error: Exception, status: str
) -> None:
    w = system()
    w.channels.watch(ALICE, "primary")
    w.calendar.fail["events.list"] = error
    signal = ChangeSignal(KEY, "ch", 2, "exists", w.clock())
    report = w.worker.handle({"message": {"data": _encode(signal)}}, message_id="m-unreachable")
    assert report is not None and report.outcome == status
    assert w.state().status == status
    assert all(c.state == ChannelState.STOPPED for c in w.store.channels.values())


def _encode(signal: ChangeSignal) -> str:
    return base64.b64encode(json.dumps(signal.to_dict(), default=str).encode()).decode()


def test_a_renewal_job_that_meets_a_spent_budget_leaves_the_rest_to_the_next_run() -> None:
    w = system()
    w.channels.watch(ALICE, "primary")
    w.clock.advance(6 * DAY)
    w.calendar.fail["events.watch"] = BudgetExhaustedError("no call to spare")
    job = {"kind": "renew", "run": "r", "shard": shard_of(KEY), "due": w.clock().isoformat()}
    answer = w.maintenance.handle(job)
    assert answer["done"] is True and answer["counts"]["errors"] == 0
    assert answer["counts"]["deferred"] == 1
    assert w.publisher.messages.get(w.settings.maintenance_topic, []) == []  # no hot loop
    stored = [c for c in w.store.channels.values() if c.state == "active"]
    assert len(stored) == 1 and not stored[0].renewal_claim  # the claim was given back
    assert w.renew().renewed == [stored[0].id]  # the next run renews it


class _Outcomes:
    """Records the sweep's outcome stage; the first call runs out of time."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, dt.datetime]] = []

    def reconcile_shard(
        self, shard: int, *, due: dt.datetime, out_of_time: Callable[[], bool]
    ) -> tuple[dict[str, list[str]], Resume | None]:
        self.calls.append((shard, due))
        if len(self.calls) == 1:
            return {"reconciled": ["m1"]}, Resume("outcomes", None)
        return {"reconciled": ["m2"], "updated": ["m2"]}, None


def test_a_sweep_job_checks_its_shards_outcomes_after_its_calendars() -> None:
    w = system()
    outcomes = _Outcomes()
    w.maintenance._outcomes = outcomes
    ahead = w.clock() + dt.timedelta(hours=6)  # a sweep-all run: due a sweep age ahead
    job = {"kind": "sweep", "run": "r", "shard": 3, "due": ahead.isoformat()}
    first = w.maintenance.handle(job)
    assert first["done"] is False and first["counts"] == {"enqueued": 0, "reconciled": 1}
    assert outcomes.calls == [(3, w.clock())]  # outcome checks due now, not early
    ((follow, _key, _attrs),) = w.publisher.messages[w.settings.maintenance_topic]
    assert follow["stage"] == "outcomes" and follow["part"] == 1
    second = w.maintenance.handle(follow)  # the calendars are not swept again
    assert second["done"] is True and second["counts"] == {"reconciled": 1, "updated": 1}
