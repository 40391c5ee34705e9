"""One simulated deployment: the product's real services on the simulation's ports.

Built as `shared/wiring.py` builds them (same settings, same services), with the Google,
Firestore and Pub/Sub adapters replaced by the counting fakes of this package and every
clock, sleep and executor by the simulation's. The functions:

- `calendar-webhook`: `SignalService.receive` with the real header set the fake pushes;
- `sync-worker`: `Worker.handle` on each push of the `calendar-changes` subscription
  (ordered, retry backoff, dead letter), max instances x concurrency slots;
- `renew-channels`: the scheduler's dispatcher, `MaintenanceService.dispatch` at the cron
  times of `renew_schedule` and `sweep_schedule` (infra/variables.tf);
- `maintenance`: `MaintenanceService.handle_push` on each push of the `maintenance` topic;
- `create-meeting`: `MeetingService.submit`, when the workload makes a meeting;
- `watch-calendar`: `ChannelService.watch`, for every calendar at time 0 (onboarding; its
  calls are counted apart and not held to the per-minute windows).

Budget: each function that calls Calendar gets its share of the project budget
(`calendar_budget_shares` in Terraform: budget x share per minute, spread by Terraform over
the function's instances as `CALENDAR_BUDGET_PER_MIN / CALENDAR_BUDGET_INSTANCES`), as one
`TokenBucket` (the assumption: at saturation the per-instance buckets of a function's
instances sum to that share; below saturation a lone instance's bucket is smaller than
the shared one modelled here, so the simulation is optimistic about a single instance's
bursts and exact about the fleet's sustained rate).

Sampling: with `simulated` < `calendars`, each simulated calendar stands for
calendars / simulated real ones: the project quota, the budget, the slots of every pool
and Meet's project quota are scaled by simulated / calendars (per-user limits are not),
and project-wide figures are scaled back.
"""

from __future__ import annotations

import functools
import heapq
import math
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from shared import wiring
from shared.domain.models import User
from shared.domain.refusals import Refusal
from shared.services.budget import BudgetedCalendar, TokenBucket
from shared.services.channels import ChannelConfig, ChannelService
from shared.services.maintenance import MaintenanceService
from shared.services.meetings import MeetingService
from shared.services.signals import ChannelCache, SignalService, Sweeper
from shared.services.sync import SyncConfig, SyncService
from shared.services.worker import Worker
from shared.settings import Settings
from tests.scale import params
from tests.scale.calendar import ScaleCalendar, ScaleMeet
from tests.scale.core import Sim, SyncExecutor
from tests.scale.pubsub import (
    CountingSink,
    Message,
    PushSubscription,
    SimPublisher,
    envelope,
)
from tests.scale.store import Metered, ScaleStore, exempt_fields
from tests.scale.workload import Workload, in_burst


@dataclass(frozen=True)
class Config:
    calendars: int
    """N: the deployment's watched calendars."""
    simulated: int
    """S: the calendars simulated (S < N samples)."""
    days: float = 7.1
    seed: int = 1
    page_size: int = params.FULL_SYNC_PAGE
    changes_per_day: float = params.CHANGES_PER_DAY
    settings: dict[str, Any] = field(default_factory=dict)
    """Settings fields to change from their defaults."""

    @property
    def scale(self) -> float:
        return self.simulated / self.calendars


@dataclass
class Observed:
    """What the scenario records beside the fakes' own counts."""

    latencies: list[float] = field(default_factory=list)
    burst_latencies: list[float] = field(default_factory=list)
    latency_days: list[list[float]] = field(default_factory=list)
    worker_outcomes: Counter[str] = field(default_factory=Counter)
    worker_errors: Counter[str] = field(default_factory=Counter)
    maintenance_errors: Counter[str] = field(default_factory=Counter)
    webhook_refused: Counter[str] = field(default_factory=Counter)
    create_errors: Counter[str] = field(default_factory=Counter)
    dropped_too_old: int = 0
    dispatches: int = 0
    dispatch_errors: int = 0
    webhook_peak_concurrency: int = 0
    unrecorded_changes: int = 0
    onboarding_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    """The process's CPU time: the wall time on an otherwise idle core."""


