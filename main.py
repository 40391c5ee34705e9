"""Cloud Functions source entry: re-exports every deployed entry point.

Each name here is an `--entry-point` (Terraform's `build_config.entry_point`).
Importing this module does no network or disk work, and imports no function: the
functions framework resolves the target with `getattr(main, NAME)`, and the module
`__getattr__` below (PEP 562) imports only that entry point's module then, so each
function's process loads only what that function needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shared.http import json_http_errors

if TYPE_CHECKING:
    from functions.connect import connect
    from functions.create_meeting import create_meeting
    from functions.import_events import import_events
    from functions.maintenance import maintenance
    from functions.meet_events import meet_events
    from functions.renew_channels import renew_channels
    from functions.sync_worker import sync_worker
    from functions.users import users
    from functions.watch_calendar import watch_calendar
    from functions.webhook import calendar_webhook

__all__ = [
    "calendar_webhook",
    "connect",
    "create_meeting",
    "import_events",
    "maintenance",
    "meet_events",
    "renew_channels",
    "sync_worker",
    "users",
    "watch_calendar",
]

_MODULES = {
    "calendar_webhook": "functions.webhook",
    "connect": "functions.connect",
    "create_meeting": "functions.create_meeting",
    "import_events": "functions.import_events",
    "maintenance": "functions.maintenance",
    "meet_events": "functions.meet_events",
    "renew_channels": "functions.renew_channels",
    "sync_worker": "functions.sync_worker",
    "users": "functions.users",
    "watch_calendar": "functions.watch_calendar",
}
"""Entry point → the module that defines it."""


def __getattr__(name: str) -> Any:
    """Import an entry point's module on first access of its name (then cache the name)."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    json_http_errors()
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
