"""What every command gets: the parsed arguments, the output and the target (made on
first use), and the argument types they share."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from meetsync_cli.output import Output
from meetsync_cli.target import CliError, Target

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "": 3600}


@dataclass
class Context:
    args: argparse.Namespace
    out: Output
    make_target: Callable[[], Target]
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    @cached_property
    def target(self) -> Target:
        target = self.make_target()
        target.activate()
        return target


def duration(text: str) -> dt.timedelta:
    """`90s`, `30m`, `24h`, `2d` (a bare number is hours)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30m, 24h, 2d)")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def calendar_name(text: str) -> tuple[str, str]:
    """`USER[:CALENDAR_ID]` → (user, calendar id); the primary calendar when omitted."""
    user, _, calendar_id = text.partition(":")
    if "@" not in user:
        raise argparse.ArgumentTypeError(f"not a calendar: {text!r} (USER[:CALENDAR_ID])")
    return user.lower(), calendar_id or "primary"


def answer(function: str, status: int, body: Any) -> Any:
    """A function's answer; its refusal is a usage error (2), its failure a problem (1)."""
    if status < 300:
        return body
    error = body.get("error", {}) if isinstance(body, dict) else {}
    message = f"{function} answered {status}: {error.get('message') or body}"
    raise CliError(message, 2 if status < 500 else 1)
