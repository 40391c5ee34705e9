"""Import the events of an iCalendar file into a user's calendar, idempotently.

The file is parsed before this service runs (`shared.ics`, through `wiring.parse_ics`):
a malformed file never gets here, and an event the parser could not read faithfully
(an unknown TZID, say) arrives with `ImportItem.error`, which is reported as that
event's result without any Calendar call, so the rest of the file still imports.

Each VEVENT is imported through `events.import` keyed by its UID (`iCalUID`),
so importing the same file again updates the events instead of duplicating them.

Exceptions of a recurring event (VEVENTs with RECURRENCE-ID) are written onto
the instance they replace: the instance id is `{masterEventId}_{originalStart}`
(UTC `YYYYMMDDTHHMMSSZ`, or `YYYYMMDD` for all-day events), read with
events.get and patched with its etag. That is Calendar's own model of an
exception (an instance with `recurringEventId` and `originalStartTime`), it
works the same on a re-import (the stored exception is updated), and it never
creates a second event with the master's iCalUID.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from shared import logs
from shared.domain import validate
from shared.domain.errors import ApiError, AuthRevokedError, NotFoundError, PreconditionFailedError
from shared.domain.imports import ImportItem
from shared.domain.ports import EventSink, Json, UserStore
from shared.domain.refusals import from_api_error
from shared.services.users import active_user, mark_revoked

__all__ = ["ImportCalendar", "Importer", "target"]
"""`ImportItem` is named here too, for the entry point (which imports no domain module)."""

_log = logs.get(__name__)


class ImportCalendar(Protocol):
    """The Calendar calls an import makes (a slice of `CalendarPort`)."""

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]: ...

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json: ...

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json: ...

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json: ...


def target(user: str | None, calendar_id: str | None) -> tuple[str, str]:
    """The (user email, calendar id) an import request names, checked before its body."""
    return validate.email(user, "user"), validate.calendar_id(calendar_id or "primary")


class Importer:
    """Runs the imports for one user and calendar; one result per VEVENT."""

    def __init__(
        self,
        *,
        calendar: ImportCalendar,
        store: UserStore,
        sink: EventSink | None = None,
        source: str = "",
    ) -> None:
        self._calendar = calendar
        self._store = store
        self._sink = sink
        self._source = source

    def run(self, user: str, calendar_id: str, items: Iterable[ImportItem]) -> list[Json]:
        """Import every item; one result per item. A Google failure that stops the whole
        import (a revoked grant) is refused naming `user`."""
        try:
            return self._run(user, calendar_id, items)
        except ApiError as exc:
            raise from_api_error(exc, user=user, field="user") from exc

    def _run(self, user: str, calendar_id: str, items: Iterable[ImportItem]) -> list[Json]:
        user = active_user(self._store, user, "user").email
        ordered = sorted(items, key=lambda i: bool(i.recurrence_id))  # masters first (stable)
        masters: dict[str, tuple[str, str]] = {}
        results: list[Json] = []
        for item in ordered:
            if item.error:  # the parser could not read this event faithfully: no Calendar call
                _log.info("event not imported", extra={"uid": item.uid, "error": item.error})
                results.append(_failed(item, item.error))
                continue
            try:
                if item.recurrence_id:
                    result = self._exception(user, calendar_id, item, masters)
                else:
                    result = self._master(user, calendar_id, item)
                    masters[item.uid] = (result["eventId"], result["status"])
            except AuthRevokedError:
                mark_revoked(self._store, user, sink=self._sink, source=self._source)
                raise
            except ApiError as exc:
                _log.warning(
                    "import of one event failed", extra={"uid": item.uid, "error": str(exc)}
                )
                result = _failed(item, str(exc))
            results.append(result)
        counts: dict[str, int] = {}
        for r in results:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        _log.info("import finished", extra={"calendar": calendar_id, **counts})
        return results

    def _master(self, user: str, calendar_id: str, item: ImportItem) -> Json:
        existing = [
            e
            for e in self._calendar.list_by_ical_uid(user, calendar_id, item.uid)
            if not e.get("recurringEventId")
        ]
        event = self._calendar.import_event(user, calendar_id, dict(item.body))
        return {
            "uid": item.uid,
            "status": "updated" if existing else "imported",
            "eventId": event["id"],
        }

    def _exception(
        self, user: str, calendar_id: str, item: ImportItem, masters: dict[str, tuple[str, str]]
    ) -> Json:
        result: Json = {"uid": item.uid, "recurrenceId": item.recurrence_id}
        master = masters.get(item.uid)
        if master is None:  # the master was imported earlier, by another file
            found = [
                e
                for e in self._calendar.list_by_ical_uid(user, calendar_id, item.uid)
                if not e.get("recurringEventId") and e.get("recurrence")
            ]
            if not found:
                return {
                    **result,
                    "status": "failed",
                    "eventId": None,
                    "error": "no recurring event with this UID to attach the exception to",
                }
            master = (str(found[0]["id"]), "updated")
        instance_id = f"{master[0]}_{item.recurrence_id}"
        patch = {k: v for k, v in item.body.items() if k != "iCalUID"}
        for attempt in (1, 2):
            try:
                current = self._calendar.get_event(user, calendar_id, instance_id)
                event = self._calendar.patch_event(
                    user, calendar_id, instance_id, patch, etag=str(current.get("etag", ""))
                )
                break
            except NotFoundError:
                return {
                    **result,
                    "status": "failed",
                    "eventId": None,
                    "error": f"RECURRENCE-ID {item.recurrence_id} is not an occurrence of the"
                    " recurring event",
                }
            except PreconditionFailedError:
                if attempt == 2:
                    raise
        return {**result, "status": master[1], "eventId": event["id"]}


def _failed(item: ImportItem, error: str) -> Json:
    """The result of an event that was not imported; the rest of the file still is."""
    result: Json = {"uid": item.uid, "status": "failed", "eventId": None, "error": error}
    if item.recurrence_id:
        result["recurrenceId"] = item.recurrence_id
    return result
