"""Commands that do work: renew and sweep, resync, the dead letter, following events, import.

Each returns its exit status (0 all is well, 1 a problem, 130 interrupted); long work
shows a progress display on a terminal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meetsync_cli import dlq, inproc
from meetsync_cli.context import Context
from meetsync_cli.pubsub import ack, following, pull
from meetsync_cli.records import ALL_MEETINGS, known_calendar
from meetsync_cli.target import CliError, Target
from shared.domain.errors import ApiError
from shared.domain.models import CalendarStatus, RunOutcome, RunReport
from shared.services.runs import latest_run
from shared.store.firestore import ContentionError

# -- renew, sweep ---------------------------------------------------------------------------


def maintenance(ctx: Context) -> int:
    """`renew` / `sweep`: trigger a run as Cloud Scheduler does, wait for its stored report."""
    kind, store = ctx.args.command, ctx.target.store
    previous = latest_run(store, kind)
    deadline = time.monotonic() + ctx.args.timeout
    with ctx.out.progress(bar=False) as progress:
        progress.add_task(f"{kind}: running", total=None)
        ctx.target.trigger(kind, sweep_all=bool(getattr(ctx.args, "all", False)))
        run = latest_run(store, kind)
        # the run fans out over shard jobs: wait until every one has reported
        while run is None or not run.done or (previous is not None and run.id == previous.id):
            if time.monotonic() > deadline:
                raise CliError(f"no report of the {kind} run came in {ctx.args.timeout:.0f} s")
            time.sleep(0.5)
            run = latest_run(store, kind)
    _show_run(ctx, run)
    return 0 if run.outcome == RunOutcome.OK else 1


def _show_run(ctx: Context, run: RunReport) -> None:
    if ctx.out.as_json:
        ctx.out.json(run.to_dict())
        return
    summary = {"started": run.started_at, "finished": run.finished_at, **run.counts}
    ctx.out.pairs(f"{run.kind}: {run.outcome}", {**summary, "error": run.error or None})
    done = [{"what": name, "ids": ids} for name, ids in run.details.items() if ids]
    ctx.out.records("what was done", done, {"what": "what", "ids": "ids"})


# -- resync ---------------------------------------------------------------------------------


def resync(ctx: Context) -> int:
    """Sync one calendar here and now with the product's sync service (the lease taken as
    the worker takes it); `--full` drops the sync token first: a full sync over
    FULL_SYNC_DAYS, then reconciliation of the meetings the listing did not return."""
    target, full = ctx.target, ctx.args.full
    state = known_calendar(ctx)
    if state.status != CalendarStatus.WATCHING:
        raise CliError(f"{state.key} is {state.status}: watch it first", 2)
    services = inproc.services(target.settings, target.store, target.publisher)
    before = {h.id: h for h in target.store.meeting_heads(state.key, ALL_MEETINGS)}
    if full:
        target.store.update_calendar(state.key, {"sync_token": ""})
    started = time.monotonic()
    with ctx.out.progress() as progress:
        pages = progress.add_task(f"{'full' if full else 'incremental'} sync: pages", total=None)
        events = progress.add_task("events listed", total=None)

        def on_page(count: int) -> None:
            progress.advance(pages)
            progress.advance(events, count)

        services.calendar.on_page = on_page
        try:
            report = services.sync.sync(state.key, owner=f"meetsync-cli-{time.time_ns()}")
        except ApiError as exc:
            raise CliError(f"the sync failed: {type(exc).__name__}: {exc}") from None
    changed = [
        {"id": h.id, "was": before[h.id].status if h.id in before else None, "now": h.status}
        for h in target.store.meeting_heads(state.key, ALL_MEETINGS)
        if before.get(h.id) != h
    ]
    result = {
        "calendar": state.key,
        "full": full,
        "outcome": report.outcome,
        "pages": report.pages,
        "events": report.events_seen,
        "full_syncs": report.full_syncs,
        "meetings_changed": report.meetings_changed,
        "announced": list(report.emitted),
        "changed": changed,
        "seconds": round(time.monotonic() - started, 3),
    }
    if ctx.out.as_json:
        ctx.out.json(result)
    else:
        ctx.out.pairs(f"resync {state.key}", {k: v for k, v in result.items() if k != "changed"})
        ctx.out.records("meetings changed", changed, {"meeting": "id", "was": "was", "now": "now"})
    return 0 if report.outcome == "synced" else 1


# -- migrate --------------------------------------------------------------------------------


def migrate(ctx: Context) -> int:
    """After an upgrade: add the fields today's maintenance queries need (`shard`,
    `next_sweep_at`, `next_audit_at`) to records written before they existed
    (`shared.domain.backfill`); idempotent, `--dry-run` writes nothing. Exit 1 when a
    record could not be read."""
    import datetime as dt
    import random

    from shared.domain import backfill

    target = ctx.target
    settings, now = target.settings, ctx.now()
    sweep_age = dt.timedelta(seconds=settings.sweep_age_seconds)
    audit_period = dt.timedelta(hours=settings.audit_hours)

    def fill_for(kind: str) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
        def fill(record_id: str, data: dict[str, Any]) -> dict[str, Any]:
            return backfill.missing(
                kind,
                record_id,
                data,
                now=now,
                sweep_age=sweep_age,
                audit_period=audit_period,
                fraction=random.random(),
            )

        return fill

    result: dict[str, Any] = {"dry_run": bool(ctx.args.dry_run)}
    with ctx.out.progress() as progress:
        for kind in backfill.KINDS:
            total = target.store.count(kind)
            task = progress.add_task(f"{kind}: records", total=total)

            def on_page(scanned: int, filled: int, task: Any = task) -> None:
                progress.update(task, completed=scanned)

            try:
                count = target.store.backfill(
                    kind, fill_for(kind), dry_run=ctx.args.dry_run, on_page=on_page
                )
            except ContentionError as exc:  # records busy with the product: it resumes
                raise CliError(f"{exc}; run `meetsync migrate` again") from None
            result[kind] = {
                "scanned": count.scanned,
                "filled": count.filled,
                "unreadable": count.unreadable,
            }
    unreadable = sum(len(result[k]["unreadable"]) for k in backfill.KINDS)
    if ctx.out.as_json:
        ctx.out.json(result)
    else:
        verb = "would fill" if ctx.args.dry_run else "filled"
        rows = [
            {"records": k, "scanned": result[k]["scanned"], verb: result[k]["filled"]}
            for k in backfill.KINDS
        ]
        columns = {"records": "records", "scanned": "scanned", verb: verb}
        ctx.out.records("migrate", rows, columns)
        for kind in backfill.KINDS:
            for record in result[kind]["unreadable"]:
                ctx.out.line(f"problem: {kind}/{record} could not be read", style="red")
    return 1 if unreadable else 0


# -- the dead letter ------------------------------------------------------------------------


def dlq_list(ctx: Context) -> int:
    now = ctx.now()
    views = [letter.view(now) for letter in dlq.DeadLetters(ctx.target).peek(ctx.args.limit)]
    if ctx.out.as_json:
        ctx.out.json({"depth": len(views), "messages": views})
    else:
        rows = [{**v, "state": (v["signal"] or {}).get("state", "undecodable")} for v in views]
        columns = {
            "message": "message_id",
            "calendar": "calendar_key",
            "signal": "state",
            "attempts": "attempts",
            "age (s)": "age_seconds",
            "why it failed": "reason",
        }
        ctx.out.records("dead letter", rows, columns)
    return 1 if views else 0


def dlq_replay(ctx: Context) -> int:
    args = ctx.args
    with ctx.out.progress() as progress:
        task = progress.add_task("replaying dead-lettered signals", total=None)
        report = dlq.replay(
            ctx.target,
            limit=args.limit,
            dry_run=args.dry_run,
            per_second=args.rate,
            on_each=lambda: progress.advance(task),
        )
    if ctx.out.as_json:
        ctx.out.json(vars(report))
    else:
        columns = {
            "message": "message_id",
            "calendar": "calendar_key",
            "republished as": "new_message_id",
            "had failed with": "reason",
        }
        verb = "would replay" if report.dry_run else "replayed"
        ctx.out.records(f"{verb}: {len(report.replayed)}", report.replayed, columns)
        for skipped in report.skipped:
            ctx.out.line(f"left in the dead letter: {skipped['message_id']} ({skipped['why']})")
        if report.interrupted:
            ctx.out.line("interrupted: what was not replayed is still in the dead letter")
    if report.interrupted:
        return 130
    return 1 if report.skipped else 0


def dlq_purge(ctx: Context) -> int:
    args = ctx.args
    dropped = dlq.purge(ctx.target, poison_only=args.poison_only, dry_run=args.dry_run)
    if ctx.out.as_json:
        ctx.out.json({"dry_run": args.dry_run, "dropped": dropped})
    else:
        verb = "would drop" if args.dry_run else "dropped"
        ctx.out.line(f"{verb} {len(dropped)} message(s): {', '.join(dropped) or '-'}")
    return 0


# -- events ---------------------------------------------------------------------------------


def events_tail(ctx: Context) -> int:
    """Follow `meeting-events` from now on, until `--count` events, `--timeout` or Ctrl-C."""
    target, args, out = ctx.target, ctx.args, ctx.out
    subject = f"meetings/{args.meeting}" if args.meeting else None
    deadline = time.monotonic() + args.timeout if args.timeout else None
    shown = 0
    with following(target, "meeting-events", ctx.now()) as subscription:
        if not out.as_json:
            out.line(f"following meeting-events on {target.name} (Ctrl-C stops)")
        try:
            while args.count is None or shown < args.count:
                if deadline is not None and time.monotonic() > deadline:
                    break
                messages = pull(target, subscription, 50)
                ack(target, subscription, messages)
                events = [_event(m.data) for m in messages]
                for event in [e for e in events if subject in (None, e.get("subject"))]:
                    if args.count is not None and shown >= args.count:
                        break
                    shown += 1
                    if out.as_json:
                        out.json(event, one_line=True)
                    else:
                        out.line(_event_line(event))
                if not messages:
                    time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    return 0


def _event(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {"undecodable": data[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}


def _event_line(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    return (
        f"{event.get('time')}  {event.get('type', '?'):<20} {event.get('subject')}  "
        f"status={data.get('status')} v{data.get('version')} id={event.get('id')}"
    )


# -- import ---------------------------------------------------------------------------------


def import_ics(ctx: Context) -> int:
    """POST an .ics file to import_events (`--url` names it and skips the target)."""
    args = ctx.args
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc}", 2) from None
    if args.url:  # a bare --url (the local stack's) is called without a token
        target = Target("url", "", not args.token, {}, {}, id_token=args.token)
    else:
        target = ctx.target
    status, body = target.call(
        "import_events",
        "POST",
        "/",
        data=data,
        url=args.url,
        headers={"Content-Type": "text/calendar"},
        params={"user": args.user, "calendarId": args.calendar},
    )
    results = body.get("results", []) if status < 300 else []
    if ctx.out.as_json or status >= 300:
        ctx.out.json(body)
    else:
        columns = {"uid": "uid", "status": "status", "event": "eventId", "error": "error"}
        ctx.out.records(f"import into {args.user}:{args.calendar}", results, columns)
    if status >= 300:
        return 2
    return 1 if any(r.get("status") == "failed" for r in results) else 0
