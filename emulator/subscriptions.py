"""Google Workspace Events API v1: subscriptions to Meet events, their lifecycle, delivery.

``/v1/subscriptions`` (create, get, list, patch, delete, ``:reactivate``) and
``/v1/operations/{id}``. Writes answer a long-running ``Operation`` that is already
``done`` with the ``Subscription`` (or ``Empty``) as ``response``. A user may authorize
one subscription per target for the app: a second is 409 ``ALREADY_EXISTS``. Targets
are Meet spaces (``//meet.googleapis.com/spaces/{id}``, the caller owning the space) or
the caller themself (``//cloudidentity.googleapis.com/users/{id}``: every space they
own). Expiry follows the emulator clock: ``ttl`` 0 or absent is the maximum (7 days,
``subscription_max_ttl_seconds``); expiration reminders go out 12 h and 1 h before
``expireTime``, then ``expired`` and the subscription is gone. Revoking the user's
authorization suspends (``USER_AUTHORIZATION_FAILURE``), as does a topic Pub/Sub
refuses (``ENDPOINT_NOT_FOUND``, ``ENDPOINT_PERMISSION_DENIED``).

Events are CloudEvents in Pub/Sub binary mode, published by ``delivery.py``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from emulator import listquery
from emulator.clock import parse_rfc3339, rfc3339
from emulator.delivery import OutgoingEvent
from emulator.directory import user_id
from emulator.errors import ApiError, meet_error
from emulator.scopes import MEET_CREATED, MEET_READONLY
from emulator.state import Caller, Emulator, Space, Subscription
from emulator.wire import Request, Response, json_response

JSON = dict[str, Any]

MEET_EVENT_TYPES = frozenset(
    {
        "google.workspace.meet.conference.v2.started",
        "google.workspace.meet.conference.v2.ended",
        "google.workspace.meet.participant.v2.joined",
        "google.workspace.meet.participant.v2.left",
        "google.workspace.meet.recording.v2.fileGenerated",
        "google.workspace.meet.transcript.v2.fileGenerated",
    }
)
REMINDER = "google.workspace.events.subscription.v1.expirationReminder"
EXPIRED = "google.workspace.events.subscription.v1.expired"
SUSPENDED = "google.workspace.events.subscription.v1.suspended"
SUSPENSION_REASONS = (
    "USER_SCOPE_REVOKED",
    "RESOURCE_DELETED",
    "USER_AUTHORIZATION_FAILURE",
    "ENDPOINT_PERMISSION_DENIED",
    "ENDPOINT_NOT_FOUND",
    "ENDPOINT_RESOURCE_EXHAUSTED",
    "OTHER",
)
REMINDER_OFFSETS = (12 * 3600, 3600)
"""Expiration reminders: 12 hours and 1 hour before ``expireTime``."""

SERVICE = "//workspaceevents.googleapis.com/"
_TYPE = "type.googleapis.com/google.apps.events.subscriptions.v1."
_SPACE_TARGET = re.compile(r"^//meet\.googleapis\.com/spaces/([^/]+)$")
_USER_TARGET = re.compile(r"^//cloudidentity\.googleapis\.com/users/([^/]+)$")
_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")
_DURATION = re.compile(r"^(\d+)(?:\.(\d{1,9}))?s$")
_MUTABLE = {"ttl", "expire_time", "event_types"}
_QUOTA_KEYS = {
    "writes": ("events_writes_per_minute", "events_writes_per_minute_per_user", "Writes"),
    "reads": ("events_reads_per_minute", "events_reads_per_minute_per_user", "Reads"),
}


def _err(code: int, message: str, status: str | None = None) -> ApiError:
    return meet_error(code, message, status)


# -- resources -----------------------------------------------------------------------------


def resource(sub: Subscription) -> JSON:
    """The Subscription as the API returns it (``ttl`` is input only)."""
    authority = f"users/{user_id(sub.authority)}"
    out: JSON = {
        "name": f"subscriptions/{sub.id}",
        "uid": sub.uid,
        "targetResource": sub.target,
        "eventTypes": list(sub.event_types),
        "notificationEndpoint": {"pubsubTopic": sub.topic},
        "state": sub.state,
        "authority": authority,
        "userAuthority": authority,
        "createTime": rfc3339(sub.created),
        "updateTime": rfc3339(sub.updated),
        "expireTime": rfc3339(sub.expire_ts),
        "etag": hashlib.sha256(f"{sub.id}:{sub.etag_seq}".encode()).hexdigest()[:20],
    }
    if sub.payload_options is not None:
        out["payloadOptions"] = dict(sub.payload_options)
    if sub.suspension_reason:
        out["suspensionReason"] = sub.suspension_reason
    return out


def view(emu: Emulator, sub: Subscription) -> JSON:
    """The control API's view: the resource plus the authorizing user's email."""
    out = resource(sub)
    out["authority_email"] = sub.authority
    out["grant_id"] = sub.grant_id
    out["expired"] = sub.expire_ts <= emu.clock.now()
    return out


def _operation(emu: Emulator, kind: str, response: JSON | None) -> JSON:
    name = "operations/" + uuid.uuid4().hex
    body = (
        {"@type": _TYPE + "Subscription", **response}
        if response is not None
        else {"@type": "type.googleapis.com/google.protobuf.Empty"}
    )
    op: JSON = {
        "name": name,
        "metadata": {"@type": f"{_TYPE}{kind}SubscriptionMetadata"},
        "done": True,
        "response": body,
    }
    emu.operations[name] = op
    return op


def _touch(emu: Emulator, sub: Subscription) -> None:
    sub.updated = emu.clock.now()
    sub.etag_seq += 1


# -- events --------------------------------------------------------------------------------


def _live(emu: Emulator, sub: Subscription) -> bool:
    return sub.expire_ts > emu.clock.now()


def _covers(sub: Subscription, space: Space) -> bool:
    match = _SPACE_TARGET.match(sub.target)
    if match:
        return match.group(1) == space.id
    match = _USER_TARGET.match(sub.target)
    return bool(
        match
        and match.group(1) == user_id(space.owner)
        and sub.authority == space.owner
        and (sub.all_owned_spaces or space.created_by_app)
    )


def _send(
    emu: Emulator, sub: Subscription, event_type: str, source: str, subject: str, data: JSON
) -> None:
    attributes = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-source": source,
        "ce-type": event_type,
        "ce-subject": subject,
        "ce-time": rfc3339(emu.clock.now()),
        "content-type": "application/json",
    }
    emu.delivery.send(OutgoingEvent(f"subscriptions/{sub.id}", sub.topic, attributes, data, source))


def publish(emu: Emulator, space: Space, event_type: str, data: JSON) -> None:
    """Announce a Meet event to every active subscription covering ``space`` (lock held).

    ``data`` names the changed resource (``{"participantSession": {"name": ...}}``);
    ``ce-subject`` is that resource's full name, ``ce-source`` the space's."""
    resource_name = next(iter(data.values()))["name"]
    source = f"//meet.googleapis.com/spaces/{space.id}"
    subject = f"//meet.googleapis.com/{resource_name}"
    for sub in list(emu.subscriptions.values()):
        if (
            sub.state == "ACTIVE"
            and _live(emu, sub)
            and event_type in sub.event_types
            and _covers(sub, space)
        ):
            _send(emu, sub, event_type, source, subject, data)


def _lifecycle(emu: Emulator, sub: Subscription, event_type: str, state: str | None = None) -> None:
    body = resource(sub)
    if state:
        body["state"] = state
    name = f"{SERVICE}subscriptions/{sub.id}"
    _send(emu, sub, event_type, name, name, {"subscription": body})


@dataclass
class _Task:
    """A clock-driven lifecycle step of one generation of a subscription's expiry."""

    emu: Emulator
    sub_id: str
    generation: int
    expire: bool

    def __call__(self) -> None:
        with self.emu.lock:
            sub = self.emu.subscriptions.get(self.sub_id)
            if sub is None or sub.generation != self.generation:
                return
            if self.expire:
                del self.emu.subscriptions[self.sub_id]
                _lifecycle(self.emu, sub, EXPIRED, "DELETED")
            else:
                _lifecycle(self.emu, sub, REMINDER)


