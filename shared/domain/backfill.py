"""Upgrading: the fields an older deployment's records lack, which today's queries need.

Maintenance jobs find calendars, channels and meetings by `shard` (and the sweep and the
audit by `next_sweep_at` and `next_audit_at`). A record written before those fields
existed gets them when it is next written, but a query never returns it until then: its
channels would expire unrenewed, and it would be neither swept nor audited. `missing`
says what to add to one stored record (nothing when it has them), so `meetsync migrate`
can fill them in once after an upgrade. The times it sets are spread at random over
the sweep age and the audit period, so a migrated deployment is not swept or audited
all at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.domain.conference import audit_schedule
from shared.domain.models import Meeting
from shared.domain.shards import shard_of

Json = dict[str, Any]

KINDS = ("calendars", "channels", "meetings")


def missing(
    kind: str,
    record_id: str,
    data: Json,
    *,
    now: dt.datetime,
    sweep_age: dt.timedelta,
    audit_period: dt.timedelta,
    fraction: float,
) -> Json:
    """The fields to add to stored record `record_id` of `kind` (`KINDS`); `fraction` in
    [0, 1) spreads the times it sets."""
    fields: Json = {}
    if kind == "calendars":
        if "shard" not in data:
            fields["shard"] = shard_of(record_id)
        if data.get("next_sweep_at") is None:
            fields["next_sweep_at"] = now + sweep_age * fraction
    elif kind == "channels":
        if "shard" not in data:
            calendar = data.get("calendar_key")
            if not isinstance(calendar, str) or not calendar:
                raise ValueError(f"channel {record_id} names no calendar")
            fields["shard"] = shard_of(calendar)
    elif kind == "meetings":
        if "shard" not in data:
            fields["shard"] = shard_of(record_id)
        if "next_audit_at" not in data:
            meeting = Meeting.from_dict({**data, "id": record_id})
            schedule = audit_schedule(meeting, now, audit_period, fraction)
            fields["next_audit_at"] = schedule.get("next_audit_at")  # None: not audited
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return fields