class Scenario:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.deployment = dep = params.deployment()
        self.rng = random.Random(config.seed)
        self.product_rng = random.Random(config.seed + 1)
        random.seed(config.seed + 2)
        S, scale = config.simulated, config.scale
        self.sim = sim = Sim()
        sim.timeouts = {k: float(v) for k, v in dep.timeouts.items()}
        self.settings = s = Settings(
            project="scale-sim",
            delegation_service_account="sim@scale-sim.iam.gserviceaccount.com",
            webhook_url="https://scale.example/webhook",
            **config.settings,
        )
        self.observed = Observed()
        self.observed.latency_days = [[] for _ in range(int(config.days) + 1)]

        self.store = store = ScaleStore(sim, exempt_fields())
        store.on_token = self._on_token
        fs: Any = Metered(store)
        self.calendar = calendar = ScaleCalendar(
            sim,
            calendars=S,
            base_events=[
                self.rng.randint(
                    int(params.EVENTS_PER_CALENDAR * 0.9), int(params.EVENTS_PER_CALENDAR * 1.1)
                )
                for _ in range(S)
            ],
            page_size=config.page_size,
            project_per_min=params.CALENDAR_PROJECT_PER_MIN * scale,
            user_per_min=params.CALENDAR_USER_PER_MIN,
            push=self._webhook,
            push_delay=params.cloud("google.push"),
            on_mint=lambda: store.count_read("users"),
            settle_seconds=s.sync_settle_seconds,
        )
        calendar.on_change = self._on_change
        self._pending: list[deque[tuple[int, float]]] = [deque() for _ in range(S)]
        self.meet = meet = ScaleMeet(
            sim, project_create_per_min=params.MEET_CREATE_PROJECT_PER_MIN * scale
        )
        self.publisher = publisher = SimPublisher(sim)
        sink = CountingSink(sim, publisher, s.meeting_events_topic)
        self.sink = sink
        source = wiring.event_source(s)

        budget = s.calendar_budget_per_min * scale
        self.buckets: dict[str, TokenBucket] = {}
        self.budget_instances = (
            s.calendar_budget_instances
            if "calendar_budget_instances" in config.settings
            else dep.budget_instances
        )
        """Terraform's sum of max instances, unless `--set CALENDAR_BUDGET_INSTANCES=`."""

        def budgeted(function: str) -> BudgetedCalendar:
            share = (
                budget * dep.budget_share(function)
                if dep.budget_shares and "calendar_budget_instances" not in config.settings
                else budget * dep.instances(function) / self.budget_instances
            )
            bucket = self.buckets[function] = TokenBucket(share, clock=sim.monotonic)
            return BudgetedCalendar(
                calendar,
                bucket,
                max_wait_seconds=wiring.CALENDAR_BUDGET_WAIT_SECONDS,
                sleep=sim.budget_sleep,
            )

        def sync_service(cal: Any) -> SyncService:
            return SyncService(
                store=fs,
                calendar=cal,
                meet=meet,
                sink=sink,
                config=SyncConfig(
                    lease_seconds=s.lease_seconds,
                    full_sync_days=s.full_sync_days,
                    source=source,
                    settle_seconds=s.sync_settle_seconds,
                    sweep_age_seconds=s.sweep_age_seconds,
                ),
                now=sim.now,
                sleep=sim.sleep,
                executor=SyncExecutor(sim),
                random_fraction=self.product_rng.random,
            )

        channel_config = ChannelConfig(
            webhook_url=s.webhook_url,
            ttl_seconds=s.channel_ttl_seconds,
            renew_window_seconds=s.renew_window_seconds,
            overlap_seconds=s.channel_overlap_seconds,
        )
        self.sync = worker_sync = sync_service(budgeted("sync-worker"))
        onboarding_sync = sync_service(calendar)
        self.onboarding = ChannelService(
            store=fs,
            calendar=calendar,
            config=channel_config,
            initial_sync=lambda key: onboarding_sync.sync(key, owner=f"watch-{key}"),
            now=sim.now,
            sink=sink,
            source=source,
            random_fraction=self.product_rng.random,
        )
        self.channels = channels = ChannelService(
            store=fs,
            calendar=budgeted("maintenance"),
            config=channel_config,
            initial_sync=lambda key: worker_sync.sync(key, owner=f"resume-{key}"),
            now=sim.now,
            sink=sink,
            source=source,
            random_fraction=self.product_rng.random,
        )
        self.worker = Worker(
            sync=worker_sync,
            failures=fs,
            max_age_seconds=s.max_message_age_seconds,
            on_unreachable=channels.mark_unreachable,
            now=sim.now,
        )
        cache = ChannelCache(fs.get_channel, ttl=s.channel_cache_seconds, clock=sim.monotonic)
        self.signals = signals = SignalService(
            get_channel=cache.get, publisher=publisher, topic=s.changes_topic, now=sim.now
        )
        self.maintenance = MaintenanceService(
            publisher=publisher,
            topic=s.maintenance_topic,
            channels=channels,
            sweeper=Sweeper(calendars=fs, signals=signals, now=sim.now),
            runs=fs,
            sweep_age_seconds=s.sweep_age_seconds,
            now=sim.now,
            monotonic=sim.monotonic,
        )
        self.meetings = MeetingService(
            calendar=budgeted("create-meeting"),
            meet=meet,
            store=fs,
            events=sink,
            source=source,
            wait_seconds=s.conference_wait_seconds,
            clock=sim.now,
            monotonic=sim.monotonic,
            sleep=sim.sleep,
        )

        def slots(function: str) -> int:
            return max(1, round(dep.slots(function) * scale))

        self.worker_concurrency = dep.concurrency.get("sync-worker", 1)
        self.maintenance_concurrency = dep.concurrency.get("maintenance", 1)
        self._spread = max(1, round(1 / scale))
        """Real slots each simulated slot stands for: an invocation runs on one of them at
        random, so per-instance state (access tokens) sees the real number of instances."""
        self.changes_sub = PushSubscription(
            sim,
            "calendar-changes-sync-worker",
            self._deliver_change,
            slots=slots("sync-worker"),
            ordered=True,
            min_backoff=dep.min_backoff_s,
            max_backoff=dep.max_backoff_s,
            max_attempts=dep.max_delivery_attempts,
            ack_deadline=dep.ack_deadline_s.get("sync_worker_push", 330),
            latency=params.cloud("pubsub.push"),
        )
        self.maintenance_sub = PushSubscription(
            sim,
            "maintenance-maintenance",
            self._deliver_job,
            slots=slots("maintenance"),
            ordered=False,
            min_backoff=dep.min_backoff_s,
            max_backoff=dep.max_backoff_s,
            max_attempts=dep.max_delivery_attempts,
            ack_deadline=dep.ack_deadline_s.get("maintenance_push", 90),
            latency=params.cloud("pubsub.push"),
        )
        publisher.routes = {
            s.changes_topic: self.changes_sub,
            s.maintenance_topic: self.maintenance_sub,
        }
        self.workload = Workload(
            sim,
            calendar,
            simulated=S,
            end_s=config.days * 86_400,
            rng=self.rng,
            create=self._create,
            changes_per_day=config.changes_per_day,
        )
        self._webhook_ends: list[float] = []
        self.dispatcher_longest = 0.0
        self.last_create_error: Exception | None = None

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> Observed:
        started, cpu = time.perf_counter(), time.process_time()
        self._onboard()
        sim, dep, end = self.sim, self.deployment, self.config.days * 86_400
        for t in params.cron_times(dep.renew_schedule, 0, end):
            sim.at(t, self._dispatch, "renew")
        for t in params.cron_times(dep.sweep_schedule, 0, end):
            sim.at(t, self._dispatch, "sweep")
        for minute in range(int(end // 60)):
            sim.at(minute * 60.0 + 59.999, self._sample, None)
        self.workload.start()
        sim.run(end)
        self.observed.unrecorded_changes = sum(len(q) for q in self._pending)
        self.observed.wall_s = time.perf_counter() - started
        self.observed.cpu_s = time.process_time() - cpu
        return self.observed

    def _onboard(self) -> None:
        """Every calendar watched at time 0 (one cohort: their channels expire together, less
        the product's lifetime jitter). Counted apart, and not held to the windows."""
        started = time.perf_counter()
        parts = (self.calendar, self.store, self.publisher, self.meet)
        for part in parts:
            part.metering = False
        for i in range(self.config.simulated):
            self.store.put_user(User(email=ScaleCalendar.owner(i)))
        for i in range(self.config.simulated):
            owner = ScaleCalendar.owner(i)
            _, error, _ = self.sim.invoke(
                "watch-calendar", 0, functools.partial(self.onboarding.watch, owner, "primary")
            )
            if error is not None:
                raise RuntimeError(f"onboarding {owner} failed") from error
        for part in parts:
            part.metering = True
        self.sim.functions.pop("watch-calendar", None)
        self.observed.onboarding_s = time.perf_counter() - started

    # -- the functions --------------------------------------------------------------------------

    def _webhook(self, headers: dict[str, str]) -> None:
        _, error, end = self.sim.invoke(
            "calendar-webhook", 0, lambda: self.signals.receive(headers.items())
        )
        if error is not None:
            kind = error.kind.value if isinstance(error, Refusal) else type(error).__name__
            self.observed.webhook_refused[kind] += 1
        ends = self._webhook_ends
        while ends and ends[0] <= self.sim.t:
            heapq.heappop(ends)
        heapq.heappush(ends, end)
        if len(ends) > self.observed.webhook_peak_concurrency:
            self.observed.webhook_peak_concurrency = len(ends)

    def _instance(self, sub: PushSubscription, concurrency: int) -> int:
        """The instance an invocation lands on: one at random among those the load keeps
        busy (requests in flight over the last minute / concurrency, in real requests when
        sampling), as Cloud Run spreads requests over its warm instances. Only per-instance
        state (each instance's access tokens) depends on it."""
        busy = max(sub.load, 1.0 / self._spread) * self._spread
        return self.rng.randrange(max(1, math.ceil(busy / concurrency)))

    def _deliver_change(self, message: Message, slot: int) -> tuple[bool, float]:
        body = envelope(message, self.changes_sub.name)
        report, error, end = self.sim.invoke(
            "sync-worker",
            self._instance(self.changes_sub, self.worker_concurrency),
            lambda: self.worker.handle(body, message.id),
        )
        observed = self.observed
        if error is not None:
            observed.worker_errors[type(error).__name__] += 1
            return False, end
        if report is None:
            observed.dropped_too_old += 1
        else:
            observed.worker_outcomes[report.outcome] += 1
        return True, end

    def _deliver_job(self, message: Message, slot: int) -> tuple[bool, float]:
        body = envelope(message, self.maintenance_sub.name)
        _, error, end = self.sim.invoke(
            "maintenance",
            self._instance(self.maintenance_sub, self.maintenance_concurrency),
            lambda: self.maintenance.handle_push(body, message.id),
        )
        if error is not None:
            self.observed.maintenance_errors[type(error).__name__] += 1
            return False, end
        return True, end

    def _dispatch(self, kind: str) -> None:
        _, error, end = self.sim.invoke(
            "renew-channels", 0, lambda: self.maintenance.dispatch(kind)
        )
        self.observed.dispatches += 1
        if error is not None:
            self.observed.dispatch_errors += 1
        self.dispatcher_longest = max(self.dispatcher_longest, end - self.sim.t)

    def _create(self, i: int, n: int) -> str | None:
        body = {
            "organizer": ScaleCalendar.owner(i),
            "summary": f"sim meeting {n}",
            "start": "2026-04-01T10:00:00Z",
            "end": "2026-04-01T10:30:00Z",
        }
        meeting, error, _ = self.sim.invoke(
            "create-meeting",
            0,
            lambda: self.meetings.submit(body, f"sim-{i}-{n}", max_attendees=100),
        )
        if error is not None or meeting is None:
            kind = error.kind.value if isinstance(error, Refusal) else type(error).__name__
            self.observed.create_errors[kind] += 1
            self.last_create_error = error
            return None
        return meeting.event_id or None

    def _sample(self, _: object) -> None:
        self.changes_sub.sample()
        self.maintenance_sub.sample()

    # -- change-to-record latency --------------------------------------------------------------

    def _on_change(self, i: int, seq: int, t: float) -> None:
        self._pending[i].append((seq, t))

    def _on_token(self, key: str, token: str, t: float) -> None:
        """A sync saved a token: every change it covers is recorded now."""
        i = int(key[1 : key.index("@")])
        pending = self._pending[i]
        if not pending:
            return
        counter = int(token.partition(":")[2] or 0)
        observed = self.observed
        while pending and pending[0][0] <= counter:
            _, changed_at = pending.popleft()
            latency = t - changed_at
            observed.latencies.append(latency)
            observed.latency_days[int(changed_at // 86_400)].append(latency)
            if in_burst(changed_at):
                observed.burst_latencies.append(latency)