def _schedule(emu: Emulator, sub: Subscription) -> None:
    """(Re)plan the reminders and the expiry of ``sub`` on the emulator clock."""
    sub.generation += 1
    now = emu.clock.now()
    for offset in REMINDER_OFFSETS:
        due = sub.expire_ts - offset
        if due > now:
            emu.scheduler.call_at(due, _Task(emu, sub.id, sub.generation, expire=False))
    emu.scheduler.call_at(sub.expire_ts, _Task(emu, sub.id, sub.generation, expire=True))


def suspend(emu: Emulator, sub: Subscription, reason: str) -> bool:
    """Suspend an active subscription and announce it (lock held)."""
    if sub.state != "ACTIVE" or not _live(emu, sub):
        return False
    sub.state, sub.suspension_reason = "SUSPENDED", reason
    _touch(emu, sub)
    _lifecycle(emu, sub, SUSPENDED)
    return True


def authorization_revoked(emu: Emulator, email: str, grant_ids: set[str] | None) -> None:
    """The user's authorization ended (every grant when ``grant_ids`` is None): suspend
    what it authorized with ``USER_AUTHORIZATION_FAILURE``."""
    for sub in list(emu.subscriptions.values()):
        if sub.authority == email and (grant_ids is None or sub.grant_id in grant_ids):
            suspend(emu, sub, "USER_AUTHORIZATION_FAILURE")


