"""The figures of one simulated deployment, the "Done when" criteria, and their tables.

Every figure is for the deployment of `calendars` (N) calendars: per-calendar figures are
read directly, project-wide ones (calls per minute and per day, writes per second per
collection, counts of failures) are multiplied back by N / simulated when the run sampled.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.scale import params
from tests.scale.core import Series
from tests.scale.scenario import Scenario

PER_RUN_FUNCTIONS = ("maintenance", "renew-channels")
LATENCY_BOUND_N = 10_000
"""Up to this many calendars the burst must be absorbed (p50 < 5 s, p99 < 60 s); beyond, it
may wait in Pub/Sub (drained within 30 min, p50 over the day < 10 s)."""
SAMPLE_CHECK_KEYS = (
    "calendar_calls_per_calendar_day",
    "change_driven_calls_per_calendar_day",
    "firestore_reads_per_calendar_day",
    "firestore_writes_per_calendar_day",
    "firestore_queries_per_calendar_day",
    "publishes_per_calendar_day",
    "token_mints_per_calendar_day",
    "syncs_per_calendar_day",
)
"""Per-calendar figures a sampled run must reproduce within 5% of the full run."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def _peak_per_s_by_minute(series: Series, factor: float) -> float:
    """The busiest minute's average per second, of a per-second series."""
    minutes: Counter[int] = Counter()
    for second, n in series.counts.items():
        minutes[int(second // 60)] += int(n)
    return max(minutes.values(), default=0) / 60.0 * factor


def _drained_after(scenario: Scenario) -> float:
    """Seconds from the end of each day's 9:00 burst until the change backlog is back to
    its level before the burst (at most twice its 8:00-9:00 median, or 10 messages); the
    worst day. A day whose backlog never recovered counts until its end."""
    backlog = scenario.changes_sub.stats.backlog.counts
    worst = 0.0
    burst_end = (params.BURST_START_S + params.BURST_SECONDS) // 60
    for day in range(int(scenario.config.days)):
        base = day * 1440
        before = [backlog.get(m, 0.0) for m in range(base + 480, base + 540)]
        threshold = max(2.0 * statistics.median(before), 10.0)
        end = base + burst_end
        drained = 1440 - burst_end
        for m in range(end, base + 1440):
            if backlog.get(m, 0.0) <= threshold:
                drained = m - end
                break
        worst = max(worst, drained * 60.0)
    return worst


def figures(scenario: Scenario) -> dict[str, Any]:
    """The run's figures (see `.bench/scale.json`)."""
    config, s = scenario.config, scenario.settings
    N, S, days = config.calendars, config.simulated, config.days
    f = N / S
    cal_days = S * days
    cal = scenario.calendar
    counts = cal.counts
    fs = scenario.store.counts
    obs = scenario.observed
    functions = scenario.sim.functions
    sub = scenario.changes_sub.stats
    maint = scenario.maintenance_sub.stats

    total_calls = sum(counts.calls.values())
    # Per-run costs: every maintenance run is 64 shard jobs (each a query, a report, a
    # message) whatever the number of calendars, so a sampled run has them once, not N/S
    # times over: they are neither scaled up nor spread over the simulated calendars only.
    fixed_by_coll: Counter[str] = Counter()
    for (fn, coll), n in fs.queries_by_function.items():
        if fn in PER_RUN_FUNCTIONS:
            fixed_by_coll[coll] += n
    fixed_queries = sum(fixed_by_coll.values())
    fixed_writes = fs.writes["runs"]
    fixed_reads = sum(fs.empty_query_reads_by_function[fn] for fn in PER_RUN_FUNCTIONS)
    fixed_publishes = scenario.publisher.published[s.maintenance_topic]

    def per_cal(total: float, fixed: float = 0.0) -> float:
        return (total - fixed) / cal_days + fixed / (N * days)

    create_calls = sum(n for (fn, _), n in counts.by_function.items() if fn == "create-meeting")
    writebacks = counts.by_function[("sync-worker", "events.patch")]
    minimum = (counts.bursts + writebacks + 2 * counts.renewals + create_calls) / cal_days
    sweep_age_h = s.sweep_age_seconds / 3600
    limit = 1.1 * (minimum + 24 / sweep_age_h)
    per_day: Counter[int] = Counter()
    for minute, calls in counts.per_minute.counts.items():
        per_day[int(minute // 1440)] += int(calls)
    worker_share = scenario.buckets["sync-worker"].rate * 60 * f

    lat_days = [percentile(day, 50) for day in obs.latency_days[: max(1, int(days))] if day]
    invocations = {
        name: st for name, st in functions.items() if name not in ("renew-channels", "setup")
    }
    longest_fn = max(invocations, key=lambda n: invocations[n].longest_s, default="")
    indexed = {  # run reports are per run, not per calendar: not scaled
        coll: round(_peak_per_s_by_minute(series, 1.0 if coll == "runs" else f), 2)
        for coll, series in sorted(fs.indexed_time_writes.items())
    }
    exempt = {
        coll: round(_peak_per_s_by_minute(series, 1.0 if coll == "runs" else f), 2)
        for coll, series in sorted(fs.exempt_time_writes.items())
    }
    worker = functions.get("sync-worker")
    sweeps = scenario.publisher.sweep_signals
    out: dict[str, Any] = {
        "calendars": N,
        "simulated_calendars": S,
        "days": days,
        "seed": config.seed,
        "budget_calls_per_min": s.calendar_budget_per_min,
        "worker_budget_calls_per_min": round(worker_share, 1),
        "calendar_budget_instances": scenario.budget_instances,
        "peak_calendar_calls_per_min": round(cal.project.peak * f),
        "peak_user_calls_per_min": cal.peak_user_per_min,
        "quota_errors": round((counts.quota_errors + scenario.meet.quota_errors) * f),
        "change_to_record_p50_s": round(percentile(obs.latencies, 50), 2),
        "change_to_record_p99_s": round(percentile(obs.latencies, 99), 2),
        "change_to_record_burst_p50_s": round(percentile(obs.burst_latencies, 50), 2),
        "change_to_record_burst_p99_s": round(percentile(obs.burst_latencies, 99), 2),
        "change_to_record_worst_day_p50_s": round(max(lat_days, default=math.nan), 2),
        "longest_invocation_s": round(invocations[longest_fn].longest_s, 2) if longest_fn else 0,
        "longest_invocation_function": longest_fn,
        "longest_dispatcher_s": round(scenario.dispatcher_longest, 3),
        "channels_expired": round(counts.channels_expired * f),
        "duplicate_channels": round(counts.duplicate_channels * f),
        "channels_renewed": round(counts.renewals * f),
        "max_doc_writes_per_s": round(fs.max_doc_writes_per_min / 60, 3),
        "busiest_doc": fs.busiest_doc,
        "indexed_monotonic_writes_per_s": max(indexed.values(), default=0.0),
        "indexed_monotonic_writes_per_s_by_collection": indexed,
        "indexed_time_fields_written": dict(sorted(fs.indexed_time_fields.items())),
        "exempt_monotonic_writes_per_s_by_collection": exempt,
        "backlog_drained_after_peak_s": _drained_after(scenario),
        "peak_backlog_messages": round(sub.peak_backlog * f),
        "calendar_calls_per_day": round(total_calls / days * f),
        "calendar_calls_peak_day": round(max(per_day.values(), default=0) * f),
        "calendar_daily_threshold": params.CALENDAR_DAILY_THRESHOLD,
        "calendar_calls_per_calendar_day": round(total_calls / cal_days, 3),
        "calendar_calls_per_calendar_day_by_method": {
            m: round(n / cal_days, 3) for m, n in sorted(counts.calls.items())
        },
        "calendar_calls_per_calendar_day_by_function": {
            f"{fn} {m}": round(n / cal_days, 3) for (fn, m), n in sorted(counts.by_function.items())
        },
        "change_driven_calls_per_calendar_day": round(minimum, 3),
        "settled_bursts_per_calendar_day": round(counts.bursts / cal_days, 3),
        "writebacks_per_calendar_day": round(writebacks / cal_days, 3),
        "sweep_age_hours": sweep_age_h,
        "sweeps_per_calendar_day": round(sweeps / cal_days, 3),
        "calls_limit_per_calendar_day": round(limit, 3),
        "syncs_per_calendar_day": round(sum(obs.worker_outcomes.values()) / cal_days, 3),
        "sync_outcomes": dict(obs.worker_outcomes),
        "firestore_reads_per_calendar_day": round(per_cal(sum(fs.reads.values()), fixed_reads), 2),
        "firestore_writes_per_calendar_day": round(
            per_cal(sum(fs.writes.values()), fixed_writes), 2
        ),
        "firestore_queries_per_calendar_day": round(
            per_cal(sum(fs.queries.values()), fixed_queries), 2
        ),
        "firestore_per_calendar_day_by_collection": {
            coll: {
                "reads": round(fs.reads[coll] / cal_days, 2),
                "writes": round(per_cal(fs.writes[coll], fixed_writes if coll == "runs" else 0), 2),
                "queries": round(per_cal(fs.queries[coll], fixed_by_coll[coll]), 2),
            }
            for coll in sorted(set(fs.reads) | set(fs.writes) | set(fs.queries))
        },
        "publishes_per_calendar_day": round(
            per_cal(sum(scenario.publisher.published.values()), fixed_publishes), 2
        ),
        "publishes_per_calendar_day_by_topic": {
            t: round(per_cal(n, n if t == s.maintenance_topic else 0), 2)
            for t, n in sorted(scenario.publisher.published.items())
        },
        "meeting_events": dict(scenario.sink.types),
        "token_mints_per_calendar_day": round(counts.mints / cal_days, 3),
        "meet_calls_per_calendar_day": {
            m: round(n / cal_days, 4) for m, n in sorted(scenario.meet.calls.items())
        },
        "dead_lettered": round((sub.dead_lettered + maint.dead_lettered) * f),
        "dropped_too_old": round(obs.dropped_too_old * f),
        "nacked": round((sub.nacked + maint.nacked) * f),
        "worker_errors": dict(obs.worker_errors),
        "maintenance_errors": dict(obs.maintenance_errors),
        "webhook_refused": dict(obs.webhook_refused),
        "create_meeting_errors": dict(obs.create_errors),
        "workload": dict(scenario.workload.kinds),
        "unrecorded_changes": obs.unrecorded_changes,
        "webhook_peak_concurrency": round(obs.webhook_peak_concurrency * f),
        "worker_peak_in_flight": round(sub.peak_in_flight * f),
        "worker_slots": round(scenario.changes_sub.slots * f),
        "worker_slot_seconds_per_calendar_day": round(worker.busy_s / cal_days, 3) if worker else 0,
        "worker_settle_seconds_per_calendar_day": round(worker.slept_s / cal_days, 3)
        if worker
        else 0,
        "worker_budget_wait_seconds_per_calendar_day": round(worker.waited_s / cal_days, 3)
        if worker
        else 0,
        "invocations": {
            name: {
                "count": round(st.invocations * (1 if name in PER_RUN_FUNCTIONS else f)),
                "longest_s": round(st.longest_s, 3),
                "mean_s": round(st.busy_s / st.invocations, 4) if st.invocations else 0,
                "over_timeout": st.over_timeout,
                "errors": round(st.errors * f),
            }
            for name, st in sorted(functions.items())
        },
        "onboarding_calls_per_calendar": {
            m: round(n / S, 2) for m, n in sorted(counts.onboarding.items())
        },
        "ack_deadline_exceeded": sub.over_ack_deadline + maint.over_ack_deadline,
        "sim_wall_s": round(obs.wall_s, 1),
        "sim_cpu_s": round(obs.cpu_s, 1),
        "sim_onboarding_wall_s": round(obs.onboarding_s, 1),
    }
    out["criteria"] = criteria(out)
    out["all_pass"] = all(out["criteria"].values())
    return out


def criteria(fig: dict[str, Any]) -> dict[str, bool]:
    """The issue's "Done when", per N."""
    out = {
        "calls_within_budget": fig["peak_calendar_calls_per_min"] <= fig["budget_calls_per_min"],
        "no_quota_errors": fig["quota_errors"] == 0,
        "no_dead_letters": fig["dead_lettered"] == 0,
        "invocations_under_60s": fig["longest_invocation_s"] < 60,
        "dispatchers_under_5s": fig["longest_dispatcher_s"] < 5,
        "no_expired_channels": fig["channels_expired"] == 0,
        "no_duplicate_channels": fig["duplicate_channels"] == 0,
        "doc_writes_under_1_per_s": fig["max_doc_writes_per_s"] <= 1.0,
        "indexed_monotonic_under_500_per_s": fig["indexed_monotonic_writes_per_s"] < 500,
        "calls_within_1_1x_minimum_plus_sweeps": fig["calendar_calls_per_calendar_day"]
        <= fig["calls_limit_per_calendar_day"],
    }
    if fig["calendars"] <= LATENCY_BOUND_N:
        out["latency_p50_under_5s"] = fig["change_to_record_p50_s"] < 5
        out["latency_p99_under_60s"] = fig["change_to_record_p99_s"] < 60
    else:
        out["backlog_drained_within_30min"] = fig["backlog_drained_after_peak_s"] <= 1800
        out["daily_p50_under_10s"] = fig["change_to_record_worst_day_p50_s"] < 10
    return out


def sample_check(full: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
    """Per-calendar figures of a sampled run against the full run of the same N."""
    ratios = {}
    for key in SAMPLE_CHECK_KEYS:
        a, b = float(full[key]), float(sampled[key])
        ratios[key] = round(b / a, 4) if a else (1.0 if b == 0 else math.inf)
    return {
        "calendars": full["calendars"],
        "simulated_calendars": sampled["simulated_calendars"],
        "ratios": ratios,
        "within_5_percent": all(abs(r - 1) <= 0.05 for r in ratios.values()),
        "peak_calendar_calls_per_min": [
            full["peak_calendar_calls_per_min"],
            sampled["peak_calendar_calls_per_min"],
        ],
        "change_to_record_p50_s": [
            full["change_to_record_p50_s"],
            sampled["change_to_record_p50_s"],
        ],
    }


def capacity(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the quotas carry, from the runs: the burst's Calendar calls/min per calendar in
    the smallest run (where nothing throttles it: the demand), the calls per calendar-day of
    the largest full run, and the largest N whose p99 stayed under 60 s. Calls scale with
    the calendars, so a limit divided by the per-calendar figure bounds N (unqueued: the
    burst served as it comes; p99 under 60 s tolerates a short queue beyond it)."""
    smallest = min(runs, key=lambda r: r["calendars"])
    full = [r for r in runs if r["simulated_calendars"] == r["calendars"]] or runs
    largest = max(full, key=lambda r: r["calendars"])
    demand = smallest["peak_calendar_calls_per_min"] / smallest["calendars"]
    per_day = float(largest["calendar_calls_per_calendar_day"])
    held = [r["calendars"] for r in runs if r["change_to_record_p99_s"] < 60]

    def carried(limit: float, per_calendar: float) -> int | None:
        return int(limit / per_calendar) if per_calendar else None

    return {
        "burst_calls_per_min_per_calendar": round(demand, 4),
        "calls_per_calendar_day": per_day,
        "calendars_unqueued_at_quota_per_min": carried(params.CALENDAR_PROJECT_PER_MIN, demand),
        "calendars_unqueued_at_budget": carried(float(largest["budget_calls_per_min"]), demand),
        "calendars_unqueued_at_worker_share": carried(
            float(largest["worker_budget_calls_per_min"]), demand
        ),
        "calendars_at_daily_threshold": carried(params.CALENDAR_DAILY_THRESHOLD, per_day),
        "largest_run_with_p99_under_60s": max(held, default=None),
        "calls_per_day_at_100k": round(per_day * 100_000),
        "quota_per_min_for_100k_unqueued_at_80_percent": round(demand * 100_000 / 0.8, -3),
    }


def table(fig: dict[str, Any], console: Console) -> None:
    """The readable table of one N."""
    crit = fig["criteria"]
    sampled = fig["simulated_calendars"] != fig["calendars"]
    title = f"N = {fig['calendars']:,} calendars, {fig['days']:g} days" + (
        f" (sampled: {fig['simulated_calendars']:,} simulated, project figures x"
        f"{fig['calendars'] / fig['simulated_calendars']:g})"
        if sampled
        else ""
    )
    t = Table(title=title, title_justify="left")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("criterion")

    def ok(name: str) -> str:
        if name not in crit:
            return ""
        return "[green]pass[/]" if crit[name] else "[red]FAIL[/]"

    by_method = ", ".join(
        f"{m} {v:g}" for m, v in fig["calendar_calls_per_calendar_day_by_method"].items()
    )
    rows: list[tuple[str, str, str]] = [
        (
            "Calendar calls per calendar-day",
            f"{fig['calendar_calls_per_calendar_day']:.2f}",
            f"<= {fig['calls_limit_per_calendar_day']:.2f} "
            + ok("calls_within_1_1x_minimum_plus_sweeps"),
        ),
        ("  by method", by_method, ""),
        (
            "  change-driven minimum / sweeps",
            f"{fig['change_driven_calls_per_calendar_day']:.2f} / "
            f"{fig['sweeps_per_calendar_day']:.2f}",
            f"sweep age {fig['sweep_age_hours']:g} h",
        ),
        (
            "Firestore reads / writes / queries per calendar-day",
            f"{fig['firestore_reads_per_calendar_day']:.1f} / "
            f"{fig['firestore_writes_per_calendar_day']:.1f} / "
            f"{fig['firestore_queries_per_calendar_day']:.1f}",
            "",
        ),
        ("Publishes per calendar-day", f"{fig['publishes_per_calendar_day']:.1f}", ""),
        ("Token mints per calendar-day", f"{fig['token_mints_per_calendar_day']:.2f}", ""),
        (
            "Peak Calendar calls/min (project)",
            f"{fig['peak_calendar_calls_per_min']:,}",
            f"<= budget {fig['budget_calls_per_min']:,} " + ok("calls_within_budget"),
        ),
        ("Peak Calendar calls/min (one user)", str(fig["peak_user_calls_per_min"]), "< 600"),
        ("Quota errors", f"{fig['quota_errors']:,}", ok("no_quota_errors")),
        (
            "Calendar calls per day (project)",
            f"{fig['calendar_calls_per_day']:,}",
            f"vs {fig['calendar_daily_threshold']:,}/day threshold",
        ),
        (
            "Peak writes/s to one document",
            f"{fig['max_doc_writes_per_s']:.3f}",
            "<= 1 " + ok("doc_writes_under_1_per_s"),
        ),
        (
            "Indexed monotonic writes/s (worst collection)",
            f"{fig['indexed_monotonic_writes_per_s']:.1f}",
            "< 500 " + ok("indexed_monotonic_under_500_per_s"),
        ),
        (
            "Longest invocation (simulated)",
            f"{fig['longest_invocation_s']:.2f} s ({fig['longest_invocation_function']})",
            "< 60 s " + ok("invocations_under_60s"),
        ),
        (
            "Longest dispatcher",
            f"{fig['longest_dispatcher_s']:.3f} s",
            "< 5 s " + ok("dispatchers_under_5s"),
        ),
        (
            "Change-to-record p50 / p99 (all)",
            f"{fig['change_to_record_p50_s']:.2f} / {fig['change_to_record_p99_s']:.2f} s",
            " ".join(filter(None, (ok("latency_p50_under_5s"), ok("latency_p99_under_60s")))),
        ),
        (
            "Change-to-record p50 / p99 (9:00 burst)",
            f"{fig['change_to_record_burst_p50_s']:.2f} / "
            f"{fig['change_to_record_burst_p99_s']:.2f} s",
            "",
        ),
        (
            "Worst day's p50",
            f"{fig['change_to_record_worst_day_p50_s']:.2f} s",
            ok("daily_p50_under_10s"),
        ),
        (
            "Backlog drained after the burst",
            f"{fig['backlog_drained_after_peak_s']:.0f} s (peak {fig['peak_backlog_messages']:,})",
            ok("backlog_drained_within_30min"),
        ),
        (
            "Channels expired before renewal",
            str(fig["channels_expired"]),
            ok("no_expired_channels"),
        ),
        ("Duplicate live channels", str(fig["duplicate_channels"]), ok("no_duplicate_channels")),
        ("Signals dead-lettered", str(fig["dead_lettered"]), ok("no_dead_letters")),
        ("Signals dropped as too old", str(fig["dropped_too_old"]), ""),
        (
            "Simulation wall time (CPU)",
            f"{fig['sim_wall_s']:.0f} s ({fig['sim_cpu_s']:.0f} s)",
            "",
        ),
    ]
    for row in rows:
        t.add_row(*row)
    verdict = "[green]all criteria pass[/]" if fig["all_pass"] else "[red]some criteria fail[/]"
    t.caption = verdict
    console.print(t)
