"""Meet links on demand: the create-meeting and get-meeting use cases.

The record is stored first (an atomic insert-if-absent keyed by the meeting
id derived from the Idempotency-Key), so concurrent retries agree on one meeting
before any Google call. Then, by mode:

- `calendar`: events.insert with a hangoutsMeet createRequest (event id =
  requestId = meeting id: a repeated insert is a 409 and we fetch what exists);
- `space`: Meet spaces.create (only by the request that created the record, or
  one resuming a stale claim), then the event with that conference copied in;
- `instant`: the space alone.

Conference readiness is judged by the same `conference.decide` the sync worker
uses, so both paths agree on what "ready" means. Every status change is saved
with the version bumped and its CloudEvent queued on the record in one write,
then published (`shared.services.outbox`): a change is announced at least once,
and never one that lost its race.

Once the record is stored the server owns finishing it (issue 14). A request that
cannot finish in its wait (the conference still pending, Google failing for now)
queues a completion job (`{"kind": "complete", "meeting": ID}` on the maintenance
topic) before it answers 202; the job resumes the create under the same
idempotency and raises until the meeting is settled, so Pub/Sub retries it with
backoff. A meeting that can never be completed (the organizer revoked, Calendar or
Meet refused for good, or still unfinished after `COMPLETION_TRIES` jobs or
`COMPLETION_DEADLINE`) ends `failed` with a `failure_reason`, after what it made
is removed: its event deleted, any conference in its space ended.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from shared import logs
from shared.domain import conference, meeting_request, validate
from shared.domain import event as event_
from shared.domain.errors import (
    ApiError,
    AuthRevokedError,
    DuplicateError,
    FailedPreconditionError,
    GoneError,
    NotFoundError,
)
from shared.domain.ids import idempotency_key_hash, meeting_id
from shared.domain.meeting_request import MeetingRequest
from shared.domain.models import (
    FailureReason,
    Meeting,
    MeetingStatus,
    UserStatus,
    calendar_key,
    utcnow,
)
from shared.domain.ports import (
    EventPage,
    EventSink,
    Json,
    MeetingStore,
    MeetPort,
    Publisher,
    UserStore,
)
from shared.domain.refusals import Kind, Refusal, from_api_error
from shared.services.decisions import ConferenceActions, SpaceUpkeep, if_unchanged
from shared.services.users import active_user, mark_revoked

_log = logs.get(__name__)

STALE_CLAIM_SECONDS = 60.0
"""A record older than this without its space is an abandoned claim a retry may resume."""
HOLDER_GRACE_SECONDS = 5.0
"""How long past its wait budget the creating request is assumed to still be working."""
REQUEUE_AFTER = dt.timedelta(minutes=10)
"""A pending meeting this old has outlived its completion job's first tries: the sweep
queues another (a duplicate is harmless: the job claims the record)."""
COMPLETE = "complete"
"""The maintenance message kind of a completion job: `{"kind": "complete", "meeting": ID}`."""
COMPLETION_TRIES = 6
"""Completion jobs that may work on one meeting; the next one fails it (`timeout`). Fewer
than the maintenance subscription's 10 deliveries, so the job decides before Pub/Sub
dead-letters it; with its retry policy (10 s doubling to 600 s) 6 tries span ~10 minutes."""
COMPLETION_DEADLINE = dt.timedelta(minutes=30)
"""A meeting still unfinished this long after it was asked for is failed (`timeout`) by
its next completion job, however few tries it had (client retries also queue jobs)."""
JOB_WAIT_SECONDS = 3.0
"""How long a completion job waits for a pending conference before it leaves the wait to
Pub/Sub's backoff: every read is a Calendar call."""
OUTBOX_SETTLE = dt.timedelta(seconds=30)
"""Announcements stored this recently are left to their writer to send (it sends them
right after storing them); a job sends only what a failed publish left behind."""


def _newest(meeting: Meeting) -> dt.datetime:
    """When the newest announcement waiting on the record was stored (its CloudEvent
    `time`), or the record's last update if one has none."""
    times = [dt.datetime.fromisoformat(str(e["time"])) for e in meeting.outbox if e.get("time")]
    return max(times, default=meeting.updated_at)


JOB_CLAIM_SECONDS = 60.0
"""A completion job's claim on the record: the maintenance function's timeout."""
WRITABLE_ROLES = frozenset({"owner", "writer", "writerWithoutPrivateAccess"})
"""Calendar access roles that may insert events."""


