"""events.list (full and incremental sync, paging) and events.instances.

Full sync walks the calendar's events in creation order from a cursor; incremental
sync walks the change history from the token's position, so its cost is the number
of changes, not the size of the calendar. Tokens are opaque base64 JSON.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from emulator import partial, recurrence
from emulator.clock import rfc3339
from emulator.errors import ApiError, bad_param, calendar_error, full_sync_required
from emulator.events import find
from emulator.state import CalendarData, Emulator, StoredEvent
from emulator.store import parse_time_param
from emulator.wire import Request, Response, raw_json_response

JSON = dict[str, Any]
Key = tuple[int, int]

DEFAULT_PAGE = 250
MAX_PAGE = 2500
NOT_WITH_SYNC = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
# Transport and paging parameters never bound into a sync token.
_UNBOUND = {
    "alt",
    "prettyPrint",
    "fields",
    "quotaUser",
    "key",
    "userIp",
    "access_token",
    "callback",
    "$.xgafv",
    "pageToken",
    "maxResults",
    "syncToken",
    *NOT_WITH_SYNC,
}


@dataclass
class ListParams:
    max_results: int = DEFAULT_PAGE
    single: bool = False
    show_deleted: bool = False
    time_min: float | None = None
    time_max: float | None = None
    updated_min: float | None = None
    terms: list[str] = field(default_factory=list)
    ical: str | None = None
    private_props: list[tuple[str, str]] = field(default_factory=list)
    shared_props: list[tuple[str, str]] = field(default_factory=list)
    event_types: set[str] | None = None
    order_by: str | None = None
    bound: dict[str, list[str]] = field(default_factory=dict)
    selection: tuple[str, partial.Mask] | None = None
    """A partial response's `fields` and its parsed selection (`_selection`)."""


