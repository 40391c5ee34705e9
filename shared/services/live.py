"""Meetings as they happen: Workspace Events subscriptions and the `meet_events` handler.

`Subscriptions` keeps one Workspace Events subscription per meeting space (target
`//meet.googleapis.com/spaces/{id}`, made as the organizer when the meeting gets its
space, deleted when the meeting is cancelled or detached, renewed on the expiration
reminder, reactivated after a suspension, made again after expiry). Why space targets
and not user targets: README, "Design notes".

`MeetEvents` handles each event Google publishes to the `workspace-events` topic. A
Meet event only names what changed; the conference record is read again at handling
time (participants and their sessions, recordings, transcripts; signed-in users named
through the Directory) and merged into the meeting (`shared.domain.live`), so
duplicated, reordered and dropped events converge, and each fact (`meeting.started`,
`meeting.ended`, `meeting.recording_ready`, `meeting.transcript_ready`) is stored with
its announcement in one conditional write and published after it (the outbox).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from shared import logs
from shared.domain import conference, live
from shared.domain import event as event_
from shared.domain.errors import (
    ApiError,
    AuthRevokedError,
    FailedPreconditionError,
    ForbiddenError,
    NotFoundError,
)
from shared.domain.models import Meeting, MeetingStatus, UserStatus, utcnow
from shared.domain.ports import (
    Clock,
    DirectoryPort,
    EventSink,
    Json,
    MeetingStore,
    MeetPort,
    SpaceIndex,
    UserStore,
    WorkspaceEventsPort,
)
from shared.services.decisions import if_unchanged
from shared.services.outbox import Announcer
from shared.services.runs import Resume
from shared.services.users import mark_revoked

_log = logs.get(__name__)
_ATTEMPTS = 4
_DIRECTORY_CACHE = 10_000

ACTIVE, SUSPENDED, EXPIRED, DELETED = "active", "suspended", "expired", "deleted"
FOLLOW_AFTER_END = dt.timedelta(days=2)
"""How long after its scheduled end a meeting's space is still followed (a late start, an
overrun, a rejoin): its subscription is renewed or made again until then."""
CHECK_AFTER_END = dt.timedelta(minutes=30)
"""The sweep reads a meeting's conference records this long after its scheduled end (its
last occurrence's, for a series), then hourly until one has ended or the meeting is no
longer followed. It also reads them at the first sweep after a subscription is made or
reactivated: what happened in the space while nothing was subscribed sent no event."""
CHECK_EVERY = dt.timedelta(hours=1)
"""How often the sweep looks again: for an outcome not known yet, or to subscribe again
after Google refused."""
RECONCILE_PAGE = 50
OUTCOMES_STAGE = "outcomes"
"""The sweep job's second stage (`shared.services.maintenance`): the shard's outcome checks."""


class PoisonEventError(ValueError):
    """The message is not a Workspace Events CloudEvent we can read: dead-lettered."""


class SubscriptionStore(MeetingStore, SpaceIndex, Protocol):
    """The repositories the subscriptions' upkeep uses."""


class LiveStore(SubscriptionStore, UserStore, Protocol):
    """The repositories the live-meeting services use."""


@dataclasses.dataclass(frozen=True, slots=True)
class WorkspaceEvent:
    """One delivered CloudEvent (binary mode: `ce-*` attributes, JSON data)."""

    type: str
    source: str
    subject: str
    id: str
    data: Json


def decode(data: Any) -> WorkspaceEvent:
    """The CloudEvent inside a Pub/Sub push (`message.attributes`, base64 `message.data`)."""
    try:
        message = data["message"]
        attributes = message.get("attributes") or {}
        payload = json.loads(base64.b64decode(message.get("data", ""), validate=True) or b"{}")
        if not isinstance(payload, dict):
            raise PoisonEventError("event data is not a JSON object")
        kind, source = attributes["ce-type"], attributes["ce-source"]
        if not isinstance(kind, str) or not isinstance(source, str):
            raise PoisonEventError("ce-type and ce-source must be strings")
        return WorkspaceEvent(
            type=kind,
            source=source,
            subject=str(attributes.get("ce-subject", "")),
            id=str(attributes.get("ce-id", "")),
            data=payload,
        )
    except PoisonEventError:
        raise
    except (KeyError, TypeError, AttributeError, binascii.Error, ValueError) as exc:
        raise PoisonEventError(f"undecodable workspace event: {exc!r}") from None


