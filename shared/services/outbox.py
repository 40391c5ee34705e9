"""The sending side of the meetings' transactional outbox.

A change of a meeting and its announcements are stored in one conditional write
(`Meeting.outbox`); only then are they published, in order, and dropped from the
record. So a change that lost its race, or whose write failed, is never announced,
and one that was stored is announced at least once with one fixed content per id:
if publishing fails, the announcements stay on the record until the next writer,
the calendar's next sync (the sweep guarantees one) or a retried request sends them.
The write that drops them also notes their ids and types in `Meeting.announced` (the
newest `ANNOUNCED_KEPT`): the record's announcement history, for operators.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Protocol

from shared import logs
from shared.domain.models import ANNOUNCED_KEPT, Meeting
from shared.domain.ports import EventSink, Json

_log = logs.get(__name__)


class OutboxStore(Protocol):
    def update_meeting(
        self, meeting_id: str, change: Callable[[Meeting], Meeting | None]
    ) -> Meeting | None: ...


def queued(record: Meeting, current: Meeting, added: Iterable[Json] = ()) -> Meeting:
    """`record` as it is to be written over `current`: the outbox is the stored one (others
    may have sent part of it since we read) plus this change's announcements, and the
    history of sent ones is the stored one."""
    return dataclasses.replace(
        record, outbox=[*current.outbox, *added], announced=list(current.announced)
    )


def _sent(event: Json) -> Json:
    """What `Meeting.announced` keeps of a sent announcement."""
    return {"id": str(event["id"]), "type": str(event.get("type", "")), "time": event.get("time")}


class Announcer:
    def __init__(self, *, store: OutboxStore, sink: EventSink) -> None:
        self._store = store
        self._sink = sink

    def flush(self, meeting: Meeting) -> Meeting:
        """Publish the record's pending announcements, oldest first, then drop them from it.

        A publish failure propagates (the caller's retry, or the next visit, sends them
        again); a racing sender may publish some twice, with the same id and content."""
        if not meeting.outbox:
            return meeting
        for event in meeting.outbox:
            self._sink.emit(event, ordering_key=meeting.id)
        sent = {str(event["id"]) for event in meeting.outbox}

        def drop(current: Meeting) -> Meeting | None:
            left = [e for e in current.outbox if str(e["id"]) not in sent]
            if len(left) == len(current.outbox):
                return None  # a racing sender dropped (and noted) them already
            done = [_sent(e) for e in current.outbox if str(e["id"]) in sent]
            history = [*current.announced, *done][-ANNOUNCED_KEPT:]
            return dataclasses.replace(current, outbox=left, announced=history)

        saved = self._store.update_meeting(meeting.id, drop)
        _log.info("announcements sent", extra={"meeting": meeting.id, "count": len(sent)})
        return saved if saved is not None else dataclasses.replace(meeting, outbox=[])
