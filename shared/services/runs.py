"""Reports of the scheduled runs (renew, sweep): one stored per run, and one log line.

Operators read the last report of each kind (`meetsync status`); the log line
("maintenance run finished", with `run` and `outcome`) feeds the log-based metric
that alerts when renewal or the sweep fails. A run that raised is reported
`failed` and the exception goes on (the scheduler retries it).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from shared import logs
from shared.domain.models import RUN_DETAIL_KEPT, RunOutcome, RunReport
from shared.domain.ports import Clock, RunStore

_log = logs.get(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a maintenance job that ran out of time continues: its stage and its cursor
    (the ordering value of the last record it handled)."""

    stage: str
    after: dt.datetime | None


Summary = tuple[RunOutcome, dict[str, list[str]]]
"""(outcome, ids by what was done to them) of a finished run."""


def recorded(
    kind: str,
    runs: RunStore,
    now: Clock,
    work: Callable[[], _T],
    summarize: Callable[[_T], Summary],
) -> _T:
    """Run `work`, then store and log its report (also when it raises)."""
    started = now()
    try:
        result = work()
    except Exception as exc:
        failed = RunOutcome.FAILED
        error = f"{type(exc).__name__}: {exc}"
        _finish(runs, RunReport.of(kind, started, now(), {}, outcome=failed, error=error))
        raise
    outcome, lists = summarize(result)
    _finish(runs, RunReport.of(kind, started, now(), lists, outcome=outcome))
    return result


def _finish(runs: RunStore, report: RunReport) -> None:
    failed = report.outcome == RunOutcome.FAILED
    _log.log(
        logging.ERROR if failed else logging.INFO,
        "maintenance run finished",
        extra={
            "run": report.kind,
            "outcome": report.outcome,
            "counts": report.counts,
            "error": report.error or None,
        },
    )
    try:
        runs.put_run(report)
    except Exception:  # the run's own answer matters more than its report
        _log.exception("could not store the run report", extra={"run": report.kind})


_SEVERITY = {RunOutcome.OK: 0, RunOutcome.ATTENTION: 1, RunOutcome.FAILED: 2}


def latest_run(runs: RunStore, kind: str) -> RunReport | None:
    """The latest run of `kind` as one report: its dispatch and every shard job's report
    merged (counts summed, the worst outcome, `done` once every shard finished). A run
    that dispatched no shards (an older, unsharded report) is returned as stored."""
    last = runs.last_run(kind)
    if last is None or not last.run:
        return last
    reports = runs.reports_of_run(last.run)
    dispatch = next((r for r in reports if r.shard < 0), None)
    jobs = [r for r in reports if r.shard >= 0]
    finished_shards = {r.shard for r in jobs if r.done}
    counts: dict[str, int] = {}
    details: dict[str, list[str]] = {}
    for report in jobs:
        for name, n in report.counts.items():
            counts[name] = counts.get(name, 0) + n
        for name, ids in report.details.items():
            details.setdefault(name, []).extend(ids)
    outcome = max(
        (RunOutcome(r.outcome) for r in reports), key=_SEVERITY.__getitem__, default=RunOutcome.OK
    )
    shards = int(dispatch.counts.get("shards", 0)) if dispatch else 0
    return RunReport(
        id=f"{kind}-{last.run}",
        kind=kind,
        started_at=min(r.started_at for r in reports),
        finished_at=max(r.finished_at for r in reports),
        outcome=outcome,
        counts=counts,
        details={name: ids[:RUN_DETAIL_KEPT] for name, ids in details.items()},
        error="; ".join(sorted({r.error for r in reports if r.error}))[:500],
        run=last.run,
        done=shards > 0 and len(finished_shards) >= shards,
    )