def needs_subscription(meeting: Meeting, now: dt.datetime) -> bool:
    """Does anyone still want this space's events? A ready meeting until a while after its
    scheduled end, a recurring one after its last occurrence's (an instant meeting, without
    an end, or a series without one, while it lives)."""
    if meeting.status != MeetingStatus.READY or not meeting.space:
        return False
    end = scheduled_end(meeting)
    return end is None or now < end + FOLLOW_AFTER_END


def scheduled_end(meeting: Meeting) -> dt.datetime | None:
    """When the meeting (its last occurrence, for a series) is to end; None without an end
    (an instant meeting) or for a series that never ends."""
    end = live.parse_time((meeting.end or {}).get("dateTime"))
    if end is not None and meeting.recurrence:
        end = event_.series_end(meeting.recurrence, end)
    return end


def next_check(meeting: Meeting, now: dt.datetime) -> dt.datetime | None:
    """When the sweep reads the meeting's conference records again, after a read at `now`:
    hourly while its subscription is missing (to subscribe again); at its scheduled end's
    check; after it, hourly until a conference has ended. Never, once nothing follows it
    or its outcome is known; an instant meeting's events alone follow it once caught up."""
    if not needs_subscription(meeting, now):
        return None
    if meeting.subscription_state != ACTIVE or not meeting.subscription:
        return now + CHECK_EVERY
    end = scheduled_end(meeting)
    if end is None:
        return None
    if now < end + CHECK_AFTER_END:
        return end + CHECK_AFTER_END
    ended = any(c.get("state") == live.ENDED_STATE for c in meeting.conferences)
    return None if ended else now + CHECK_EVERY


