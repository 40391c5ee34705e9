"""Maintenance runs (renew, sweep, audit: `shared.services.audit`), fanned out over Pub/Sub.

A run is dispatched by the scheduler (through `renew_channels`) or by a message
`{"kind": "renew"}` on the `maintenance` topic (the operator CLI): the dispatcher
publishes one job per shard (`shared.domain.shards`) and answers at once,
whatever the number of calendars. Each job, handled by the `maintenance` function,
pages only its own shard's due work; when its time budget runs out it publishes a
continuation (the same job with a cursor) and returns, so no invocation ever
grows with the deployment. Each job stores its report (one per shard and part,
keyed so a redelivery overwrites its own). Redelivered or duplicated jobs are
harmless: renewal claims each channel with a precondition, and a sweep signal
for a calendar that is syncing anyway is coalesced by its lease.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shared import logs
from shared.domain.models import Meeting, RunOutcome, RunReport
from shared.domain.ports import Clock, Message, Publisher, RunStore
from shared.domain.refusals import Kind, Refusal
from shared.domain.shards import SHARDS
from shared.services.audit import Auditor
from shared.services.channels import RENEW_STAGE, STOP_STAGE, ChannelService
from shared.services.live import OUTCOMES_STAGE
from shared.services.meetings import COMPLETE
from shared.services.runs import Resume
from shared.services.signals import Sweeper
from shared.services.worker import PoisonMessageError

_log = logs.get(__name__)
KINDS = ("renew", "sweep", "audit")
TIME_BUDGET_SECONDS = 40.0
"""Work a job does before handing the rest to a continuation: well inside the function's
60 s timeout, leaving room for the step in progress and the report."""


@dataclass(frozen=True, slots=True)
class Job:
    """One shard's part of a run. `due` (sweep) is fixed at dispatch, so every shard and
    continuation of a run sweeps the same calendars."""

    kind: str
    run: str
    shard: int
    due: dt.datetime
    stage: str = ""
    after: dt.datetime | None = None
    part: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "run": self.run,
            "shard": self.shard,
            "due": self.due.isoformat(),
            "part": self.part,
        }
        if self.stage:
            out["stage"] = self.stage
        if self.after is not None:
            out["after"] = self.after.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A request for a whole run; `sweep_all` sweeps every watched calendar, however fresh."""

    kind: str
    sweep_all: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    """Finish one meeting whose create answered before it was ready (published by
    create_meeting before its 202); redelivered with Pub/Sub's backoff until it is."""

    meeting: str


class OutcomeChecker(Protocol):
    """`MeetEvents.reconcile_shard`: a shard's due reads of conference records."""

    def reconcile_shard(
        self, shard: int, *, due: dt.datetime, out_of_time: Callable[[], bool]
    ) -> tuple[dict[str, list[str]], Resume | None]: ...


class Completer(Protocol):
    """`MeetingService.complete`: returns once the meeting is settled, raises to be retried."""

    def complete(self, meeting_id: str) -> Meeting | None: ...


def parse(message: Any) -> Job | Dispatch | Completion:
    """A `maintenance` message: a dispatch (`{"kind"}`, optionally `"all": true` for a sweep),
    a shard job or a completion job. Anything else is refused as `INVALID`, naming the field."""
    if not isinstance(message, dict):
        raise Refusal(Kind.INVALID, "a maintenance message is a JSON object")
    if message.get("kind") == COMPLETE:
        meeting = message.get("meeting")
        if not isinstance(meeting, str) or not meeting or len(meeting) > 100:
            raise Refusal(Kind.INVALID, "meeting must be a meeting id", "meeting")
        return Completion(meeting)
    kind = message.get("kind", message.get("action"))
    if kind not in KINDS:
        raise Refusal(Kind.INVALID, "kind must be 'renew', 'sweep' or 'audit'", "kind")
    sweep_all = message.get("all", False)
    if not isinstance(sweep_all, bool):
        raise Refusal(Kind.INVALID, "all must be true or false", "all")
    if "shard" not in message:
        return Dispatch(str(kind), sweep_all=sweep_all)
    shard = message["shard"]
    if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < SHARDS:
        raise Refusal(Kind.INVALID, f"shard must be an integer in [0, {SHARDS})", "shard")
    run = message.get("run")
    if not isinstance(run, str) or not run or len(run) > 100:
        raise Refusal(Kind.INVALID, "run must be a non-empty string", "run")
    part = message.get("part", 0)
    if not isinstance(part, int) or isinstance(part, bool) or part < 0:
        raise Refusal(Kind.INVALID, "part must be a non-negative integer", "part")
    stage = message.get("stage", "")
    if kind == "renew" and stage not in ("", STOP_STAGE, RENEW_STAGE):
        raise Refusal(Kind.INVALID, f"unknown renewal stage {stage!r}", "stage")
    return Job(
        kind=str(kind),
        run=run,
        shard=shard,
        due=_time(message.get("due"), "due", required=True) or dt.datetime.now(dt.UTC),
        stage=str(stage),
        after=_time(message.get("after"), "after", required=False),
        part=part,
    )


