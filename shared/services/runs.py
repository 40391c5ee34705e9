"""Reports of the scheduled runs (renew, sweep): one stored per run, and one log line.

Operators read the last report of each kind (`meetsync status`); the log line
("maintenance run finished", with `run` and `outcome`) feeds the log-based metric
that alerts when renewal or the sweep fails. A run that raised is reported
`failed` and the exception goes on (the scheduler retries it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from shared import logs
from shared.domain.models import RunOutcome, RunReport
from shared.domain.ports import Clock, RunStore

_log = logs.get(__name__)
_T = TypeVar("_T")

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
