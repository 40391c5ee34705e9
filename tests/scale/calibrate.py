"""The calibration script, simulated: the scenario `tests/e2e/test_scale_calibration.py` runs
on the real local stack, run here on the simulation's fakes, counted the same way.

The script, for `calendars` calendars of `events` events each:

1. onboarding: every calendar watched (`watch-calendar`: a channel, then the first full sync);
2. changes: `edits` rounds; in each, one event of every calendar is edited by its user, the
   rounds far enough apart that every edit gets a sync of its own;
3. sweep: one sweep of every watched calendar (`sweep_all`, as `env.sweep()` asks for), and
   the syncs it signals.

Each phase runs until nothing is left to deliver. Counted per phase: Calendar API calls by
method (`events.list` split into full listings and listings from a sync token), Google's
change notifications, publishes per Pub/Sub topic, access tokens minted, and sync passes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from tests.scale import params
from tests.scale.calendar import ScaleCalendar
from tests.scale.scenario import Config, Scenario

PHASES = ("onboarding", "changes", "sweep")
EMULATOR_PAGE = 2500
"""Events per page the workspace emulator returns: the product asks for `maxResults=2500`
and the emulator honours it (`emulator/listing.py` `MAX_PAGE`), where the simulation
assumes Google's pessimistic 250 (`params.FULL_SYNC_PAGE`). Calibrated like for like."""
FULL_LIST = "calendar events.list (full)"
TOKEN_LIST = "calendar events.list (sync token)"
NOTIFICATIONS = "notifications (exists)"
SYNCS = "sync passes"
MINTS = "token mints"
HANDSHAKES = "notifications (sync)"
"""Google's `sync` message on each new channel (the webhook acknowledges it, publishes nothing)."""
NOT_SIMULATED = frozenset({("onboarding", MINTS), ("onboarding", HANDSHAKES)})
"""(phase, operation) pairs the simulation does not count: onboarding is run with the fakes'
metering off, and the fake then mints no access token (`ScaleCalendar._call`) and sends no
`sync` handshake on the channels it opens (`ScaleCalendar.watch`)."""
PUBLISH = "publish "
"""Prefix of the per-topic publish counts (`publish calendar-changes`)."""
ROUND_GAP_S = 120.0
"""Virtual seconds between edit rounds: far more than a round's syncs take."""
EDIT_SPREAD_S = 5.0
"""A round's edits are spread over this (the real script's threads take a few seconds)."""
IDLE_STEP_S = 30.0


def edited_event(round_: int) -> str:
    """The event edited in round `round_` (the simulated calendar's base event ids)."""
    return f"b{round_}"


def run_script(
    calendars: int,
    events: int,
    edits: int,
    *,
    page_size: int = EMULATOR_PAGE,
    settings: Mapping[str, Any] | None = None,
    seed: int = 1,
    one_instance: bool = False,
) -> dict[str, dict[str, int]]:
    """Run the script on the simulation: {phase: {operation: count}}.

    `one_instance` serves every slot of a function from one instance, as the local stack
    runs each function as one process: per-instance state (the access tokens each instance
    holds per user) is then shared as it is there. The slots, and so the timing, are the
    deployment's either way."""
    if not 0 < edits <= events <= int(params.EVENTS_PER_CALENDAR * 0.9):
        raise ValueError("need 0 < edits <= events <= 90% of EVENTS_PER_CALENDAR")
    product_log = logging.getLogger("shared")
    level = product_log.level
    product_log.setLevel(logging.CRITICAL)  # a log line per sync would cost more than the sync
    try:
        return _run(calendars, events, edits, page_size, settings, seed, one_instance)
    finally:
        product_log.setLevel(level)