class Unfinished(Exception):
    """A completion job could not settle its meeting yet: raised so Pub/Sub redelivers it."""


class _Refused(Exception):
    """Google refused a step for good: the create gives up with `reason`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class MeetingCalendar(Protocol):
    """The Calendar calls this service makes (a slice of `CalendarPort`)."""

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json: ...

    def insert_event(
        self, user: str, calendar_id: str, body: Json, *, send_updates: str = "none"
    ) -> Json: ...

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json: ...

    def delete_event(
        self, user: str, calendar_id: str, event_id: str, *, send_updates: str = "none"
    ) -> None: ...

    def list_events(
        self,
        user: str,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: str | None = None,
        max_results: int = 2500,
    ) -> EventPage: ...


class MeetingsStore(UserStore, MeetingStore, Protocol):
    """The repositories create_meeting uses."""


def _failure_reason(exc: Exception) -> str:
    """Why a create can never finish after `exc`; empty when a retry may succeed."""
    if isinstance(exc, _Refused):
        return exc.reason
    if isinstance(exc, AuthRevokedError):
        return FailureReason.AUTH_REVOKED
    if isinstance(exc, ApiError) and not exc.retryable:
        return FailureReason.CALENDAR_REFUSED
    return ""


def poll_delays(
    *, first: float = 0.005, start: float = 0.04, growth: float = 1.5, cap: float = 0.45
) -> Iterator[float]:
    """Gaps in seconds between planned reads (the first counted from the insert's answer).

    Each gap bounds how late a read sees a conference that became ready just after the
    previous one, and every read is a Calendar call (600/min per user, 10,000/min per
    project), so: one quick re-read after `first` (a conference is often ready at once),
    then gaps growing by `growth` from `start`, capped at `cap`. With the defaults the
    reads fall at 0.005, 0.045, 0.105, 0.195, 0.33, 0.53, 0.84, 1.29, 1.74, ... 3.09 s:
    a conference ready at 0.5 s is seen 33 ms late by the 6th read and one ready at 3 s
    86 ms late by the 12th (issue 12: at most 8 and 15 Calendar calls with the insert,
    within 50 and 250 ms), and a slow one costs about 2 reads a second."""
    yield first
    gap = start
    while True:
        yield min(gap, cap)
        gap *= growth


class MeetingService:
    """Create and read meetings; ports are passed in (fakes in unit tests)."""

    def __init__(
        self,
        *,
        calendar: MeetingCalendar,
        meet: MeetPort,
        store: MeetingsStore,
        events: EventSink,
        source: str,
        wait_seconds: float,
        clock: Callable[[], dt.datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stale_claim_seconds: float = STALE_CLAIM_SECONDS,
        spaces: SpaceUpkeep | None = None,
        jobs: Publisher | None = None,
        jobs_topic: str = "maintenance",
        completion_tries: int = COMPLETION_TRIES,
        completion_deadline: dt.timedelta = COMPLETION_DEADLINE,
        job_wait_seconds: float = JOB_WAIT_SECONDS,
    ) -> None:
        self._jobs = jobs
        """Where completion jobs go; None: a request that cannot finish fails (5xx) instead."""
        self._jobs_topic = jobs_topic
        self._tries = completion_tries
        self._deadline = completion_deadline
        self._job_wait = job_wait_seconds
        self._calendar = calendar
        self._meet = meet
        self._store = store
        self._actions = ConferenceActions(
            calendar=calendar,
            meet=meet,
            store=store,
            sink=events,
            source=source,
            now=clock,
            spaces=spaces,
        )
        self._announcer = self._actions.announcer
        self._events = events
        self._source = source
        self._wait = wait_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._stale = stale_claim_seconds

    # -- use cases -------------------------------------------------------------------------

    def submit(self, body: Json, idempotency_key: str | None, *, max_attendees: int) -> Meeting:
        """Validate a create request (refused before any Google call) and create it."""
        key = validate.idempotency_key(idempotency_key)
        return self.create(meeting_request.parse(body, max_attendees=max_attendees), key)

    def create(self, request: MeetingRequest, idempotency_key: str | None) -> Meeting:
        """Create (or find again) the meeting; returns it ready, failed or still pending
        (then a completion job is queued). What raises stored nothing the server will
        finish: a Google failure is refused with its kind, and the client retries with the
        same key."""
        try:
            return self._create(request, idempotency_key)
        except ApiError as exc:
            raise from_api_error(exc, user=request.organizer, field="organizer") from exc

    def _create(self, request: MeetingRequest, idempotency_key: str | None) -> Meeting:
        deadline = self._monotonic() + self._wait
        record = self._new_record(request, idempotency_key)
        try:
            active_user(self._store, request.organizer, "organizer")
        except Refusal:  # a retry of a settled meeting still gets its record
            known = self._store.get_meeting(record.id) if idempotency_key is not None else None
            if known is None or known.pending or known.body_hash != record.body_hash:
                raise
            return self._settled(known)
        stored, fresh = self._store.create_meeting(record)
        with logs.context(meeting=stored.id, mode=stored.mode):
            if not fresh:
                if stored.body_hash != record.body_hash:
                    raise Refusal(
                        Kind.UNPROCESSABLE,
                        "this Idempotency-Key was used with a different request body",
                        "Idempotency-Key",
                    )
                if stored.status != MeetingStatus.PENDING:
                    return self._settled(stored)  # if an earlier publish failed
                if self._holder_active(stored):
                    stored = self._watch(stored, deadline, self._holder_active)
                    if stored.status != MeetingStatus.PENDING:
                        return stored
                    if self._monotonic() >= deadline:
                        return self._promise(stored)
            try:
                meeting = self._advance(stored, request, deadline, fresh=fresh, claimed=fresh)
            except Exception as exc:  # Google, Pub/Sub or Firestore failed on the way
                meeting = self._after_error(
                    stored, request, exc, release=fresh, queue=self._jobs is not None
                )
            meeting = self._promise(meeting)
            _log.info(
                "meeting answered",
                extra={"status": meeting.status, "fresh": fresh, "space": meeting.space},
            )
            return meeting

    def complete(self, meeting_id: str) -> Meeting | None:
        """A completion job: finish the create of a meeting answered 202, under the same
        idempotency (a claim on the record keeps one worker at it; event id and claim keep
        it to one event and one space). Returns the settled meeting (None: no such record);
        raises `Unfinished` or Google's error while it is not, so Pub/Sub redelivers the
        job after its backoff. Past the bound the meeting is failed (`timeout`)."""
        meeting = self._store.get_meeting(meeting_id)
        if meeting is None:
            _log.warning("completion job for an unknown meeting", extra={"meeting": meeting_id})
            return None
        with logs.context(meeting=meeting.id, mode=meeting.mode):
            if not meeting.pending:
                if meeting.outbox and self._clock() - _newest(meeting) < OUTBOX_SETTLE:
                    # its writer (a sync, say) is likely sending them now: a second sender
                    # would send them twice; come back once it has (or has failed to)
                    raise Unfinished(f"meeting {meeting.id} is being announced")
                return self._announcer.flush(meeting)  # announcements a failed publish left
            if self._holder_active(meeting):
                raise Unfinished(f"meeting {meeting.id} is being worked on")
            claimed = self._claim_job(meeting)
            if claimed is None:
                raise Unfinished(f"meeting {meeting.id} changed under the job")
            _log.info("completion job", extra={"attempt": claimed.completion_attempts})
            try:
                meeting = self._finish(claimed)
            except Exception:  # the next delivery may act at once
                self._release_claim(claimed.id)
                raise
            _log.info("meeting completed", extra={"status": meeting.status})
            return meeting

    def _finish(self, claimed: Meeting) -> Meeting:
        """One completion try on a claimed record: the meeting settled, or a raise."""
        request = (
            meeting_request.from_canonical(claimed.create_request)
            if claimed.create_request
            else None
        )
        user = self._store.get_user(claimed.organizer)
        if user is None or user.status != UserStatus.ACTIVE:
            return self._give_up(claimed, FailureReason.AUTH_REVOKED, request)
        if request is None or self._past_bound(claimed):
            return self._give_up(claimed, FailureReason.TIMEOUT, request)
        deadline = self._monotonic() + self._job_wait
        try:
            meeting = self._advance(claimed, request, deadline, fresh=False, claimed=True)
        except Exception as exc:
            meeting = self._after_error(claimed, request, exc, release=False, queue=False)
        if meeting.pending:
            raise Unfinished(f"meeting {meeting.id} is still pending")
        return meeting

    def get(self, meeting_id: str) -> Meeting:
        """The record; a pending one is refreshed from its event once (best effort)."""
        meeting = self._store.get_meeting(meeting_id)
        if meeting is None:
            raise Refusal(Kind.NOT_FOUND, f"no meeting {meeting_id}", "id")
        if meeting.status != MeetingStatus.PENDING or not meeting.event_id:
            return meeting
        if meeting.mode == "space" and not meeting.space:
            return meeting
        try:
            event = self._calendar.get_event(
                meeting.organizer, meeting.calendar_id, meeting.event_id
            )
            return self._observe(meeting, event, persist=True)
        except NotFoundError:
            return meeting
        except ApiError as exc:
            if isinstance(exc, AuthRevokedError):
                mark_revoked(self._store, meeting.organizer, sink=self._events, source=self._source)
            _log.warning("refresh of pending meeting failed", extra={"error": str(exc)})
            return meeting

    def update_settings(self, meeting_id: str, body: Json) -> Meeting:
        """`PATCH /meetings/{id}`: change the Meet space's settings (Meet `spaces.patch`
        with an update mask of exactly the fields given) as the organizer, the space's
        owner, in every mode; announced `meeting.updated` when the settings changed.
        Idempotent: the same change again answers the same record and announces nothing."""
        change = meeting_request.parse_settings(body)
        meeting = self._store.get_meeting(meeting_id)
        if meeting is None:
            raise Refusal(Kind.NOT_FOUND, f"no meeting {meeting_id}", "id")
        if meeting.status in (MeetingStatus.CANCELLED, MeetingStatus.DETACHED):
            raise Refusal(Kind.CONFLICT, f"the meeting is {meeting.status}", "id")
        if not meeting.space:
            raise Refusal(Kind.CONFLICT, "the meeting has no Meet space yet; retry", "id")
        active_user(self._store, meeting.organizer, "organizer")
        try:
            space = self._meet.patch_space(
                meeting.organizer, meeting.space, change.config, change.update_mask
            )
        except ApiError as exc:
            if isinstance(exc, AuthRevokedError):
                mark_revoked(self._store, meeting.organizer, sink=self._events, source=self._source)
            raise from_api_error(exc, user=meeting.organizer, field="organizer") from exc
        settings = meeting_request.settings_of(dict(space.get("config") or {}))
        for _ in range(4):
            if meeting.conference_settings == settings:
                return self._announcer.flush(meeting)
            saved = self._actions.transition(
                meeting, {"conference_settings": settings}, [conference.UPDATED]
            )
            if saved is not None:
                return saved
            meeting = self._store.get_meeting(meeting_id) or meeting
        raise Refusal(Kind.UNAVAILABLE, "the meeting kept changing; retry", "id")

    # -- steps ---------------------------------------------------------------------------------

    def _new_record(self, request: MeetingRequest, key: str | None) -> Meeting:
        mid = meeting_id(request.organizer, key)
        now = self._clock()
        return Meeting(
            id=mid,
            organizer=request.organizer,
            mode=request.mode,
            calendar_key=calendar_key(request.organizer, request.calendar_id)
            if request.has_event
            else "",
            calendar_id=request.calendar_id if request.has_event else "",
            event_id=mid if request.has_event else "",
            request_id=mid if request.mode == "calendar" else "",
            idempotency_key_hash=idempotency_key_hash(request.organizer, key),
            body_hash=request.body_hash(),
            summary=request.summary,
            start=dict(request.start),
            end=dict(request.end),
            attendees=sorted(a.email for a in request.attendees),
            created_at=now,
            updated_at=now,
            claim_until=now + dt.timedelta(seconds=self._wait + HOLDER_GRACE_SECONDS),
            create_request=request.canonical(),
        )

    def _advance(
        self,
        meeting: Meeting,
        request: MeetingRequest,
        deadline: float,
        *,
        fresh: bool,
        claimed: bool,
    ) -> Meeting:
        """Take the create as far as it goes: the space (by the claim's holder only), the
        event (`fresh`: the record was just made, so no event exists yet), the conference."""
        if request.mode != "calendar" and not meeting.space:
            holder = meeting if claimed else self._claim_stale(meeting)
            if holder is not None:
                if request.mode == "space":
                    self._check_writable(holder)
                meeting = self._record_space(holder, self._make_space(request))
            else:
                meeting = self._watch(meeting, deadline, lambda m: not m.space)
                if not meeting.space:
                    return meeting
        if request.mode == "instant" or meeting.status != MeetingStatus.PENDING:
            return meeting
        space: Json | None = None
        if request.mode == "space":
            space = {
                "name": meeting.space,
                "meetingCode": meeting.meeting_code,
                "meetingUri": meeting.meeting_uri,
            }
        event = None if fresh else self._existing_event(meeting)
        if event is None:
            event = self._insert(meeting, event_.event_body(request, meeting.id, space), request)
        return self._await_conference(meeting, event, deadline)

    def _check_writable(self, meeting: Meeting) -> None:
        """Space mode: a space is made only for a calendar the organizer may write, or a
        refused event would leave it behind. One Calendar read (an events list of at most
        one event carries the caller's `accessRole`; `calendar.events` allows no calendar
        metadata read); a missing or foreign calendar is refused by it (404/403)."""
        page = self._calendar.list_events(
            meeting.organizer,
            meeting.calendar_id,
            time_min=self._clock().isoformat(),
            max_results=1,
        )
        if page.access_role and page.access_role not in WRITABLE_ROLES:
            raise _Refused(
                FailureReason.CALENDAR_REFUSED,
                f"the organizer may not write {meeting.calendar_id} ({page.access_role})",
            )

    def _make_space(self, request: MeetingRequest) -> Json:
        try:
            return self._meet.create_space(request.organizer, dict(request.space_config))
        except ApiError as exc:
            if exc.retryable or isinstance(exc, AuthRevokedError):
                raise
            raise _Refused(FailureReason.MEET_REFUSED, str(exc)) from exc

    def _after_error(
        self,
        meeting: Meeting,
        request: MeetingRequest,
        exc: Exception,
        *,
        release: bool,
        queue: bool,
    ) -> Meeting:
        """After a failed step: a refusal that can never succeed fails the meeting (what it
        made is removed); anything else releases the claim (`release`) and, when a
        completion job can take over (`queue`), leaves the meeting pending for it; else the
        error goes on (the client retries with the same key, or Pub/Sub the job)."""
        if isinstance(exc, AuthRevokedError):
            mark_revoked(self._store, meeting.organizer, sink=self._events, source=self._source)
        reason = _failure_reason(exc)
        if reason:
            try:
                return self._give_up(
                    self._store.get_meeting(meeting.id) or meeting, reason, request
                )
            except Exception as cleanup:
                if release:
                    self._release_claim(meeting.id)
                if not queue:
                    raise
                _log.warning("giving up failed; a job retries", extra={"error": str(cleanup)})
                return self._store.get_meeting(meeting.id) or meeting
        if release:
            self._release_claim(meeting.id)
        if not queue:
            raise exc
        _log.warning("create unfinished; a job finishes it", extra={"error": str(exc)})
        return self._store.get_meeting(meeting.id) or meeting

    def _settled(self, meeting: Meeting) -> Meeting:
        """A settled meeting answered again: announcements a failed publish left on it are
        sent now, or by a completion job if Pub/Sub refuses them again."""
        try:
            return self._announcer.flush(meeting)
        except Exception:
            if self._jobs is None:
                raise
            return self._promise(meeting)

    def requeue_stale(
        self, *, older_than: dt.timedelta = REQUEUE_AFTER, limit: int = 100
    ) -> list[str]:
        """The sweep's pickup: a pending meeting older than `older_than` whose completion
        job was lost (the request's instance died between storing and queueing, or the
        job was dead-lettered) gets a new job, so nothing waits on a client's retry. At
        most `limit` per sweep; the ids queued."""
        if self._jobs is None:
            return []
        before = self._clock() - older_than
        queued = []
        for meeting in self._store.pending_since(before, limit):
            self._jobs.publish(self._jobs_topic, {"kind": COMPLETE, "meeting": meeting.id})
            queued.append(meeting.id)
        if queued:
            _log.warning("stale pending meetings requeued", extra={"meetings": queued})
        return queued

    def _promise(self, meeting: Meeting) -> Meeting:
        """A pending meeting is answered (202) only once a completion job is queued: the
        server finishes it. One whose announcements wait on the record gets one too (it
        sends them). A publish that fails raises: the client retries with the same key."""
        if self._jobs is not None and (meeting.pending or meeting.outbox):
            self._jobs.publish(self._jobs_topic, {"kind": COMPLETE, "meeting": meeting.id})
            _log.info("completion job queued", extra={"status": meeting.status})
        return meeting

    def _claim_job(self, meeting: Meeting) -> Meeting | None:
        """Take the record for one completion try (a conditional write counting the try):
        the record as claimed, or None if it moved since it was read."""
        now = self._clock()
        seen = (meeting.version, meeting.updated_at)

        def change(current: Meeting) -> Meeting | None:
            if not current.pending or (current.version, current.updated_at) != seen:
                return None
            return dataclasses.replace(
                current,
                updated_at=now,
                claim_until=now + dt.timedelta(seconds=JOB_CLAIM_SECONDS),
                completion_attempts=current.completion_attempts + 1,
            )

        return self._store.update_meeting(meeting.id, change)

    def _past_bound(self, meeting: Meeting) -> bool:
        return (
            meeting.completion_attempts > self._tries
            or self._clock() - meeting.created_at >= self._deadline
        )

    def _give_up(self, meeting: Meeting, reason: str, request: MeetingRequest | None) -> Meeting:
        """Fail the meeting for good, after removing what it made: its event is deleted with
        the create's `sendUpdates`, and a conference running in its space is ended (Meet
        cannot delete a space: its name stays on the record). As a revoked organizer
        nothing can be removed. A transient failure of the removal raises (retried)."""
        if reason != FailureReason.AUTH_REVOKED:
            if meeting.event_id:
                send = request.send_updates if request is not None else "none"
                self._cleanup(
                    lambda: self._calendar.delete_event(
                        meeting.organizer, meeting.calendar_id, meeting.event_id, send_updates=send
                    )
                )
            if meeting.space:
                self._cleanup(
                    lambda: self._meet.end_active_conference(meeting.organizer, meeting.space)
                )
        fields: Json = {
            "status": MeetingStatus.FAILED,
            "failure_reason": reason,
            "claim_until": None,
        }
        for _ in range(4):
            saved = self._actions.transition(meeting, fields, [conference.FAILED])
            if saved is not None:
                _log.warning("meeting failed", extra={"reason": reason, "space": saved.space})
                return saved
            meeting = self._store.get_meeting(meeting.id) or meeting
            if not meeting.pending:
                return meeting  # settled by someone else meanwhile (the sync, a racer)
        raise RuntimeError(f"meeting {meeting.id} kept changing under us; retry")

    @staticmethod
    def _cleanup(call: Callable[[], None]) -> None:
        """Remove one thing a failed create made: already gone, never made or not ours to
        remove counts as done (logged); a transient failure raises."""
        try:
            call()
        except (NotFoundError, GoneError, FailedPreconditionError):
            pass  # never made, already deleted, or no conference running
        except ApiError as exc:
            if exc.retryable:
                raise
            _log.warning("could not remove what a failed create made", extra={"error": str(exc)})

    def _existing_event(self, meeting: Meeting) -> Json | None:
        try:
            return self._calendar.get_event(
                meeting.organizer, meeting.calendar_id, meeting.event_id
            )
        except NotFoundError:
            return None

    def _insert(self, meeting: Meeting, body: Json, request: MeetingRequest) -> Json:
        try:
            return self._calendar.insert_event(
                meeting.organizer, meeting.calendar_id, body, send_updates=request.send_updates
            )
        except DuplicateError:  # a concurrent or earlier attempt made it: use that one
            return self._calendar.get_event(
                meeting.organizer, meeting.calendar_id, meeting.event_id
            )

    def _await_conference(self, meeting: Meeting, event: Json, deadline: float) -> Meeting:
        """Poll events.get until the conference leaves `pending` or the budget is spent.

        Reads are planned at the times `poll_delays` gives from the insert's answer (a
        read that ran long delays the next one, never adds one), so how many are made by
        a given time does not depend on how long Calendar takes to answer."""
        meeting = self._observe(meeting, event, persist=False)
        delays = poll_delays()
        planned = self._monotonic()
        while meeting.status == MeetingStatus.PENDING:
            now = self._monotonic()
            if now >= deadline:
                break
            planned = max(planned + next(delays), now)
            self._sleep(min(planned, deadline) - now)
            event = self._calendar.get_event(
                meeting.organizer, meeting.calendar_id, meeting.event_id
            )
            meeting = self._observe(meeting, event, persist=False)
        if meeting.status == MeetingStatus.PENDING:  # budget spent: let retries act
            meeting = self._save(dataclasses.replace(meeting, claim_until=None))
        return meeting

    def _observe(self, meeting: Meeting, event: Json, *, persist: bool) -> Meeting:
        """Apply what `event` means to `meeting` (`ConferenceActions`): transitions are
        saved and announced; other changes stay in memory unless `persist`.

        The first sight of our own event adopts Calendar's rendering of the times,
        summary and attendees silently (they are what we asked for), so later
        comparisons by the sync worker do not mistake formatting for a reschedule.
        The space stamp is left to the sync: it would cost the caller a Calendar write.
        """
        adopt: Json | None = None
        if not meeting.event_etag:
            adopt = {
                "start": event_.times(event, "start"),
                "end": event_.times(event, "end"),
                "summary": str(event.get("summary", "")),
                "attendees": event_.attendee_emails(event),
                "html_link": str(event.get("htmlLink", "")),
            }
        outcome = self._actions.carry_out(
            meeting, event, stamp=False, persist_quiet=persist, adopt=adopt
        )
        return outcome.meeting

    def _transition(self, meeting: Meeting, fields: Json, emits: list[str]) -> Meeting:
        """Save the record (version bumped once) with the change's CloudEvents queued,
        then publish them; if someone else moved it first, theirs wins."""
        saved = self._actions.transition(meeting, fields, emits)
        if saved is not None:
            return saved
        return self._store.get_meeting(meeting.id) or meeting

    def _save(self, meeting: Meeting) -> Meeting:
        """Persist in-memory observations (no event: not a status change)."""
        new = dataclasses.replace(meeting, version=meeting.version + 1, updated_at=self._clock())
        saved = self._store.update_meeting(new.id, if_unchanged(meeting, new))
        if saved is not None:
            return saved
        # Someone else (a racing request, the sync worker) moved it first: theirs wins.
        return self._store.get_meeting(new.id) or new

    def _record_space(self, meeting: Meeting, space: Json) -> Meeting:
        fields: Json = {
            "space": str(space["name"]),
            "meeting_code": str(space.get("meetingCode", "")),
            "meeting_uri": str(space.get("meetingUri", "")),
        }
        if meeting.mode == "instant":
            fields["status"] = MeetingStatus.READY
            return self._transition(meeting, fields, [conference.READY])
        return self._save(dataclasses.replace(meeting, **fields))

    def _claim_stale(self, meeting: Meeting) -> Meeting | None:
        """Take over a claim whose holder died before making the space, or released it
        (a conditional write): the record as claimed (what the next write is conditional
        on), or None."""
        now = self._clock()
        released = meeting.claim_until is None  # its holder gave up (`_release_claim`)
        if not released and (now - meeting.updated_at).total_seconds() < self._stale:
            return None
        seen = meeting.updated_at

        def change(current: Meeting) -> Meeting | None:
            if current.space or current.updated_at != seen:
                return None
            claim = now + dt.timedelta(seconds=self._wait + HOLDER_GRACE_SECONDS)
            return dataclasses.replace(current, updated_at=now, claim_until=claim)

        claimed = self._store.update_meeting(meeting.id, change)
        _log.info("stale claim", extra={"resumed": claimed is not None})
        return claimed

    def _holder_active(self, meeting: Meeting) -> bool:
        """Is the request that created this record probably still working on it?

        It is until it answers: its claim ends with its wait budget (plus a grace), and
        it releases it early when it gives up on a Google error. Meanwhile concurrent
        retries only watch the record: ten racers all writing the same transition made
        their Firestore writes collide and retry until they gave up.
        """
        return (
            meeting.status == MeetingStatus.PENDING
            and meeting.claim_until is not None
            and self._clock() < meeting.claim_until
        )

    def _release_claim(self, meeting_id: str) -> None:
        """The creating request failed: a retry may act at once instead of watching a claim
        nobody works on. Best effort: if the store is what failed, the claim lapses."""

        def change(current: Meeting) -> Meeting | None:
            return dataclasses.replace(current, claim_until=None) if current.claim_until else None

        try:
            self._store.update_meeting(meeting_id, change)
        except Exception:  # the original error is the one to report
            _log.warning("could not release the claim", extra={"meeting": meeting_id})

    def _watch(
        self, meeting: Meeting, deadline: float, waiting: Callable[[Meeting], bool]
    ) -> Meeting:
        """Another request holds the claim: re-read the record while `waiting` holds and
        the budget lasts (the holder's progress shows there, not in Google)."""
        delays = poll_delays()
        while waiting(meeting):
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                break
            self._sleep(min(next(delays), remaining))
            meeting = self._store.get_meeting(meeting.id) or meeting
        return meeting
