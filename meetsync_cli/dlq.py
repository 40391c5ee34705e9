"""The dead letter: change signals the worker gave up on, read, replayed or dropped.

They are read through the pull subscription on the dead-letter topic and given back
unacknowledged unless they are replayed or purged; why each failed is what the worker
recorded (`DeliveryFailure`, by the SHA-256 of the message data). A replay republishes
a signal to `calendar-changes` with its ordering key, stamped with the time of the
replay (the worker drops signals older than its maximum age, and counts one received
before the calendar's last sync started as covered), and acknowledges the
dead-lettered copy only once Pub/Sub has confirmed the publish: interrupted anywhere,
every message is republished, still dead-lettered, or both.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from meetsync_cli.pubsub import Received, ack, give_back, pull
from meetsync_cli.target import DEAD_LETTER_SUBSCRIPTION, Target
from shared.domain.models import ChangeSignal, DeliveryFailure

CHANGES_TOPIC = "calendar-changes"
_PUBSUB_ATTRIBUTES = "CloudPubSubDeadLetter"
"""Prefix of the attributes Pub/Sub adds to a dead-lettered message."""
_BATCH = 10


@dataclass
class Letter:
    """One dead-lettered message, decoded where it can be."""

    message: Received
    signal: ChangeSignal | None
    failure: DeliveryFailure | None = None

    @property
    def message_id(self) -> str:
        return self.message.message_id

    @property
    def calendar_key(self) -> str:
        if self.signal is not None:
            return self.signal.calendar_key
        return self.message.ordering_key or self.message.attributes.get("calendar", "")

    @property
    def attempts(self) -> int | None:
        """Failed deliveries: Pub/Sub's count when it gives one, else what the worker saw."""
        counted = self.message.attributes.get(f"{_PUBSUB_ATTRIBUTES}SourceDeliveryCount", "")
        if counted.isdigit():
            return int(counted)
        return self.failure.attempts if self.failure else None

    def view(self, now: dt.datetime) -> dict[str, Any]:
        """The message as `dlq list --json` shows it."""
        failure = self.failure
        since = failure.first_failed_at if failure else self.message.published_at
        return {
            "message_id": self.message_id,
            "published_at": self.message.published_at.isoformat(),
            "calendar_key": self.calendar_key or None,
            "ordering_key": self.message.ordering_key or None,
            "signal": self.signal.to_dict() if self.signal else None,
            "decodable": self.signal is not None,
            "reason": failure.reason if failure else None,
            "attempts": self.attempts,
            "first_failed_at": failure.first_failed_at.isoformat() if failure else None,
            "age_seconds": round((now - since).total_seconds()),
        }


def _decode(data: bytes) -> ChangeSignal | None:
    try:
        payload = json.loads(data)
        return ChangeSignal.from_dict(payload) if isinstance(payload, dict) else None
    except (ValueError, UnicodeDecodeError):
        return None


class DeadLetters:
    def __init__(self, target: Target) -> None:
        self._target = target

    def _pull(self, max_messages: int) -> list[Letter]:
        found = pull(self._target, DEAD_LETTER_SUBSCRIPTION, max_messages)
        letters = [Letter(m, _decode(m.data)) for m in found]
        digests = {DeliveryFailure.digest(m.data) for m in found}
        failures = self._target.store.failures_for(digests) if digests else {}
        for letter in letters:
            letter.failure = failures.get(DeliveryFailure.digest(letter.message.data))
        return letters

    @contextlib.contextmanager
    def _holding(self) -> Iterator[dict[str, Letter]]:
        """Letters pulled in this block, by message id, all given back at its end (a
        handler removes what it acknowledged), also when interrupted."""
        held: dict[str, Letter] = {}
        try:
            yield held
        finally:
            with contextlib.suppress(Exception):
                give_back(
                    self._target, DEAD_LETTER_SUBSCRIPTION, [h.message for h in held.values()]
                )

    def peek(self, limit: int = 10_000) -> list[Letter]:
        """Every dead-lettered message (up to `limit`), oldest first; none acknowledged."""
        with self._holding() as held:
            while len(held) < limit:
                pulled = self._pull(min(100, limit - len(held)))
                fresh = [m for m in pulled if m.message_id not in held]
                if not fresh:
                    break
                held.update((m.message_id, m) for m in fresh)
            return sorted(held.values(), key=lambda m: m.message.published_at)

    def drain(
        self, handle: Callable[[Letter], bool], *, limit: int | None = None, pace: float = 0.0
    ) -> None:
        """Hand each message to `handle` (True: acknowledge it) until the dead letter has
        nothing new or `limit` were handled, sleeping `pace` seconds after each."""
        seen: set[str] = set()
        handled = 0
        with self._holding() as held:
            while limit is None or handled < limit:
                batch = [m for m in self._pull(_BATCH) if m.message_id not in seen]
                if not batch:
                    return
                for letter in batch:
                    seen.add(letter.message_id)
                    held[letter.message_id] = letter
                for letter in batch[: None if limit is None else limit - handled]:
                    handled += 1
                    if handle(letter):
                        ack(self._target, DEAD_LETTER_SUBSCRIPTION, [letter.message])
                        del held[letter.message_id]
                    time.sleep(pace)


@dataclass
class Replay:
    """What `dlq replay` did (its `--json`)."""

    dry_run: bool
    replayed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False


def replay(
    target: Target,
    *,
    limit: int | None,
    dry_run: bool,
    per_second: float,
    on_each: Callable[[], None] = lambda: None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Replay:
    """Republish dead-lettered signals (see the module docstring). Undecodable ones are
    skipped and stay; a KeyboardInterrupt ends the run with `interrupted` set."""
    report = Replay(dry_run=dry_run)

    def handle(letter: Letter) -> bool:
        on_each()
        if letter.signal is None:
            report.skipped.append({"message_id": letter.message_id, "why": "undecodable"})
            return False
        entry: dict[str, Any] = {
            "message_id": letter.message_id,
            "calendar_key": letter.calendar_key,
            "reason": letter.failure.reason if letter.failure else None,
        }
        report.replayed.append(entry)
        if dry_run:
            return False
        fresh = ChangeSignal(
            calendar_key=letter.signal.calendar_key,
            channel_id=letter.signal.channel_id,
            message_number=letter.signal.message_number,
            state=letter.signal.state,
            received_at=now(),
        )
        attributes = {
            k: v
            for k, v in letter.message.attributes.items()
            if not k.startswith(_PUBSUB_ATTRIBUTES)
        }
        # `publish` returns once Pub/Sub has confirmed the message: only then may the copy go
        entry["new_message_id"] = target.publisher.publish(
            CHANGES_TOPIC,
            fresh.to_dict(),
            ordering_key=letter.message.ordering_key or fresh.calendar_key,
            attributes={**attributes, "replayed_from": letter.message_id},
        )
        return True

    try:
        DeadLetters(target).drain(handle, limit=limit, pace=1 / per_second if per_second else 0)
    except KeyboardInterrupt:
        report.interrupted = True
        if report.replayed and "new_message_id" not in report.replayed[-1] and not dry_run:
            report.replayed.pop()  # its publish was not confirmed: it is still dead-lettered
    return report


def purge(target: Target, *, poison_only: bool, dry_run: bool) -> list[str]:
    """Drop dead-lettered messages (undecodable ones only, with `poison_only`); their ids."""
    dropped: list[str] = []

    def handle(letter: Letter) -> bool:
        if poison_only and letter.signal is not None:
            return False
        dropped.append(letter.message_id)
        return not dry_run

    DeadLetters(target).drain(handle)
    return dropped
