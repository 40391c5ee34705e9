"""`meetsync`: see and fix a meetsync deployment (README, "Operating it").

    meetsync [--stack FILE | --project P --region R] [--json] COMMAND ...

The target is the local stack described by `--stack` (default `.local/stack.json`,
written by `make dev`, when it exists) or a deployment (`--project`, `--region`):
Firestore and Pub/Sub with application-default credentials, the IAM-protected
functions with an identity token. Exit status: 0 all is well, 1 a problem was found
(or the work failed), 2 a usage error (including a request the product refused),
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from google.api_core.exceptions import GoogleAPIError
from rich.console import Console

from meetsync_cli import operations as ops
from meetsync_cli import records as rec
from meetsync_cli.context import Context, calendar_name, duration
from meetsync_cli.output import Output
from meetsync_cli.target import DEFAULT_STACK, CliError, Target
from shared.domain.errors import ApiError
from shared.domain.models import CalendarStatus, ChannelState, MeetingStatus, UserStatus

Command = Callable[[Context], int]
_CALENDAR = {"type": calendar_name, "metavar": "USER[:CALENDAR_ID]"}
_STALE = {"type": duration, "default": duration("6h"), "help": "the sweep age (default 6h)"}


class _Tree:
    """Subcommands, each with `--json` accepted after it as well as before."""

    def __init__(self, parser: argparse.ArgumentParser, dest: str) -> None:
        self._sub = parser.add_subparsers(dest=dest, required=True, metavar="COMMAND")
        self._common = argparse.ArgumentParser(add_help=False)
        self._common.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )

    def command(self, name: str, run: Command, help: str, *args: Any) -> argparse.ArgumentParser:
        """A command; each of `args` is (flags, options) of one argument."""
        parser = self._sub.add_parser(name, help=help, description=help, parents=[self._common])
        parser.set_defaults(run=run)
        for flags, options in args:
            parser.add_argument(*((flags,) if isinstance(flags, str) else flags), **options)
        return parser

    def group(self, name: str, help: str) -> _Tree:
        return _Tree(self._sub.add_parser(name, help=help, description=help), "action")


def _choices(enum: Any) -> dict[str, Any]:
    return {"choices": [member.value for member in enum]}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meetsync", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_argument_group("target")
    where.add_argument("--stack", type=Path, help=f"stack description (default {DEFAULT_STACK})")
    where.add_argument("--project", help="Google Cloud project of a deployment")
    where.add_argument("--region", help="its functions' region")
    where.add_argument("--prefix", default="meetsync", help="its Terraform name_prefix")
    where.add_argument("--scheduler-region", default="", help="its scheduler_region, if set")
    where.add_argument(
        "--token",
        default=os.environ.get("MEETSYNC_ID_TOKEN", ""),
        help="identity token for the functions (default MEETSYNC_ID_TOKEN, then ADC or gcloud)",
    )
    parser.add_argument("--json", action="store_true", help="print stable JSON (README)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the product's INFO")
    top = _Tree(parser, "command")
    top.command(
        "status", rec.status, "the deployment on one page; exit 1 when something needs you",
        ("--stale-after", _STALE),
    )  # fmt: skip

    users = top.group("users", "registered users")
    users.command("list", rec.users_list, "every user", ("--status", _choices(UserStatus)))
    email: tuple[str, dict[str, Any]] = ("email", {})
    users.command("show", rec.users_show, "mode, status, calendars' health (1: not active)", email)
    users.command("add", rec.users_add, "register a Workspace user for delegation", email)
    users.command("disconnect", rec.users_disconnect, "stop channels, revoke the token", email)

    cals = top.group("calendars", "watched calendars, named USER[:CALENDAR_ID] (primary)")
    cals.command(
        "list", rec.calendars_list, "calendars with their sync and channel health",
        ("--user", {"type": str.lower}), ("--status", _choices(CalendarStatus)),
    )  # fmt: skip
    cals.command(
        "show", rec.calendars_show, "record, channels, meetings (1: not watched, or stale)",
        ("calendar", _CALENDAR), ("--stale-after", _STALE),
    )  # fmt: skip
    cals.command(
        "watch", rec.calendars_watch, "start watching (idempotent)", ("calendar", _CALENDAR)
    )
    cals.command("unwatch", rec.calendars_unwatch, "stop watching", ("calendar", _CALENDAR))
    cals.command(
        "resync", ops.resync, "sync now, here (--full: drop the sync token first)",
        ("calendar", _CALENDAR), ("--full", {"action": "store_true"}),
    )  # fmt: skip

    chans = top.group("channels", "watch channels")
    chans.command(
        "list", rec.channels_list, "channels, soonest expiry first",
        ("--expiring", {"type": duration, "metavar": "DURATION", "help": "active, expiring in"}),
        ("--state", _choices(ChannelState)),
    )  # fmt: skip
    wait = ("--timeout", {"type": float, "default": 600.0, "help": "seconds to wait for it"})
    top.command("renew", ops.maintenance, "renew expiring channels now; the run's report", wait)
    top.command(
        "sweep", ops.maintenance,
        "sync the calendars nothing synced for the sweep age (--all: every watched one), "
        "then read the conference records the meetings are due",
        wait, ("--all", {"action": "store_true", "help": "every watched calendar"}),
    )  # fmt: skip

    top.command(
        "migrate", ops.migrate,
        "after an upgrade: add the fields maintenance queries need to older records",
        ("--dry-run", {"action": "store_true", "help": "count, write nothing"}),
    )  # fmt: skip

    meetings = top.group("meetings", "meeting records")
    meetings.command(
        "show", rec.meetings_show, "record, its event and space, its announcements",
        ("id", {}), ("--no-google", {"action": "store_true", "help": "skip event and space"}),
    )  # fmt: skip
    meetings.command(
        "list", rec.meetings_list, "one user's meetings",
        ("--user", {"required": True, "type": str.lower}), ("--status", _choices(MeetingStatus)),
    )  # fmt: skip

    dead = top.group("dlq", "the dead letter of change signals")
    dry = ("--dry-run", {"action": "store_true"})
    dead.command(
        "list", ops.dlq_list, "dead-lettered signals, why they failed (1: any)",
        ("--limit", {"type": int, "default": 10_000}),
    )  # fmt: skip
    dead.command(
        "replay", ops.dlq_replay, "republish to calendar-changes, then acknowledge",
        ("--limit", {"type": int}), dry,
        ("--rate", {"type": float, "default": 0.0, "metavar": "PER_SECOND"}),
    )  # fmt: skip
    dead.command(
        "purge", ops.dlq_purge, "drop dead-lettered signals for good",
        ("--poison-only", {"action": "store_true", "help": "only undecodable ones"}), dry,
    )  # fmt: skip

    events = top.group("events", "outbound meeting events")
    events.command(
        "tail", ops.events_tail, "follow meeting-events from now on",
        ("--meeting", {"help": "only this meeting's"}),
        ("--count", {"type": int, "help": "stop after this many"}),
        ("--timeout", {"type": float, "help": "stop after this many seconds"}),
    )  # fmt: skip
    top.command(
        "import", ops.import_ics, "import an .ics file into a user's calendar",
        ("file", {"type": Path}), ("--user", {"required": True}),
        ("--calendar", {"default": "primary"}),
        ("--url", {"default": "", "help": "import_events' address (no target needed)"}),
    )  # fmt: skip
    return parser


def _target(args: argparse.Namespace) -> Callable[[], Target]:
    def make() -> Target:
        if args.project or args.region:
            if not (args.project and args.region) or args.stack:
                raise CliError("give --project and --region together, and no --stack", 2)
            target = Target.for_project(
                args.project,
                args.region,
                prefix=args.prefix,
                scheduler_region=args.scheduler_region,
            )
        else:
            path = args.stack or DEFAULT_STACK
            if not path.exists():
                raise CliError(f"no {path}: run `make dev`, or give --project and --region", 2)
            target = Target.from_stack(path)
        target.id_token = args.token
        return target

    return make


def main(argv: Sequence[str] | None = None, *, console: Console | None = None) -> int:
    """Run one command; the exit status (the `meetsync` console script's)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    root = logging.getLogger()
    level = root.level
    if not root.handlers:  # the product's log lines, plain, on stderr
        logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    root.setLevel(logging.INFO if args.verbose else logging.WARNING)
    context = Context(args, Output(console or Console(), as_json=args.json), _target(args))
    try:
        return int(args.run(context))
    except CliError as exc:
        return _error(str(exc), exc.code)
    except (ApiError, GoogleAPIError) as exc:  # Google said no (credentials, IAM, quota)
        return _error(f"{type(exc).__name__}: {exc}", 1)
    except KeyboardInterrupt:
        return 130
    finally:
        root.setLevel(level)


def _error(message: str, code: int) -> int:
    Console(stderr=True).print(f"error: {message}", style="red", markup=False, highlight=False)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
