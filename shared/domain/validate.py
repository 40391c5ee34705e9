"""One validator per shared input kind: emails, calendar ids, idempotency keys.

Every entry point and service checks these inputs here, so one rule answers the
same everywhere; each raises an `INVALID` refusal naming the field at fault.
"""

from __future__ import annotations

import re
from typing import Any

from shared.domain.refusals import invalid

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")
_CALENDAR_ID = re.compile(r"^[^\s/]{1,255}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_EMAIL = 254
MAX_IDEMPOTENCY_KEY = 255


def email(value: Any, field: str) -> str:
    """A mailbox address, lower-cased (Google treats addresses case-insensitively)."""
    if not isinstance(value, str) or len(value) > MAX_EMAIL or not _EMAIL.match(value):
        raise invalid(f"{field} must be an email address", field)
    return value.lower()


def calendar_id(value: Any, field: str = "calendarId") -> str:
    """A Calendar id (an address-like id or `primary`): no whitespace or slash, 255 at most."""
    if not isinstance(value, str) or not _CALENDAR_ID.match(value):
        raise invalid(f"{field} must be a calendar id or primary", field)
    return value


def idempotency_key(value: str | None, field: str = "Idempotency-Key") -> str | None:
    """Printable ASCII without spaces, 1-255 characters; absent is allowed."""
    if value is None:
        return None
    if not _KEY.match(value):
        raise invalid(
            f"{field} must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters",
            field,
        )
    return value
