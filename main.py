"""Cloud Functions source entry: re-exports every deployed entry point.

Each name here is an `--entry-point` (Terraform's `build_config.entry_point`).
Importing this module does no network or disk work.
"""

from functions.create_meeting import create_meeting
from functions.import_events import import_events
from functions.renew_channels import renew_channels
from functions.sync_worker import sync_worker
from functions.watch_calendar import watch_calendar
from functions.webhook import calendar_webhook

__all__ = [
    "calendar_webhook",
    "create_meeting",
    "import_events",
    "renew_channels",
    "sync_worker",
    "watch_calendar",
]