def endpoint_failed(emu: Emulator, name: str, reason: str) -> None:
    """Pub/Sub refused the subscription's topic for good (called by the delivery thread)."""
    with emu.lock:
        sub = emu.subscriptions.get(name.removeprefix("subscriptions/"))
        if sub is not None:
            suspend(emu, sub, reason)


# -- quotas --------------------------------------------------------------------------------


def _quota(emu: Emulator, caller: str, kind: str) -> None:
    """Google's per-minute quotas: reads and writes, per project and per user."""
    project_key, user_key, label = _QUOTA_KEYS[kind]
    now = emu.clock.now()
    windows = [
        (f"{kind}:*", emu.config.get(project_key), f"{label} per minute"),
        (f"{kind}:{caller}", emu.config.get(user_key), f"{label} per minute per user"),
    ]
    for key, _, _ in windows:
        hits = emu.quota_hits.setdefault(key, deque())
        while hits and hits[0] <= now - 60:
            hits.popleft()
    for key, limit, name in windows:
        if limit is not None and len(emu.quota_hits[key]) >= int(limit):
            raise _err(
                429,
                f"Quota exceeded for quota metric '{label}' and limit '{name}' of service"
                " 'workspaceevents.googleapis.com'.",
                "RESOURCE_EXHAUSTED",
            )
    for key, _, _ in windows:
        emu.quota_hits[key].append(now)


# -- requests ------------------------------------------------------------------------------


def _snake(path: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), path.strip())


def _duration(value: Any) -> float:
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise _err(
            400,
            f"Invalid value at 'subscription.ttl' ({value!r}): a duration like"
            ' "86400s" is expected.',
        )
    return int(match.group(1)) + float("0." + (match.group(2) or "0"))


def _expiry(emu: Emulator, body: JSON) -> float:
    """``expireTime`` or ``ttl`` (0 or neither: the maximum) as an emulator timestamp."""
    now = emu.clock.now()
    maximum = float(emu.config["subscription_max_ttl_seconds"])
    if "ttl" in body and "expireTime" in body:
        raise _err(400, "Only one of ttl and expire_time may be set.")
    if body.get("expireTime"):
        parsed = parse_rfc3339(str(body["expireTime"]))
        if parsed is None:
            raise _err(400, f"Invalid value at 'subscription.expire_time' ({body['expireTime']}).")
        ttl = parsed.timestamp() - now
        if ttl <= 0:
            raise _err(400, "expire_time must be in the future.")
    else:
        ttl = _duration(body["ttl"]) if body.get("ttl") not in (None, "") else 0.0
    if ttl == 0:
        ttl = maximum
    if ttl > maximum:
        raise _err(
            400,
            f"The subscription's time to live may not exceed {int(maximum)}s"
            " for this target resource.",
        )
    return now + ttl


def _event_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise _err(400, "event_types must name at least one event type.")
    unknown = sorted(set(value) - MEET_EVENT_TYPES)
    if unknown:
        raise _err(400, f"Event types not supported for the target resource: {unknown}.")
    return list(dict.fromkeys(value))


def _check_target(emu: Emulator, caller: Caller, target: Any) -> bool:
    """Validate the target for ``caller``; answers whether it covers every owned space."""
    readonly = MEET_READONLY in caller.scopes
    if not readonly and MEET_CREATED not in caller.scopes:
        raise _err(403, "The caller does not have permission", "PERMISSION_DENIED")
    space_match = _SPACE_TARGET.match(target) if isinstance(target, str) else None
    user_match = _USER_TARGET.match(target) if isinstance(target, str) else None
    if space_match:
        space = emu.spaces.get(space_match.group(1))
        if space is None:
            raise _err(404, f"Target resource not found: {target}", "NOT_FOUND")
        if space.owner != caller.email or not (readonly or space.created_by_app):
            raise _err(403, "The caller does not have permission", "PERMISSION_DENIED")
        return readonly
    if user_match:
        if user_match.group(1) != user_id(caller.email):
            raise _err(403, "The caller does not have permission", "PERMISSION_DENIED")
        return readonly
    raise _err(
        400,
        f"Invalid target_resource: {target!r}. The emulator serves Meet targets"
        " //meet.googleapis.com/spaces/{space} and //cloudidentity.googleapis.com/"
        "users/{user}.",
    )


