"""Calendar imports: what one VEVENT of an uploaded iCalendar file becomes.

The parser (`shared.ics`, an adapter) makes these; the `Importer` service sends them
to Calendar. Kept here, with no parser imports, so the service and the entry point
can name them without loading icalendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.ports import Json

MAX_EVENTS = 500
"""Events per request: each costs two or three Calendar calls within one function run."""


@dataclass(frozen=True, slots=True)
class ImportItem:
    """One VEVENT turned into what Calendar takes, or why it cannot be.

    A file that is malformed is refused as a whole; an event the file describes well but
    that cannot be imported faithfully (say, its TZID names no known time zone) carries
    `error` instead, so it fails alone and the rest of the file still imports.
    """

    uid: str
    line: int
    """Physical line of the VEVENT's BEGIN, for messages."""
    body: Json
    recurrence_id: str = ""
    """Instance stamp of an exception (`20250113T090000Z` / `20250113`); empty for a master.
    When `error` is set, the RECURRENCE-ID as the file writes it (its instant is unknown)."""
    original_start: Json = field(default_factory=dict)
    error: str = ""
    """Why this event cannot be imported; the Importer reports it without calling Calendar."""