def _run(
    calendars: int,
    events: int,
    edits: int,
    page_size: int,
    settings: Mapping[str, Any] | None,
    seed: int,
    one_instance: bool,
) -> dict[str, dict[str, int]]:
    scenario = Scenario(
        Config(
            calendars=calendars,
            simulated=calendars,
            days=1.0,
            seed=seed,
            page_size=page_size,
            settings=dict(settings or {}),
        )
    )
    sim, cal = scenario.sim, scenario.calendar
    cal.base_n = [events] * calendars  # every calendar holds `events` events
    if one_instance:  # slot // concurrency is the instance: 0 for every slot
        scenario.worker_concurrency = scenario.changes_sub.slots
        scenario.maintenance_concurrency = scenario.maintenance_sub.slots
    lists = _count_listings(cal)

    def snapshot(onboarding: bool) -> Counter[str]:
        counts: Counter[str] = Counter()
        calls = cal.counts.onboarding if onboarding else cal.counts.calls
        for method, n in calls.items():
            if method != "events.list":
                counts[f"calendar {method}"] += n
        counts.update(lists)
        counts[NOTIFICATIONS] = cal.counts.notifications
        for topic, n in scenario.publisher.published.items():
            counts[PUBLISH + topic] = n
        counts[MINTS] = cal.counts.mints
        counts[SYNCS] = sum(s.syncs for s in scenario.store.calendars.values())
        return counts

    result: dict[str, dict[str, int]] = {}

    # 1. onboarding (its calls are counted apart by the fakes: metering is off meanwhile)
    start = snapshot(onboarding=True)
    scenario._onboard()
    result["onboarding"] = _diff(snapshot(onboarding=True), start)

    # 2. changes: each round edits one event of every calendar
    start = snapshot(onboarding=False)
    t0 = 60.0
    for r in range(edits):
        for i in range(calendars):
            at = t0 + r * ROUND_GAP_S + EDIT_SPREAD_S * i / calendars
            sim.at(at, _edit(cal, i, r))
    sim.run(t0 + edits * ROUND_GAP_S)
    _run_until_idle(scenario)
    result["changes"] = _diff(snapshot(onboarding=False), start)

    # 3. one sweep of every watched calendar, dispatched as the scheduler does
    start = snapshot(onboarding=False)
    sim.run(sim.t + 60.0)
    _, error, _ = sim.invoke(
        "renew-channels", 0, lambda: scenario.maintenance.dispatch("sweep", sweep_all=True)
    )
    if error is not None:
        raise RuntimeError("the sweep's dispatch failed") from error
    _run_until_idle(scenario)
    result["sweep"] = _diff(snapshot(onboarding=False), start)

    problems = dict(scenario.observed.worker_errors) | dict(scenario.observed.maintenance_errors)
    if problems:
        raise RuntimeError(f"the simulated functions failed: {problems}")
    return result


def _edit(cal: ScaleCalendar, i: int, round_: int) -> Callable[[object], None]:
    def edit(_: object) -> None:
        if cal.user_edit(i, edited_event(round_), summary=f"calibration edit {round_}") is None:
            raise RuntimeError(f"calendar {i} has no event {edited_event(round_)}")

    return edit


def _count_listings(cal: ScaleCalendar) -> Counter[str]:
    """Split `events.list` into full listings and listings from a sync token, as the real
    side reads them from the emulator's request log (the fake counts the method only)."""
    lists: Counter[str] = Counter()
    listing = cal.list_events

    def counted(
        user: str,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: str | None = None,
        max_results: int = 2500,
    ) -> Any:
        lists[TOKEN_LIST if sync_token else FULL_LIST] += 1
        return listing(
            user,
            calendar_id,
            sync_token=sync_token,
            page_token=page_token,
            time_min=time_min,
            max_results=max_results,
        )

    setattr(cal, "list_events", counted)  # noqa: B010 (an instance attribute, on purpose)
    return lists


def _run_until_idle(scenario: Scenario) -> None:
    """Run until both subscriptions are empty and a step passes without a Calendar call."""
    sim, cal = scenario.sim, scenario.calendar
    subs = (scenario.changes_sub, scenario.maintenance_sub)
    last = -1
    while True:
        sim.run(sim.t + IDLE_STEP_S)
        calls = sum(cal.counts.calls.values())
        if calls == last and all(s.waiting == 0 and s.in_flight == 0 for s in subs):
            return
        last = calls


def _diff(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in sorted(after) if after[k] - before[k]}


def table(*, real: Mapping[str, Mapping[str, int]], sim: Mapping[str, Mapping[str, int]]) -> str:
    """Both sides' counts per phase, side by side, with the simulation's difference relative
    to the real count (`n/s` where the simulation does not count the operation)."""
    lines = [f"{'phase':<11} {'operation':<34} {'real':>6} {'sim':>6} {'diff':>7}"]
    for phase in PHASES:
        s, r = sim.get(phase, {}), real.get(phase, {})
        for op in sorted(set(s) | set(r)):
            a, b = r.get(op, 0), s.get(op, 0)
            if (phase, op) in NOT_SIMULATED:
                rel = "n/s"
            else:
                rel = f"{(b - a) / a:+.1%}" if a else ("0" if a == b else "inf")
            lines.append(f"{phase:<11} {op:<34} {a:>6} {b:>6} {rel:>7}")
    return "\n".join(lines)