class Subscriptions:
    """One subscription per meeting space, stored on the meeting (`Meeting.subscription`)."""

    def __init__(
        self,
        *,
        events: WorkspaceEventsPort,
        store: SubscriptionStore,
        topic: str,
        now: Clock = utcnow,
    ) -> None:
        self._events = events
        self._store = store
        self._topic = topic
        self._now = now

    def wanted(self, meeting: Meeting) -> bool:
        """Is the meeting followed, and not subscribed yet (or its subscription gone)?"""
        subscribed = meeting.subscription and meeting.subscription_state in (ACTIVE, SUSPENDED)
        return not subscribed and needs_subscription(meeting, self._now())

    def subscribe(self, meeting: Meeting) -> Json:
        """Make the subscription (ALREADY_EXISTS: the existing one is reused) and answer the
        fields to store with the meeting's change, with a check at the next sweep (it reads
        what happened before the subscription; after a failure it subscribes again)."""
        if not self.wanted(meeting):
            return {}
        made = self._create(meeting)
        if made is None:
            return self._check_now(meeting)
        return {**self._fields(meeting, made), **self._check_now(meeting)}

    def ensure(self, meeting: Meeting) -> Meeting:
        """Subscribe to the meeting's space unless it is subscribed (ALREADY_EXISTS: the
        existing one is reused), and store it. Best effort, as `subscribe`."""
        if not self.wanted(meeting):
            return meeting
        made = self._create(meeting)
        if made is None:
            return self._set(meeting, **self._check_now(meeting))
        return self._record(meeting, made, **self._check_now(meeting))

    def _create(self, meeting: Meeting) -> Json | None:
        """The space's subscription, or None when Google refused or failed: the next change
        of the meeting tries again, and the sweep's reconciliation after its end reads what
        happened in the space all the same."""
        try:
            made = self._events.create_subscription(
                meeting.organizer,
                target=live.space_target(meeting.space),
                event_types=live.EVENT_TYPES,
                topic=self._topic,
            )
        except ApiError as exc:
            _log.warning(
                "could not subscribe to the meeting's space",
                extra={"meeting": meeting.id, "space": meeting.space, "error": str(exc)},
            )
            return None
        _log.info(
            "subscribed to the meeting's space",
            extra={"meeting": meeting.id, "subscription": made.get("name")},
        )
        return made

    def _check_now(self, meeting: Meeting) -> dict[str, Any]:
        """`outcome_check_at` due at the next sweep (unless it is due already): events are
        only sent while a subscription is active, so what happened in the space before it
        (or while it was suspended or gone) is read from its conference records."""
        now = self._now()
        if meeting.outcome_check_at is not None and meeting.outcome_check_at <= now:
            return {}
        return {"outcome_check_at": now}

    def resume(self, owner: str) -> list[str]:
        """The user is authorised again: their suspended subscriptions reactivated, expired
        ones made again (meetings still followed). The meetings whose subscription is
        active again."""
        resumed = []
        for meeting in self._store.meetings_by_organizer(owner):
            if not needs_subscription(meeting, self._now()):
                continue
            if meeting.subscription_state == SUSPENDED:
                try:
                    meeting = self.reactivate(meeting)
                except AuthRevokedError:
                    break  # not authorised after all: the next re-authorisation tries again
            elif not meeting.subscription or meeting.subscription_state == EXPIRED:
                meeting = self.ensure(meeting)
            else:
                continue
            if meeting.subscription_state == ACTIVE:
                resumed.append(meeting.id)
        return resumed

    def release_all(self, owner: str) -> list[str]:
        """The user is disconnected: delete every subscription of their meetings (while the
        grant still works). The meetings released."""
        released = []
        for meeting in self._store.meetings_by_organizer(owner):
            held = meeting.subscription and meeting.subscription_state in (ACTIVE, SUSPENDED)
            if held and self.release(meeting).subscription_state == DELETED:
                released.append(meeting.id)
        return released

    def check_later(self, meeting: Meeting, when: dt.datetime | None) -> Meeting:
        return self._set(meeting, outcome_check_at=when)

    def renew(self, meeting: Meeting) -> Meeting:
        """Extend the subscription to the maximum ttl; one that is gone is made again."""
        if not meeting.subscription:
            return self.ensure(meeting)
        try:
            renewed = self._events.renew_subscription(meeting.organizer, meeting.subscription)
        except NotFoundError:
            return self.ensure(self._set(meeting, subscription_state=EXPIRED))
        return self._record(meeting, renewed)

    def reactivate(self, meeting: Meeting) -> Meeting:
        """A suspended subscription made active again (its user is authorised again); stays
        suspended if Google still refuses (`AuthRevokedError` is raised after noting it:
        the user's grant is gone)."""
        if not meeting.subscription:
            return self.ensure(meeting)
        try:
            made = self._events.reactivate_subscription(meeting.organizer, meeting.subscription)
        except NotFoundError:
            return self.ensure(self._set(meeting, subscription_state=EXPIRED))
        except (FailedPreconditionError, AuthRevokedError, ForbiddenError) as exc:
            _log.info(
                "subscription stays suspended",
                extra={"meeting": meeting.id, "subscription": meeting.subscription,
                       "error": str(exc)},
            )  # fmt: skip
            suspended = self._set(meeting, subscription_state=SUSPENDED)
            if isinstance(exc, AuthRevokedError):
                raise
            return suspended
        return self._record(meeting, made, **self._check_now(meeting))

    def release(self, meeting: Meeting) -> Meeting:
        """Delete the subscription: nothing needs the space's events any more."""
        if not meeting.subscription or meeting.subscription_state == DELETED:
            return meeting
        try:
            self._events.delete_subscription(meeting.organizer, meeting.subscription)
        except ApiError as exc:
            if not isinstance(exc, NotFoundError):
                _log.warning(
                    "could not delete the subscription",
                    extra={"meeting": meeting.id, "subscription": meeting.subscription,
                           "error": str(exc)},
                )  # fmt: skip
                return meeting
        _log.info(
            "subscription deleted",
            extra={"meeting": meeting.id, "subscription": meeting.subscription},
        )
        return self._set(meeting, subscription_state=DELETED)

    def mark(self, meeting: Meeting, state: str) -> Meeting:
        """Note what Google said of the subscription (a lifecycle event)."""
        return self._set(meeting, subscription_state=state)

    def _record(self, meeting: Meeting, subscription: Json, **more: Any) -> Meeting:
        return self._set(meeting, **self._fields(meeting, subscription), **more)

    @staticmethod
    def _fields(meeting: Meeting, subscription: Json) -> Json:
        state = ACTIVE if subscription.get("state", "ACTIVE") == "ACTIVE" else SUSPENDED
        return {
            "subscription": str(subscription.get("name", meeting.subscription)),
            "subscription_state": state,
            "subscription_expires": live.parse_time(subscription.get("expireTime")),
        }

    def _set(self, meeting: Meeting, **fields: Any) -> Meeting:
        """Store subscription fields alone (not a change of the meeting: no version bump,
        no announcement); whatever else changed meanwhile is kept. The update time moves,
        so a writer holding an older copy re-reads instead of writing these fields back."""

        def change(current: Meeting) -> Meeting | None:
            if all(getattr(current, k) == v for k, v in fields.items()):
                return None
            return dataclasses.replace(current, **fields, updated_at=self._now())

        saved = self._store.update_meeting(meeting.id, change)
        if saved is not None:
            return saved
        return dataclasses.replace(meeting, **fields)