def _create(emu: Emulator, req: Request, caller: Caller, body: JSON) -> JSON:
    target = body.get("targetResource")
    all_owned = _check_target(emu, caller, target)
    types = _event_types(body.get("eventTypes"))
    topic = (body.get("notificationEndpoint") or {}).get("pubsubTopic")
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise _err(
            400, "notification_endpoint.pubsub_topic must be projects/{project}/topics/{topic}."
        )
    options = body.get("payloadOptions")
    if options is not None and not isinstance(options, dict):
        raise _err(400, "Invalid value for payload_options.")
    if options and options.get("includeResource"):
        raise _err(400, "payload_options.include_resource is not supported for Google Meet events.")
    expire = _expiry(emu, body)
    existing = next(
        (
            s
            for s in emu.subscriptions.values()
            if s.authority == caller.email and s.target == target and _live(emu, s)
        ),
        None,
    )
    if existing is not None:
        err = _err(
            409,
            "A subscription for this target resource already exists for this user and app.",
            "ALREADY_EXISTS",
        )
        err.body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SUBSCRIPTION_ALREADY_EXISTS",
                "domain": "workspaceevents.googleapis.com",
                "metadata": {"current_subscription": f"subscriptions/{existing.id}"},
            }
        ]
        raise err
    now = emu.clock.now()
    sub = Subscription(
        id=uuid.uuid4().hex[:24],
        uid=str(uuid.uuid4()),
        target=str(target),
        event_types=types,
        topic=topic,
        authority=caller.email,
        created=now,
        updated=now,
        expire_ts=expire,
        payload_options={k: v for k, v in options.items() if v} if options is not None else None,
        grant_id=caller.grant_id,
        all_owned_spaces=all_owned,
    )
    if req.q("validateOnly") == "true":
        return _operation(emu, "Create", resource(sub))
    emu.subscriptions[sub.id] = sub
    _schedule(emu, sub)
    return _operation(emu, "Create", resource(sub))


def _own(emu: Emulator, caller: Caller, sub_id: str, *, missing_ok: bool = False) -> Subscription:
    sub = emu.subscriptions.get(sub_id)
    if sub is None or not _live(emu, sub):
        if missing_ok:
            raise LookupError(sub_id)
        raise _err(404, f"Subscription not found: subscriptions/{sub_id}", "NOT_FOUND")
    if sub.authority != caller.email:
        raise _err(403, "The caller does not have permission", "PERMISSION_DENIED")
    return sub


def _check_etag(sub: Subscription, etag: Any) -> None:
    if etag and etag != resource(sub)["etag"]:
        raise _err(409, "The etag does not match the subscription's current etag.", "ABORTED")


def _patch(emu: Emulator, req: Request, caller: Caller, sub: Subscription, body: JSON) -> JSON:
    _check_etag(sub, body.get("etag"))
    mask = req.q("updateMask")
    if mask:
        paths = {_snake(p) for p in mask.split(",") if p.strip()}
        if "*" in paths:
            paths = set(_MUTABLE)
            body = {
                "eventTypes": body.get("eventTypes"),
                **{k: body[k] for k in ("ttl", "expireTime") if k in body},
            }
        bad = sorted(paths - _MUTABLE)
        if bad:
            raise _err(
                400,
                f"Invalid update_mask: {bad}; only ttl, expire_time and event_types"
                " can be updated.",
            )
    else:
        for key, current in (
            ("targetResource", sub.target),
            ("notificationEndpoint", {"pubsubTopic": sub.topic}),
        ):
            if key in body and body[key] != current:
                raise _err(400, f"{_snake(key)} is immutable.")
        paths = {
            p
            for p, k in (
                ("ttl", "ttl"),
                ("expire_time", "expireTime"),
                ("event_types", "eventTypes"),
            )
            if k in body
        }
    types = _event_types(body.get("eventTypes")) if "event_types" in paths else None
    expire = None
    if "ttl" in paths or "expire_time" in paths:
        wanted: JSON = {k: body[k] for k in ("ttl", "expireTime") if k in body}
        if "ttl" in paths and "expire_time" not in paths:
            wanted.pop("expireTime", None)
        if "expire_time" in paths and "ttl" not in paths:
            wanted.pop("ttl", None)
        expire = _expiry(emu, wanted)
    if req.q("validateOnly") == "true":
        preview = resource(sub)
        if types is not None:
            preview["eventTypes"] = types
        if expire is not None:
            preview["expireTime"] = rfc3339(expire)
        return _operation(emu, "Update", preview)
    if types is not None:
        sub.event_types = types
    if expire is not None:
        sub.expire_ts = expire
        _schedule(emu, sub)
    _touch(emu, sub)
    return _operation(emu, "Update", resource(sub))


