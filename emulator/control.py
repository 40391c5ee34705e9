"""The ``/_emulator/`` control API: users, clock, config, faults, push knobs, inspection.

Tests and the local stack drive the emulator through these JSON endpoints; none of
them are Google APIs and none are written to the request log.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from emulator import meet, meeting, oauth, records, scopes, subscriptions
from emulator.errors import ApiError
from emulator.state import (
    DEFAULT_CONFIG,
    CalendarData,
    Emulator,
    Fault,
    Grant,
    OAuthClient,
    RateLimit,
    Space,
    User,
)
from emulator.wire import Request, Response, json_response

JSON = dict[str, Any]


def _err(status: int, message: str) -> ApiError:
    return ApiError(status, {"error": message})


def _body(req: Request) -> JSON:
    try:
        body = req.json()
    except ValueError as exc:
        raise _err(400, "body must be JSON") from exc
    if not isinstance(body, dict):
        raise _err(400, "body must be a JSON object")
    return body


def _user(emu: Emulator, email: str) -> User:
    user = emu.users.get(email)
    if user is None:
        raise _err(404, f"no user {email}")
    return user


def _calendar(emu: Emulator, calendar_id: str) -> CalendarData:
    return _user(emu, calendar_id).calendar


def create_user(emu: Emulator, email: str, admin: bool | None = None) -> JSON:
    """Create (or re-issue a refresh token for) a user with a primary calendar."""
    with emu.lock:
        if email not in emu.users:
            cal = CalendarData(id=email, owner=email)
            emu.users[email] = User(email=email, calendar=cal, created=emu.clock.now())
            emu.calendars_by_uid[cal.uid] = cal
        user = emu.users[email]
        user.revoked = False  # a new authorization
        if admin is not None:
            user.admin = admin
        return {
            "email": email,
            "refresh_token": oauth.new_refresh_token(emu, email),
            "id": oauth.user_sub(email),
            "admin": user.admin,
        }


def _space_view(emu: Emulator, space_key: str) -> JSON:
    try:
        space = meet.lookup(emu, space_key, allow_code=True)
    except ApiError as exc:
        raise _err(404, f"no space {space_key}") from exc
    out = meet.space_resource(space, None)
    out["owner"] = space.owner
    out["created_by_app"] = space.created_by_app
    out["conferences"] = [
        {
            "name": f"conferenceRecords/{c.id}",
            "start_time": c.start_ts,
            "end_time": c.end_ts,
            "ended": c.end_ts is not None,
            "ended_by": c.ended_by,
            "participants": [
                {
                    **records.participant_resource(c, p),
                    "email": p.email,
                    "in_call": p.in_call,
                    "sessions": [records.session_resource(c, p, x) for x in p.sessions],
                }
                for p in c.participants.values()
            ],
            "artifacts": [{**records.artifact_resource(c, a), "kind": a.kind} for a in c.artifacts],
        }
        for c in space.conferences
    ]
    return out


def _who(body: JSON) -> meeting.Who | None:
    """The participant a join/leave body names; None for a body-less (legacy) call."""
    given = [(k, body[k]) for k in ("email", "anonymous", "phone") if body.get(k) is not None]
    if not given:
        return None
    if len(given) > 1:
        raise _err(400, "name exactly one of email, anonymous, phone")
    key, value = given[0]
    if not isinstance(value, str) or not value.strip():
        raise _err(400, f"{key} must be a non-empty string")
    if key == "email" and "@" not in value:
        raise _err(400, "email must be an email address")
    kind = {"email": "signedin", "anonymous": "anonymous", "phone": "phone"}[key]
    return meeting.Who(kind, value.strip())


def _activity(emu: Emulator, req: Request, space_key: str, action: str) -> Response:
    """``POST /_emulator/spaces/{id}/join|leave|end|artifacts``."""
    try:
        space = meet.lookup(emu, space_key, allow_code=True)
    except ApiError as exc:
        raise _err(404, f"no space {space_key}") from exc
    body = _body(req)
    extra: JSON = {}
    try:
        if action == "join":
            who = _who(body)
            if who is None:
                meeting.start_conference(emu, space)
            else:
                _, _, session = meeting.join(emu, space, who)
                extra["participant_session"] = session
        elif action == "leave":
            who = _who(body)
            if who is None:
                meeting.end(emu, space, "last participant left")
            else:
                extra["participant_session"] = meeting.leave(emu, space, who)
        elif action == "end":
            if not meeting.end(emu, space, "ended for everyone"):
                raise _err(409, f"no conference runs in space {space.id}")
        else:
            return _artifact(emu, space, body)
    except meeting.MeetingError as exc:
        raise _err(409, str(exc)) from exc
    return json_response({**_space_view(emu, space.id), **extra})


def _artifact(emu: Emulator, space: Space, body: JSON) -> Response:
    kind = body.get("kind")
    if kind not in meeting.KINDS:
        raise _err(400, f"kind must be one of {', '.join(meeting.KINDS)}")
    record = None
    if body.get("conference"):
        record_id = str(body["conference"]).removeprefix("conferenceRecords/")
        record = next((c for c in space.conferences if c.id == record_id), None)
        if record is None:
            raise _err(404, f"no conference {body['conference']} in space {space.id}")
    entries = None
    if body.get("entries") is not None:
        if kind != "transcript" or not isinstance(body["entries"], list):
            raise _err(400, "entries: a list, for a transcript only")
        entries = []
        for item in body["entries"]:
            who = _who(item) if isinstance(item, dict) else None
            if who is None or not isinstance(item.get("text"), str):
                raise _err(400, 'each entry needs a participant (email|anonymous|phone) and "text"')
            entries.append((who, str(item["text"])))
    try:
        record, artifact = meeting.generate(emu, space, str(kind), record, entries)
    except meeting.MeetingError as exc:
        raise _err(409, str(exc)) from exc
    return json_response({**records.artifact_resource(record, artifact), "kind": artifact.kind})


def _fault(spec: JSON) -> Fault:
    if not isinstance(spec.get("status"), int):
        raise _err(400, "fault needs an integer status (0 with delay_ms for latency only)")
    if not isinstance(spec.get("delay_ms", 0), int) or spec.get("delay_ms", 0) < 0:
        raise _err(400, "delay_ms must be a non-negative integer")
    if spec.get("path"):
        try:
            re.compile(str(spec["path"]))
        except re.error as exc:
            raise _err(400, f"bad path regex: {exc}") from exc
    count = spec.get("count", 1)
    return Fault(
        status=int(spec["status"]),
        reason=spec.get("reason"),
        message=spec.get("message"),
        count=None if count is None else int(count),
        method=(spec.get("method") or None) and str(spec["method"]).upper(),
        path=spec.get("path"),
        api=spec.get("api"),
        query=spec.get("query") or None,
        delay_ms=int(spec.get("delay_ms", 0)),
    )


def _fault_view(f: Fault) -> JSON:
    return {
        "status": f.status,
        "reason": f.reason,
        "message": f.message,
        "count": f.count,
        "method": f.method,
        "path": f.path,
        "api": f.api,
        "query": f.query,
        "delay_ms": f.delay_ms,
    }


def handle(emu: Emulator, req: Request) -> Response:
    path = req.path[len("/_emulator") :].rstrip("/") or "/"
    parts = [unquote(p) for p in path.strip("/").split("/")]
    method = req.method
    head = parts[0]
    try:
        return _route(emu, req, method, head, parts)
    except ApiError as exc:
        return json_response(exc.body, exc.status)


def _route(emu: Emulator, req: Request, method: str, head: str, parts: list[str]) -> Response:
    if head == "health":
        return json_response({"status": "ok"})
    if head == "reset" and method == "POST":
        emu.reset()
        return json_response({"reset": True})
    if head == "users":
        if len(parts) == 1 and method == "POST":
            body = _body(req)
            email = body.get("email")
            if not email or "@" not in str(email):
                raise _err(400, "email required")
            admin = body.get("admin")
            if admin is not None and not isinstance(admin, bool):
                raise _err(400, "admin must be true or false")
            return json_response(create_user(emu, str(email), admin))
        if len(parts) == 1 and method == "GET":
            with emu.lock:
                return json_response(
                    [
                        {
                            "email": u.email,
                            "id": oauth.user_sub(u.email),
                            "admin": u.admin,
                            "client_ids": sorted(u.client_ids),
                            "event_count": len(u.calendar.events),
                        }
                        for u in emu.users.values()
                    ]
                )
        with emu.lock:
            user = _user(emu, parts[1])
            if len(parts) == 2 and method == "DELETE":
                oauth.revoke_user(emu, user.email, access_tokens=False, reason="user deleted")
                del emu.users[user.email]
                emu.calendars_by_uid.pop(user.calendar.uid, None)
                for ch in emu.channels.values():
                    if ch.calendar_uid == user.calendar.uid:
                        ch.stopped = True
                return json_response({"deleted": user.email})
            if len(parts) == 3 and parts[2] == "revoke" and method == "POST":
                oauth.revoke_user(emu, user.email)
                user.revoked = True
                return json_response({"revoked": user.email})
            if len(parts) == 3 and parts[2] == "token" and method == "POST":
                scope = _body(req).get("scope") or oauth.DEFAULT_SCOPE
                return json_response(oauth.issue_access_token(emu, user.email, str(scope)))
    if head == "calendars" and len(parts) >= 2:
        with emu.lock:
            cal = _calendar(emu, parts[1])
            action = parts[2] if len(parts) > 2 else None
            if action is None and method == "GET":
                return json_response(
                    {
                        "id": cal.id,
                        "owner": cal.owner,
                        "resource_id": cal.resource_id,
                        "event_count": len(cal.events),
                        "changes": len(cal.history_seqs),
                        "sync_epoch": cal.epoch,
                    }
                )
            if action == "invalidate_sync_tokens" and method == "POST":
                cal.epoch += 1
                return json_response({"sync_epoch": cal.epoch})
            if action == "notify" and method == "POST":
                emu.notify_channels(cal)
                return json_response({"notified": True})
            if action == "events" and method == "GET":
                return json_response([ev.data for ev in cal.events.values()])
    if head == "channels" and method == "GET":
        with emu.lock:
            now_ms = emu.clock.now() * 1000
            return json_response(
                [
                    {
                        "id": c.id,
                        "resource_id": c.resource_id,
                        "token": c.token,
                        "address": c.address,
                        "user": c.user,
                        "expiration": c.expiration_ms,
                        "stopped": c.stopped,
                        "expired": c.expiration_ms <= now_ms,
                        "last_message_number": c.number,
                    }
                    for c in emu.channels.values()
                ]
            )
    if head == "push":
        if method == "POST":
            return json_response(emu.push.configure(_body(req)))
        return json_response(emu.push.settings())
    if head == "deliveries":
        if method == "DELETE":
            emu.push.deliveries.clear()
            return json_response({"cleared": True})
        return json_response(list(emu.push.deliveries))
    if head == "faults":
        with emu.lock:
            if method == "DELETE":
                emu.faults.clear()
            elif method == "POST":
                body = _body(req)
                specs = body.get("faults") if "faults" in body else [body]
                emu.faults.extend(_fault(s) for s in specs or [])
            return json_response([_fault_view(f) for f in emu.faults])
    if head == "rate_limits":
        with emu.lock:
            if method == "DELETE":
                emu.rate_limits.clear()
            elif method == "POST":
                body = _body(req)
                status = int(body.get("status", 403))
                if status not in (403, 429) or not body.get("user"):
                    raise _err(400, "need user and status 403 or 429")
                emu.rate_limits[str(body["user"])] = RateLimit(int(body["per_minute"]), status)
            return json_response(
                {
                    u: {"per_minute": r.per_minute, "status": r.status}
                    for u, r in emu.rate_limits.items()
                }
            )
    if head == "clock":
        if method == "POST":
            body = _body(req)
            emu.clock.advance(float(body.get("advance_seconds", 0)))
        return json_response({"now": emu.clock.now(), "offset_seconds": emu.clock.offset})
    if head == "config":
        with emu.lock:
            if method == "POST":
                body = _body(req)
                unknown = set(body) - set(DEFAULT_CONFIG)
                if unknown:
                    raise _err(400, f"unknown config keys: {sorted(unknown)}")
                if body.get("conference_outcome", "success") not in ("success", "failure"):
                    raise _err(400, "conference_outcome must be success or failure")
                emu.config.update(body)
            return json_response(emu.config)
    if head == "secrets" and method == "GET":
        with emu.lock:
            return json_response(emu.issued.view())
    if head == "requests":
        with emu.lock:
            if method == "DELETE":
                emu.requests.clear()
                return json_response({"cleared": True})
            return json_response(list(emu.requests))
    if head == "spaces":
        with emu.lock:
            if len(parts) == 1:
                return json_response([_space_view(emu, s) for s in emu.spaces])
            if len(parts) == 2 and method == "GET":
                return json_response(_space_view(emu, parts[1]))
            if (
                len(parts) == 3
                and method == "POST"
                and parts[2]
                in (
                    "join",
                    "leave",
                    "end",
                    "artifacts",
                )
            ):
                return _activity(emu, req, parts[1], parts[2])
    if head == "events_delivery":
        if method == "POST":
            try:
                return json_response(emu.delivery.configure(_body(req)))
            except (TypeError, ValueError) as exc:
                raise _err(400, f"bad events_delivery setting: {exc}") from exc
        return json_response(emu.delivery.settings())
    if head == "event_deliveries":
        if method == "DELETE":
            emu.delivery.clear_records()
            return json_response({"cleared": True})
        return json_response(emu.delivery.records_view())
    if head == "subscriptions":
        with emu.lock:
            if len(parts) == 1 and method == "GET":
                return json_response(
                    [subscriptions.view(emu, s) for s in emu.subscriptions.values()]
                )
            sub = emu.subscriptions.get(parts[1].removeprefix("subscriptions/"))
            if sub is None:
                raise _err(404, f"no subscription {parts[1]}")
            if len(parts) == 2 and method == "GET":
                return json_response(subscriptions.view(emu, sub))
            if len(parts) == 3 and parts[2] == "suspend" and method == "POST":
                reason = str(_body(req).get("reason") or "USER_AUTHORIZATION_FAILURE")
                if reason not in subscriptions.SUSPENSION_REASONS:
                    raise _err(400, f"reason must be one of {subscriptions.SUSPENSION_REASONS}")
                if not subscriptions.suspend(emu, sub, reason):
                    raise _err(409, f"subscription {sub.id} is not active")
                return json_response(subscriptions.view(emu, sub))
    if head == "oauth" and len(parts) >= 2:
        return _oauth(emu, req, method, parts[1:])
    raise _err(404, f"unknown control endpoint {method} {req.path}")


# -- sign-in: clients, consent knob, grants, keys ------------------------------------------


def _client_view(c: OAuthClient) -> JSON:
    """A registered client; the secret is never echoed, only whether there is one."""
    return {
        "client_id": c.client_id,
        "has_secret": c.client_secret is not None,
        "redirect_uris": list(c.redirect_uris),
        "allow_loopback": c.allow_loopback,
        "name": c.name,
    }


def _register_client(emu: Emulator, body: JSON) -> OAuthClient:
    client_id = body.get("client_id")
    uris = body.get("redirect_uris", [])
    secret = body.get("client_secret")
    if not isinstance(client_id, str) or not client_id:
        raise _err(400, "client_id required")
    if not isinstance(uris, list) or not all(isinstance(u, str) and u for u in uris):
        raise _err(400, "redirect_uris must be a list of URIs")
    if secret is not None and not isinstance(secret, str):
        raise _err(400, "client_secret must be a string or null (a public client)")
    client = OAuthClient(
        client_id=client_id,
        client_secret=secret,
        redirect_uris=list(uris),
        allow_loopback=bool(body.get("allow_loopback", False)),
        name=str(body.get("name") or "meetsync (emulated)"),
    )
    emu.oauth_clients[client_id] = client
    return client


def _grant_view(emu: Emulator, g: Grant) -> JSON:
    """A grant without its tokens: who, which client, which scopes, whether revoked."""
    now = emu.clock.now()
    live = sum(1 for a in emu.access_tokens.values() if a.grant_id == g.id and a.expires > now)
    return {
        "id": g.id,
        "email": g.email,
        "sub": oauth.user_sub(g.email),
        "source": g.source,
        "client_id": g.client_id,
        "scopes": g.scopes,
        "created": g.created,
        "has_refresh_token": g.refresh_token is not None,
        "live_access_tokens": live,
        "revoked": g.revoked,
        "revoked_at": g.revoked_at,
        "revoked_by": g.revoked_by,
    }


def _oauth(emu: Emulator, req: Request, method: str, parts: list[str]) -> Response:
    what = parts[0]
    with emu.lock:
        if what == "clients":
            if len(parts) == 1 and method == "POST":
                return json_response(_client_view(_register_client(emu, _body(req))))
            if len(parts) == 1 and method == "GET":
                return json_response([_client_view(c) for c in emu.oauth_clients.values()])
            if len(parts) == 2 and method == "DELETE":
                if emu.oauth_clients.pop(parts[1], None) is None:
                    raise _err(404, f"no client {parts[1]}")
                return json_response({"deleted": parts[1]})
        if what == "consent" and len(parts) == 1:
            if method == "POST":
                wanted = _body(req).get("grant_scopes")
                if wanted is not None and (
                    not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted)
                ):
                    raise _err(400, "grant_scopes must be a list of scopes or null")
                emu.next_consent_scopes = (
                    None if wanted is None else [scopes.normalise(s) for s in wanted]
                )
            return json_response({"grant_scopes": emu.next_consent_scopes})
        if what == "grants":
            if len(parts) == 1 and method == "GET":
                email = req.q("email")
                return json_response(
                    [
                        _grant_view(emu, g)
                        for g in emu.grants.values()
                        if email is None or g.email == email
                    ]
                )
            if len(parts) == 3 and parts[2] == "revoke" and method == "POST":
                grant = emu.grants.get(parts[1])
                if grant is None:
                    raise _err(404, f"no grant {parts[1]}")
                oauth.revoke_grant(emu, grant, "user revoked")
                return json_response(_grant_view(emu, grant))
        if what == "keys":
            if len(parts) == 2 and parts[1] == "rotate" and method == "POST":
                emu.id_token_keys.rotate()
            if len(parts) == 1 or (parts[1:] == ["rotate"] and method == "POST"):
                keys = emu.id_token_keys.keys
                return json_response({"current": keys[0].kid, "kids": [k.kid for k in keys]})
    raise _err(404, f"unknown control endpoint {method} {req.path}")