class SpaceHooks:
    """The `SpaceUpkeep` of `ConferenceActions`: a meeting becoming ready with its space is
    subscribed within the write of that change (one Workspace Events call, no extra
    Firestore write on create_meeting's path); a cancelled or detached one is released
    after its write. Never raises."""

    def __init__(self, subscriptions: Subscriptions) -> None:
        self._subscriptions = subscriptions

    def fields_before(self, meeting: Meeting) -> Json:
        if meeting.status != MeetingStatus.READY or not meeting.space:
            return {}
        try:
            return self._subscriptions.subscribe(meeting)
        except Exception as exc:  # the meeting's change matters more: the next change of
            # the meeting retries, and the sweep's reconciliation reads the outcome anyway
            _log.warning(
                "subscription upkeep failed", extra={"meeting": meeting.id, "error": str(exc)}
            )
            return {}

    def after_change(self, meeting: Meeting) -> Meeting:
        try:
            if meeting.status in (MeetingStatus.CANCELLED, MeetingStatus.DETACHED):
                return self._subscriptions.release(meeting)
        except Exception as exc:  # the change is stored and answered; Google expires an
            # unrenewed subscription within 7 days, and disconnecting the user deletes it
            _log.warning(
                "subscription upkeep failed", extra={"meeting": meeting.id, "error": str(exc)}
            )
        return meeting