def _reactivate(emu: Emulator, caller: Caller, sub: Subscription) -> JSON:
    if sub.state != "SUSPENDED":
        raise _err(400, "Only a suspended subscription can be reactivated.", "FAILED_PRECONDITION")
    user = emu.users.get(caller.email)
    if user is None or user.revoked:
        raise _err(400, "The user's authorization is still missing.", "FAILED_PRECONDITION")
    sub.state, sub.suspension_reason = "ACTIVE", None
    sub.grant_id = caller.grant_id
    _touch(emu, sub)
    return _operation(emu, "Reactivate", resource(sub))


def _list(emu: Emulator, req: Request, caller: Caller) -> JSON:
    text = req.q("filter")
    if not text:
        raise _err(400, "A filter with at least one event_types is required.")
    node = listquery.parse(text, {"event_types", "target_resource"})
    if "event_types" not in listquery.fields_in(node):
        raise _err(400, "The filter must name at least one event type (event_types).")
    size = listquery.page_size(req.q("pageSize"), 50, 100)
    mine = sorted(
        (s for s in emu.subscriptions.values() if s.authority == caller.email and _live(emu, s)),
        key=lambda s: (s.created, s.id),
    )

    def getter(sub: Subscription) -> Any:
        return lambda f: list(sub.event_types) if f == "event_types" else sub.target

    found = [s for s in mine if listquery.matches(node, getter(s))]
    chunk, token = listquery.page(found, req.q("pageToken"), size, f"subscriptions|{text}")
    out: JSON = {}
    if chunk:
        out["subscriptions"] = [resource(s) for s in chunk]
    if token:
        out["nextPageToken"] = token
    return out


def handle(emu: Emulator, req: Request, caller: Caller, rest: str) -> Response:
    """``/v1/{rest}`` of the Workspace Events API for an authenticated caller."""
    rest = unquote(rest)
    try:
        body = req.json() if req.method in ("POST", "PATCH") else {}
    except ValueError as exc:
        raise _err(400, "Invalid JSON payload received.") from exc
    if not isinstance(body, dict):
        raise _err(400, "Invalid JSON payload received.")
    writing = req.method in ("POST", "PATCH", "DELETE")
    with emu.lock:
        _quota(emu, caller.email, "writes" if writing else "reads")
        if rest.startswith("operations/") and req.method == "GET":
            op = emu.operations.get(rest)
            if op is None:
                raise _err(404, f"Operation not found: {rest}", "NOT_FOUND")
            return json_response(op)
        if rest == "subscriptions":
            if req.method == "POST":
                return json_response(_create(emu, req, caller, body))
            if req.method == "GET":
                return json_response(_list(emu, req, caller))
        match = re.fullmatch(r"subscriptions/([^/:]+)(:reactivate)?", rest)
        if match is None:
            raise _err(404, f"Method not found: {req.method} /v1/{rest}", "NOT_FOUND")
        sub_id, action = match.group(1), match.group(2)
        if action and req.method == "POST":
            return json_response(_reactivate(emu, caller, _own(emu, caller, sub_id)))
        if action:
            raise _err(404, f"Method not found: {req.method} /v1/{rest}", "NOT_FOUND")
        if req.method == "GET":
            return json_response(resource(_own(emu, caller, sub_id)))
        if req.method == "PATCH":
            return json_response(_patch(emu, req, caller, _own(emu, caller, sub_id), body))
        if req.method == "DELETE":
            try:
                sub = _own(emu, caller, sub_id, missing_ok=req.q("allowMissing") == "true")
            except LookupError:
                return json_response(_operation(emu, "Delete", None))
            _check_etag(sub, req.q("etag"))
            if req.q("validateOnly") != "true":
                del emu.subscriptions[sub.id]
            return json_response(_operation(emu, "Delete", None))
    raise _err(404, f"Method not found: {req.method} /v1/{rest}", "NOT_FOUND")