def dispatch_request(body: dict[str, Any]) -> Dispatch:
    """The scheduler's (or an operator's) HTTP body: `{"action": "renew" | "sweep" |
    "audit"}` (renew when absent), `"all": true` to sweep every watched calendar, not only
    the stale (or audit every followed meeting, not only the due)."""
    kind = body.get("action", "renew")
    if kind not in KINDS:
        raise Refusal(Kind.INVALID, "action must be 'renew', 'sweep' or 'audit'", "action")
    parsed = parse({"kind": kind, "all": body.get("all", False)})
    assert isinstance(parsed, Dispatch)  # no shard given: always a dispatch
    return parsed


def _time(value: Any, name: str, *, required: bool) -> dt.datetime | None:
    if value is None and not required:
        return None
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise Refusal(Kind.INVALID, f"{name} must be an ISO 8601 time with an offset", name)
    return when


class MaintenanceService:
    def __init__(
        self,
        *,
        publisher: Publisher,
        topic: str,
        channels: ChannelService,
        sweeper: Sweeper,
        runs: RunStore,
        sweep_age_seconds: int,
        now: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        time_budget_seconds: float = TIME_BUDGET_SECONDS,
        completer: Completer | None = None,
        auditor: Auditor | None = None,
        outcomes: OutcomeChecker | None = None,
    ) -> None:
        self._outcomes = outcomes
        """The sweep's second stage: meetings whose conference records are due a read."""
        self._auditor = auditor
        """The `audit` kind's shard work (`shared.services.audit`)."""
        self._completer = completer
        self._publisher = publisher
        self._topic = topic
        self._channels = channels
        self._sweeper = sweeper
        self._runs = runs
        self._sweep_age = dt.timedelta(seconds=sweep_age_seconds)
        self._now = now
        self._monotonic = monotonic
        self._budget = time_budget_seconds

    def dispatch(self, kind: str, *, sweep_all: bool = False) -> dict[str, Any]:
        """Publish one job per shard and store the run's dispatch report. The sweep's `due`
        is now (calendars past their next sweep) or, for `sweep_all`, a sweep age ahead
        (every watched calendar: each one's next sweep is at most that far off)."""
        if kind not in KINDS:
            raise Refusal(Kind.INVALID, "kind must be 'renew', 'sweep' or 'audit'", "kind")
        started = self._now()
        run = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        due = started + self._sweep_age if sweep_all else started
        if kind == "audit" and sweep_all and self._auditor is not None:
            due = started + self._auditor.horizon  # every followed meeting, however recent
        jobs = [Job(kind, run, shard, due) for shard in range(SHARDS)]
        self._publisher.publish_many(self._topic, [Message(job.to_dict()) for job in jobs])
        report = RunReport.of(kind, started, self._now(), {}, outcome=RunOutcome.OK, run=run)
        report.counts = {"shards": SHARDS}
        self._runs.put_run(report)
        _log.info("maintenance dispatched", extra={"run": run, "kind": kind, "shards": SHARDS})
        return {"kind": kind, "run": run, "shards": SHARDS, "due": due.isoformat()}

    def handle(self, message: Any) -> dict[str, Any]:
        """One `maintenance` message: dispatch a run, or do one shard job (publishing its
        continuation first if it ran out of time). The job's report is stored; a job that
        raised is reported failed and the exception goes on (Pub/Sub redelivers)."""
        return self._handle(parse(message))

    def _handle(self, parsed: Job | Dispatch | Completion) -> dict[str, Any]:
        if isinstance(parsed, Completion):
            return self._complete(parsed)
        if isinstance(parsed, Dispatch):
            return self.dispatch(parsed.kind, sweep_all=parsed.sweep_all)
        return self._run(parsed)

    def _complete(self, job: Completion) -> dict[str, Any]:
        """Finish one meeting; whatever the completer raises goes on (Pub/Sub redelivers)."""
        if self._completer is None:
            raise RuntimeError("completion jobs are not wired to a meeting service")
        meeting = self._completer.complete(job.meeting)
        status = meeting.status if meeting is not None else None
        return {"kind": COMPLETE, "meeting": job.meeting, "status": status}

    def handle_push(self, data: Any, message_id: str) -> dict[str, Any]:
        """A Pub/Sub push (CloudEvent data): decode, then `handle`. A message that is not a
        valid job raises `PoisonMessageError`, so Pub/Sub dead-letters it (kept, visible to
        `meetsync dlq`) rather than it being dropped."""
        try:
            message = json.loads(base64.b64decode(data["message"]["data"], validate=True))
            parsed = parse(message)
        except Refusal as exc:
            _log.error(
                "invalid maintenance message; it will be dead-lettered",
                extra={"message_id": message_id, "reason": exc.message, "field": exc.field},
            )
            raise PoisonMessageError(f"invalid maintenance message: {exc.message}") from None
        except (KeyError, TypeError, binascii.Error, UnicodeDecodeError, ValueError) as exc:
            _log.error(
                "undecodable maintenance message; it will be dead-lettered",
                extra={"message_id": message_id, "reason": str(exc)},
            )
            raise PoisonMessageError(f"undecodable maintenance message: {exc}") from None
        # decoded: whatever the work raises goes on as itself (Pub/Sub redelivers it)
        return self._handle(parsed)

    def _run(self, job: Job) -> dict[str, Any]:
        started = self._now()
        deadline = self._monotonic() + self._budget

        def out_of_time() -> bool:
            return self._monotonic() >= deadline

        lists: dict[str, list[str]]
        outcome: str
        try:
            if job.kind == "renew":
                report, resume = self._channels.renew_shard(
                    job.shard,
                    stage=job.stage or STOP_STAGE,
                    after=job.after,
                    out_of_time=out_of_time,
                )
                outcome, lists = report.summary()
            elif job.kind == "audit":
                if self._auditor is None:
                    raise RuntimeError("audit jobs are not wired to an auditor")
                audited, resume = self._auditor.audit_shard(
                    job.shard, due=job.due, after=job.after, out_of_time=out_of_time
                )
                outcome, lists = audited.summary()
            else:
                outcome, lists, resume = RunOutcome.OK, {}, None
                if job.stage != OUTCOMES_STAGE:
                    keys, resume = self._sweeper.sweep_shard(
                        job.shard, due=job.due, after=job.after, out_of_time=out_of_time
                    )
                    lists["enqueued"] = keys
                if resume is None and self._outcomes is not None:
                    # a sweep-all run's `due` is ahead: outcome checks due now, not early
                    due = min(job.due, started)
                    checked, resume = self._outcomes.reconcile_shard(
                        job.shard, due=due, out_of_time=out_of_time
                    )
                    lists.update(checked)
            if resume is not None:
                follow = Job(
                    job.kind, job.run, job.shard, job.due, resume.stage, resume.after, job.part + 1
                )
                self._publisher.publish(self._topic, follow.to_dict())
        except Exception as exc:
            self._store(job, started, {}, RunOutcome.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        self._store(job, started, lists, outcome, "", done=resume is None)
        counts = {name: len(ids) for name, ids in lists.items()}
        return {
            "kind": job.kind,
            "run": job.run,
            "shard": job.shard,
            "part": job.part,
            "done": resume is None,
            "counts": counts,
        }

    def _store(
        self,
        job: Job,
        started: dt.datetime,
        lists: dict[str, list[str]],
        outcome: str,
        error: str,
        *,
        done: bool = True,
    ) -> None:
        report = RunReport.of(
            job.kind,
            started,
            self._now(),
            lists,
            outcome=outcome,
            error=error,
            run=job.run,
            shard=job.shard,
            part=job.part,
            done=done,
        )
        _log.info(
            "maintenance run finished",
            extra={
                "run": job.kind,
                "run_id": job.run,
                "shard": job.shard,
                "part": job.part,
                "outcome": outcome,
                "counts": report.counts,
                "error": error or None,
                "done": done,
            },
        )
        try:
            self._runs.put_run(report)
        except Exception:  # the job's own outcome matters more than its report
            _log.exception("could not store the run report", extra={"run": job.kind})