class MeetEvents:
    """The `meet_events` function's service: one delivered Workspace Event at a time."""

    def __init__(
        self,
        *,
        store: LiveStore,
        meet: MeetPort,
        directory: DirectoryPort,
        subscriptions: Subscriptions,
        sink: EventSink,
        source: str,
        now: Clock = utcnow,
    ) -> None:
        self._store = store
        self._meet = meet
        self._directory = directory
        self._subscriptions = subscriptions
        self._announcer = Announcer(store=store, sink=sink)
        self._sink = sink
        self._source = source
        self._now = now
        self._emails: dict[str, str] = {}

    # -- one delivery ------------------------------------------------------------------------

    def handle(self, data: Any, message_id: str) -> str:
        """Process one push; returns what it did. A poison message raises
        `PoisonEventError` (dead-lettered); a transient Google failure raises (retried)."""
        try:
            event = decode(data)
        except PoisonEventError as exc:
            _log.error(
                "poison workspace event; it will be dead-lettered",
                extra={"message_id": message_id, "reason": str(exc)},
            )
            raise
        with logs.context(ce_type=event.type, ce_id=event.id):
            if event.type in live.LIFECYCLE_TYPES:
                return self._lifecycle(event)
            if event.type not in live.EVENT_TYPES:
                _log.info("workspace event ignored", extra={"type": event.type})
                return "ignored"
            space = live.space_of(event.source)
            resource = live.changed_resource(event.data)
            record = live.record_of(resource or event.subject)
            if space is None or record is None:
                _log.error(
                    "poison workspace event; it will be dead-lettered",
                    extra={"message_id": message_id, "reason": "no space or conference record"},
                )
                raise PoisonEventError(f"no space or conference record in {event.type}")
            meetings = self._store.meetings_by_space(space)
            if not meetings:
                _log.info("workspace event for an unknown space", extra={"space": space})
                return "unknown_space"
            outcomes = [self.refresh(m, record)[1] for m in meetings]
            return "updated" if "updated" in outcomes else outcomes[0]

    def refresh(self, meeting: Meeting, record: str) -> tuple[Meeting, str]:
        """Read conference record `record` now and merge it into the meeting: (record after,
        `updated` | `unchanged` | `gone` | `revoked`)."""
        try:
            entry = self._read(meeting.organizer, record)
        except NotFoundError:  # deleted 30 days after the conference: nothing more to learn
            _log.info("conference record gone", extra={"meeting": meeting.id, "record": record})
            return meeting, "gone"
        except (AuthRevokedError, ForbiddenError) as exc:
            _log.warning(
                "conference record not readable",
                extra={"meeting": meeting.id, "record": record, "error": str(exc)},
            )
            if isinstance(exc, AuthRevokedError):
                mark_revoked(self._store, meeting.organizer, sink=self._sink, source=self._source)
            return meeting, "revoked"
        return self._merge(meeting, entry)

    def reconcile(self, meeting: Meeting) -> tuple[Meeting, str]:
        """Read every conference record of the meeting's space (the sweep's outcome check:
        what no event told us, dropped or sent before the subscription, is caught here)."""
        outcome = "unchanged"
        try:
            records = self._meet.list_conference_records(meeting.organizer, meeting.space)
        except (AuthRevokedError, ForbiddenError, NotFoundError) as exc:
            _log.warning("conference records not readable",
                         extra={"meeting": meeting.id, "error": str(exc)})  # fmt: skip
            return meeting, "revoked"
        for record in sorted(records, key=lambda r: str(r.get("startTime", ""))):
            meeting, result = self.refresh(meeting, str(record["name"]))
            outcome = "updated" if result == "updated" else outcome
        return meeting, outcome

    def reconcile_shard(
        self,
        shard: int,
        *,
        due: dt.datetime,
        out_of_time: Callable[[], bool] = lambda: False,
    ) -> tuple[dict[str, list[str]], Resume | None]:
        """The sweep job's outcome checks for `shard`: each meeting whose check is due gets
        subscribed again if Google refused before, its space's conference records read,
        and its next check set (`next_check`); a meeting no longer followed loses its
        subscription. Returns the ids by what was done, and where to resume when
        `out_of_time` stopped it (None when the shard is done)."""
        done: dict[str, list[str]] = {
            "reconciled": [], "updated": [], "released": [], "failed": []
        }  # fmt: skip
        seen: set[str] = set()
        while True:
            page = [
                m for m in self._store.meetings_to_reconcile(shard, due, RECONCILE_PAGE)
                if m.id not in seen
            ]  # fmt: skip
            for meeting in page:
                if out_of_time():
                    self._log_checks(shard, done)
                    return done, Resume(OUTCOMES_STAGE, None)
                seen.add(meeting.id)
                self._check(meeting, done)
            if len(page) < RECONCILE_PAGE:
                self._log_checks(shard, done)
                return done, None

    def _check(self, meeting: Meeting, done: dict[str, list[str]]) -> None:
        now = self._now()
        if self._subscriptions.wanted(meeting):  # Google refused it before: try again
            meeting = self._subscriptions.ensure(meeting)
        if meeting.space and meeting.status == MeetingStatus.READY:
            try:
                meeting, outcome = self.reconcile(meeting)
            except ApiError as exc:  # one meeting Meet fails on must not stall its shard
                _log.warning(
                    "outcome check failed; it is tried again in an hour",
                    extra={"meeting": meeting.id, "error": str(exc)},
                )
                done["failed"].append(meeting.id)
                self._subscriptions.check_later(meeting, now + CHECK_EVERY)
                return
            if outcome == "updated":
                done["updated"].append(meeting.id)
        done["reconciled"].append(meeting.id)
        meeting = self._subscriptions.check_later(meeting, next_check(meeting, now))
        if not needs_subscription(meeting, now) and meeting.subscription:
            released = self._subscriptions.release(meeting)
            if released.subscription_state == DELETED:
                done["released"].append(meeting.id)

    @staticmethod
    def _log_checks(shard: int, done: dict[str, list[str]]) -> None:
        if done["reconciled"]:
            counts = {k: len(v) for k, v in done.items()}
            _log.info("meetings reconciled", extra={"shard": shard, **counts})

    # -- reading the truth -------------------------------------------------------------------

    def _read(self, user: str, record_name: str) -> Json:
        record = self._meet.get_conference_record(user, record_name)
        pairs = [
            (p, self._meet.list_participant_sessions(user, str(p["name"])))
            for p in self._meet.list_participants(user, record_name)
        ]
        emails = {
            uid: email
            for p, _ in pairs
            if (uid := str((p.get("signedinUser") or {}).get("user", "")))
            and (email := self._email(user, uid))
        }
        return live.summarize(
            record,
            pairs,
            emails,
            self._meet.list_recordings(user, record_name),
            self._meet.list_transcripts(user, record_name),
        )

    def _email(self, acting: str, user: str) -> str | None:
        """`users/{id}` → email through the Directory, remembered for the instance's life."""
        if user in self._emails:
            return self._emails[user]
        try:
            email = self._directory.user_email(acting, user.split("/", 1)[-1])
        except (NotFoundError, ForbiddenError) as exc:
            _log.info("participant not in the directory", extra={"user": user, "error": str(exc)})
            return None
        if email:
            if len(self._emails) >= _DIRECTORY_CACHE:
                self._emails.clear()
            self._emails[user] = email
        return email

    def _merge(self, meeting: Meeting, entry: Json) -> tuple[Meeting, str]:
        for _ in range(_ATTEMPTS):
            conferences, facts = live.merge(meeting.conferences, entry)
            if conferences == meeting.conferences:
                return self._announcer.flush(meeting), "unchanged"
            saved = self._transition(meeting, {"conferences": conferences}, facts)
            if saved is not None:
                if facts:
                    emitted = [f.kind for f in facts]
                    _log.info(
                        "meeting conference changed",
                        extra={"meeting": meeting.id, "emitted": emitted, "record": entry["name"]},
                    )
                return saved, "updated"
            fresh = self._store.get_meeting(meeting.id)
            if fresh is None:
                return meeting, "unchanged"
            meeting = fresh
        raise RuntimeError(f"meeting {meeting.id} kept changing under us; retry")

    def _transition(
        self, meeting: Meeting, fields: Json, facts: Sequence[live.Fact]
    ) -> Meeting | None:
        now = self._now()
        updated = conference.apply(meeting, fields, now, emits=bool(facts))
        announce = [
            conference.cloud_event(
                updated,
                fact.kind,
                now,
                self._source,
                key=fact.key,
                extra={"artifact": fact.artifact} if fact.artifact else None,
            )
            for fact in facts
        ]
        saved = self._store.update_meeting(meeting.id, if_unchanged(meeting, updated, announce))
        return self._announcer.flush(saved) if saved is not None else None

    # -- subscription lifecycle ------------------------------------------------------------------

    def _lifecycle(self, event: WorkspaceEvent) -> str:
        subscription = event.data.get("subscription")
        if not isinstance(subscription, dict) or not subscription.get("name"):
            raise PoisonEventError(f"{event.type} without its subscription")
        name = str(subscription["name"])
        space = live.space_of(str(subscription.get("targetResource", "")))
        meetings = [
            m for m in (self._store.meetings_by_space(space) if space else [])
            if m.subscription == name
        ]  # fmt: skip
        if not meetings:
            _log.info("lifecycle event for a subscription we do not hold",
                      extra={"subscription": name})  # fmt: skip
            return "unknown_subscription"
        outcome = "ignored"
        for meeting in meetings:
            outcome = self._apply_lifecycle(event.type, meeting)
        return outcome

    def _apply_lifecycle(self, kind: str, meeting: Meeting) -> str:
        needed = needs_subscription(meeting, self._now())
        if kind == live.EXPIRED:
            meeting = self._subscriptions.mark(meeting, EXPIRED)
            if not needed:
                return "expired"
            after = self._subscriptions.ensure(meeting)
            return "recreated" if after.subscription_state == ACTIVE else "expired"
        if not needed:
            self._subscriptions.release(meeting)
            return "released"
        if kind == live.EXPIRATION_REMINDER:
            self._subscriptions.renew(meeting)
            return "renewed"
        # suspended: reactivate at once if the organizer is authorised (a transient
        # endpoint problem); otherwise when they are again (`reactivate_user`)
        meeting = self._subscriptions.mark(meeting, SUSPENDED)
        user = self._store.get_user(meeting.organizer)
        if user is not None and user.status == UserStatus.ACTIVE:
            try:
                after = self._subscriptions.reactivate(meeting)
            except AuthRevokedError:  # the grant is gone: reconnecting resumes it
                mark_revoked(self._store, meeting.organizer, sink=self._sink, source=self._source)
                return "suspended"
            return "reactivated" if after.subscription_state == ACTIVE else "suspended"
        return "suspended"
