"""events.watch and channels.stop: push channels bound to a calendar and their creator."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from emulator.errors import calendar_error
from emulator.state import CalendarData, Channel, Emulator
from emulator.wire import Request, Response, empty_response, json_response

JSON = dict[str, Any]

DEFAULT_TTL = 604_800


def _body(req: Request) -> JSON:
    try:
        body = req.json()
    except ValueError as exc:
        raise calendar_error(400, "parseError", "Parse Error") from exc
    if not isinstance(body, dict):
        raise calendar_error(400, "parseError", "Parse Error")
    return body


def _required(name: str) -> Exception:
    return calendar_error(400, "required", "Required", location_type="parameter", location=name)


def watch(emu: Emulator, cal: CalendarData, req: Request, user: str, calendar_id: str) -> Response:
    body = _body(req)
    channel_id = body.get("id")
    if not channel_id:
        raise _required("id")
    if not isinstance(channel_id, str) or len(channel_id) > 64:
        raise calendar_error(
            400, "invalid", "Invalid channel id.", location_type="parameter", location="id"
        )
    kind = body.get("type")
    if not kind:
        raise _required("type")
    if kind not in ("web_hook", "webhook"):
        raise calendar_error(
            400,
            "invalid",
            f"Unknown channel type: {kind}",
            location_type="parameter",
            location="type",
        )
    address = body.get("address")
    if not address:
        raise _required("address")
    parts = urlsplit(str(address))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise calendar_error(400, "invalid", f"Invalid notification address: {address}")
    token = body.get("token")
    if token is not None and len(str(token)) > 256:
        raise calendar_error(
            400, "invalid", "Channel token too long.", location_type="parameter", location="token"
        )
    if channel_id in emu.channels:
        raise calendar_error(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
    params = body.get("params") or {}
    try:
        ttl = int(params.get("ttl", DEFAULT_TTL))
    except (TypeError, ValueError) as exc:
        raise calendar_error(
            400, "invalid", "Invalid ttl value.", location_type="parameter", location="params.ttl"
        ) from exc
    ttl = max(1, min(ttl, int(emu.config["channel_max_ttl_seconds"])))
    now_ms = int(emu.clock.now() * 1000)
    expiration = now_ms + ttl * 1000
    if body.get("expiration"):
        try:
            expiration = max(now_ms + 1000, min(expiration, int(body["expiration"])))
        except (TypeError, ValueError) as exc:
            raise calendar_error(400, "invalid", "Invalid expiration.") from exc
    resource_uri = (
        "https://www.googleapis.com/calendar/v3/calendars/"
        f"{quote(calendar_id, safe='@')}/events?alt=json"
    )
    channel = Channel(
        id=channel_id,
        resource_id=cal.resource_id,
        resource_uri=resource_uri,
        token=None if token is None else str(token),
        address=str(address),
        expiration_ms=expiration,
        user=user,
        calendar_uid=cal.uid,
    )
    emu.channels[channel_id] = channel
    if channel.token:
        emu.issued.channel_tokens.add(channel.token)
    emu.push.send(
        channel_id=channel.id,
        number=channel.number,
        state="sync",
        address=channel.address,
        resource_id=channel.resource_id,
        resource_uri=resource_uri,
        token=channel.token,
        expiration_ms=expiration,
    )
    out: JSON = {
        "kind": "api#channel",
        "id": channel_id,
        "resourceId": cal.resource_id,
        "resourceUri": resource_uri,
        "expiration": str(expiration),
    }
    if channel.token is not None:
        out["token"] = channel.token
    return json_response(out)


def stop(emu: Emulator, req: Request, user: str) -> Response:
    """Only the creating user may stop a channel; anyone else gets 404 as if unknown."""
    body = _body(req)
    channel_id = body.get("id")
    if not channel_id:
        raise _required("id")
    channel = emu.channels.get(str(channel_id))
    if (
        channel is None
        or channel.stopped
        or channel.user != user
        or (body.get("resourceId") and body["resourceId"] != channel.resource_id)
    ):
        raise calendar_error(
            404, "notFound", f"Channel '{channel_id}' not found for project 'emulator'"
        )
    channel.stopped = True
    return empty_response(204)