def _bool(req: Request, name: str) -> bool:
    raw = req.q(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise bad_param(name)
    return raw == "true"


def _props(req: Request, name: str) -> list[tuple[str, str]]:
    out = []
    for item in req.qall(name):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise bad_param(name)
        out.append((key, value))
    return out


def parse_params(req: Request, *, instances: bool = False) -> ListParams:
    """Validate the query like Calendar does (400 on bad values and combinations)."""
    p = ListParams(selection=_selection(req))
    raw_max = req.q("maxResults")
    if raw_max is not None:
        try:
            p.max_results = int(raw_max)
        except ValueError as exc:
            raise bad_param("maxResults") from exc
        if p.max_results < 1:
            raise bad_param("maxResults")
        p.max_results = min(p.max_results, MAX_PAGE)
    p.show_deleted = _bool(req, "showDeleted")
    p.time_min = parse_time_param(req.q("timeMin"), "timeMin")
    p.time_max = parse_time_param(req.q("timeMax"), "timeMax")
    if p.time_min is not None and p.time_max is not None and p.time_max <= p.time_min:
        raise calendar_error(
            400,
            "timeRangeEmpty",
            "The specified time range is empty.",
            location_type="parameter",
            location="timeMax",
        )
    if instances:
        return p
    p.single = _bool(req, "singleEvents")
    p.updated_min = parse_time_param(req.q("updatedMin"), "updatedMin")
    p.terms = [t.lower() for t in (req.q("q") or "").split()]
    p.ical = req.q("iCalUID")
    p.private_props = _props(req, "privateExtendedProperty")
    p.shared_props = _props(req, "sharedExtendedProperty")
    types = req.qall("eventTypes")
    p.event_types = set(types) if types else None
    p.order_by = req.q("orderBy")
    if p.order_by not in (None, "startTime", "updated"):
        raise bad_param("orderBy")
    if p.order_by == "startTime" and not p.single:
        raise calendar_error(
            400,
            "badRequest",
            "The requested ordering is not available for the particular query.",
            location_type="parameter",
            location="orderBy",
        )
    p.bound = {k: sorted(v) for k, v in req.query.items() if k not in _UNBOUND}
    return p


def _match(
    p: ListParams, data: JSON, start: float, end: float, updated: float, incremental: bool
) -> bool:
    if (
        data.get("status") == "cancelled"
        and not incremental
        and not p.show_deleted
        and (p.updated_min is None or updated < p.updated_min)
    ):
        return False
    if p.time_min is not None and end <= p.time_min and not (start == end == p.time_min):
        return False
    if p.time_max is not None and start >= p.time_max:
        return False
    if p.updated_min is not None and updated < p.updated_min:
        return False
    if p.ical is not None and data.get("iCalUID") != p.ical:
        return False
    if p.event_types is not None and data.get("eventType", "default") not in p.event_types:
        return False
    ext = data.get("extendedProperties") or {}
    for scope, props in (("private", p.private_props), ("shared", p.shared_props)):
        values = ext.get(scope) or {}
        if any(values.get(k) != v for k, v in props):
            return False
    if p.terms:
        hay = " ".join(
            [
                str(data.get("summary", "")),
                str(data.get("description", "")),
                str(data.get("location", "")),
                *(str(a.get("email", "")) for a in data.get("attendees") or []),
            ]
        ).lower()
        if not all(t in hay for t in p.terms):
            return False
    return True


Row = tuple[JSON, StoredEvent | None, float, float, float]
"""An event or occurrence to list: its data, the stored event it is (None for a virtual
occurrence), start, end, updated."""


def _instances(cal: CalendarData, master: StoredEvent, until: float | None) -> Iterator[Row]:
    """Each occurrence: the exception if one is stored, else the virtual instance."""
    horizon = None if until is None else until + 366 * 86400
    for occ in recurrence.expand(master.data, until_ts=horizon):
        exc = cal.events.get(occ.instance_id)
        if exc is not None:
            yield exc.data, exc, exc.start_ts, exc.end_ts, exc.updated_ts
        else:
            data = recurrence.instance_resource(master.data, occ)
            yield data, None, occ.start_ts, occ.end_ts, master.updated_ts


def _rows(cal: CalendarData, ev: StoredEvent, p: ListParams) -> Iterator[Row]:
    """One stored event as list rows (expanded when singleEvents)."""
    if p.single and ev.recurring:
        yield from _instances(cal, ev, p.time_max)
    elif p.single and ev.data.get("recurringEventId") in cal.events:
        return  # shown in place of its occurrence by the master's expansion
    else:
        yield ev.data, ev, ev.start_ts, ev.end_ts, ev.updated_ts


def _emit(
    cal: CalendarData,
    ev: StoredEvent,
    p: ListParams,
    pos: int,
    after: Key | None,
    incremental: bool,
) -> Iterator[tuple[Key, str]]:
    expand = p.single and ev.recurring
    hidden = p.single and not incremental and ev.data.get("recurringEventId") in cal.events
    if hidden:
        return  # shown in place of its occurrence by the master's expansion
    if not expand:
        key = (pos, 0)
        if (after is None or key > after) and _match(
            p, ev.data, ev.start_ts, ev.end_ts, ev.updated_ts, incremental
        ):
            yield key, _text(p, ev.data, ev)
        return
    for idx, (data, stored, start, end, updated) in enumerate(_rows(cal, ev, p), start=1):
        key = (pos, idx)
        if after is not None and key <= after:
            continue
        if _match(p, data, start, end, updated, incremental):
            yield key, _text(p, data, stored)


def _full(cal: CalendarData, p: ListParams, after: Key | None) -> Iterator[tuple[Key, str]]:
    order, events = cal.order, cal.events
    for pos in range(after[0] if after else 0, len(order)):
        yield from _emit(cal, events[order[pos]], p, pos, after, False)


def _sorted(cal: CalendarData, p: ListParams, after: Key | None) -> Iterator[tuple[Key, str]]:
    rows: list[tuple[float, int, int, str]] = []
    for pos, event_id in enumerate(cal.order):
        ev = cal.events[event_id]
        for idx, (data, stored, start, end, updated) in enumerate(_rows(cal, ev, p)):
            if _match(p, data, start, end, updated, False):
                sort_key = start if p.order_by == "startTime" else updated
                rows.append((sort_key, pos, idx, _text(p, data, stored)))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    skip = after[0] + 1 if after else 0
    for offset in range(skip, len(rows)):
        yield (offset, 0), rows[offset][3]


def _changes(
    cal: CalendarData, p: ListParams, since: int, snapshot: int, after: Key | None
) -> Iterator[tuple[Key, str]]:
    seqs, ids = cal.history_seqs, cal.history_ids
    start = bisect.bisect_right(seqs, since)
    for pos in range(after[0] if after else start, len(seqs)):
        seq = seqs[pos]
        if seq > snapshot:
            return
        ev = cal.events.get(ids[pos])
        if ev is None or ev.change_seq != seq:
            continue  # a later entry carries this event's latest state
        master = cal.events.get(ev.data.get("recurringEventId") or "") if p.single else None
        if master is not None and since < master.change_seq <= snapshot:
            continue  # the master's expansion already carries this exception
        yield from _emit(cal, ev, p, pos, after, True)


def _encode(prefix: str, obj: JSON) -> str:
    return prefix + base64.urlsafe_b64encode(
        json.dumps(obj, separators=(",", ":")).encode()
    ).decode().rstrip("=")


def _decode(prefix: str, token: str) -> JSON | None:
    if not token.startswith(prefix):
        return None
    body = token[len(prefix) :]
    try:
        obj = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    return obj if isinstance(obj, dict) else None


def _page(gen: Iterator[tuple[Key, str]], limit: int) -> tuple[list[str], Key | None, bool]:
    items: list[str] = []
    last: Key | None = None
    for key, text in gen:
        if len(items) == limit:
            return items, last, True
        items.append(text)
        last = key
    return items, last, False


def _text(p: ListParams, data: JSON, stored: StoredEvent | None) -> str:
    """One item's JSON: a stored event's cached text (whole or cut to the selection), or
    a virtual occurrence serialised now."""
    fields, whole = p.selection or ("", {})
    mask = _items_mask(whole)
    if mask is not None:
        return stored.masked_json(fields, mask) if stored else json.dumps(partial.apply(data, mask))
    return stored.json() if stored is not None else json.dumps(data)


def _envelope(
    cal: CalendarData, emu: Emulator, items: list[str], extra: JSON, p: ListParams
) -> Response:
    """The list response around its items (already cut to the selection, `_text`)."""
    head: JSON = {
        "kind": "calendar#events",
        "etag": f'"{cal.last_seq or 1}"',
        "summary": cal.id,
        "description": "",
        "updated": rfc3339(cal.updated_ts or emu.clock.now()),
        "timeZone": "UTC",
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
        **extra,
    }
    if p.selection is None:
        return raw_json_response(json.dumps(head)[:-1] + ',"items":[' + ",".join(items) + "]}")
    mask = p.selection[1]
    text = json.dumps(partial.apply(head, mask))
    if "items" in mask or "*" in mask:
        text = ("{" if text == "{}" else text[:-1] + ",") + '"items":[' + ",".join(items) + "]}"
    return raw_json_response(text)


def _selection(req: Request) -> tuple[str, partial.Mask] | None:
    """A partial response's `fields` and its parsed selection, or None when the response
    is whole; 400 when malformed."""
    fields = req.q("fields")
    return None if fields is None else (fields, partial.parse(fields))


def _items_mask(mask: partial.Mask) -> partial.Mask | None:
    """What `mask` selects inside each item (None: whole items)."""
    return mask["items"] if "items" in mask else mask.get("*")


def _check_sync_token(
    emu: Emulator, cal: CalendarData, req: Request, p: ListParams, token: str
) -> int:
    """Validate a sync token; answers the history position it stands for."""
    for name in NOT_WITH_SYNC:
        if req.q(name) is not None:
            raise calendar_error(
                400,
                "invalid",
                f"The {name} parameter cannot be used with a syncToken.",
                location_type="parameter",
                location=name,
            )
    if req.q("showDeleted") == "false":
        raise bad_param("showDeleted", "showDeleted=false cannot be used with a syncToken.")
    state = _decode("CS", token)
    if state is None or state.get("c") != cal.uid or state.get("e") != cal.epoch:
        raise full_sync_required()
    max_age = emu.config.get("sync_token_max_age_seconds")
    if max_age is not None and emu.clock.now() - float(state.get("t", 0)) > float(max_age):
        raise full_sync_required()
    if state.get("p") != p.bound:
        raise calendar_error(
            400,
            "invalid",
            "The request parameters differ from those used to obtain the sync token.",
            location_type="parameter",
            location="syncToken",
        )
    return int(state["s"])


def list_events(emu: Emulator, cal: CalendarData, req: Request) -> Response:
    p = parse_params(req)
    sync_token = req.q("syncToken")
    page_token = req.q("pageToken")
    page: JSON | None = None
    if page_token is not None:
        page = _decode("CP", page_token)
        if page is None or page.get("c") != cal.uid:
            raise bad_param("pageToken", "Invalid page token value.")
    after: Key | None = None
    if page and page.get("a") is not None:
        after = (int(page["a"][0]), int(page["a"][1]))
    if sync_token is not None:
        since = _check_sync_token(emu, cal, req, p, sync_token)
        snapshot = int(page["s"]) if page else cal.last_seq
        gen = _changes(cal, p, since, snapshot, after)
    else:
        snapshot = int(page["s"]) if page else cal.last_seq
        gen = _sorted(cal, p, after) if p.order_by else _full(cal, p, after)
    items, last, more = _page(gen, p.max_results)
    if more:
        extra = {"nextPageToken": _encode("CP", {"c": cal.uid, "s": snapshot, "a": last})}
    else:
        extra = {
            "nextSyncToken": _encode(
                "CS",
                {"c": cal.uid, "e": cal.epoch, "s": snapshot, "p": p.bound, "t": emu.clock.now()},
            )
        }
    return _envelope(cal, emu, items, extra, p)


def list_instances(emu: Emulator, cal: CalendarData, req: Request, event_id: str) -> Response:
    p = parse_params(req, instances=True)
    ev, _ = find(cal, event_id)
    if ev is None or not ev.recurring:
        raise (
            calendar_error(404)
            if ev is None
            else calendar_error(400, "badRequest", "The event is not recurring.")
        )
    original = req.q("originalStart")
    offset = 0
    page_token = req.q("pageToken")
    if page_token is not None:
        page = _decode("CI", page_token)
        if page is None:
            raise bad_param("pageToken", "Invalid page token value.")
        offset = int(page["o"])
    matched: list[str] = []
    for data, stored, start, end, _updated in _instances(cal, ev, p.time_max):
        if (
            original is not None
            and (data.get("originalStartTime") or {})
            not in (
                {"dateTime": original},
                {"date": original},
            )
            and original not in (data.get("originalStartTime") or {}).values()
        ):
            continue
        if data.get("status") == "cancelled" and not p.show_deleted:
            continue
        if p.time_min is not None and end <= p.time_min:
            continue
        if p.time_max is not None and start >= p.time_max:
            continue
        matched.append(_text(p, data, stored))
        if len(matched) > offset + p.max_results:
            break
    items = matched[offset : offset + p.max_results]
    extra: JSON = {}
    if len(matched) > offset + p.max_results:
        extra["nextPageToken"] = _encode("CI", {"o": offset + p.max_results})
    return _envelope(cal, emu, items, extra, p)


__all__ = ["ApiError", "list_events", "list_instances"]
