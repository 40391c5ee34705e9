"""The HTTP server: routing by API, auth, faults, rate limits and the request log.

Start it in-process with :func:`start` (tests, the local stack) or from the command
line with ``python -m emulator``.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from emulator import (
    calendar,
    control,
    directory,
    enums,
    meet,
    oauth,
    records,
    signin,
    subscriptions,
)
from emulator.errors import ApiError, calendar_error, error_for_api, meet_error
from emulator.state import Caller, Emulator
from emulator.wire import JSON, Request, Response, json_response

log = logging.getLogger(__name__)

_SIGN_JWT = re.compile(r"^/v1/projects/-/serviceAccounts/([^/:]+):signJwt$")
_REASONS = {200: "OK", 204: "No Content", 304: "Not Modified"}
_SECRET_PARAMS = frozenset({"token", "code", "access_token", "refresh_token"})
"""Query parameters that carry credentials (``/revoke?token=``): redacted in the log."""


def classify(path: str) -> str | None:
    """Which emulated API a path belongs to."""
    if path.startswith("/calendar/v3/"):
        return "calendar"
    if path.startswith("/v2/"):
        return "meet"
    if path == "/v1/subscriptions" or path.startswith(("/v1/subscriptions/", "/v1/operations/")):
        return "events"
    if path.startswith(directory.PREFIX):
        return "directory"
    if path == "/token" or path in signin.PATHS:
        return "oauth"
    if _SIGN_JWT.match(path):
        return "iam"
    return None


def _apply_faults(emu: Emulator, req: Request, api: str) -> None:
    hit = None
    with emu.lock:
        for fault in emu.faults:
            if fault.api and fault.api != api:
                continue
            if fault.method and fault.method != req.method:
                continue
            if fault.path and not re.search(fault.path, req.path):
                continue
            if fault.query and fault.query not in req.query:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    emu.faults.remove(fault)
            hit = fault
            break
    if hit is None:
        return
    if hit.delay_ms:
        time.sleep(hit.delay_ms / 1000)  # outside the lock: only this request is slow
    if hit.status:
        raise error_for_api(api, hit.status, hit.reason, hit.message)


def _rate_limit(emu: Emulator, user: str, api: str) -> None:
    with emu.lock:
        limit = emu.rate_limits.get(user)
        if limit is None:
            return
        now = emu.clock.now()
        while limit.hits and limit.hits[0] <= now - 60:
            limit.hits.popleft()
        if len(limit.hits) >= limit.per_minute:
            if api in ("meet", "events"):
                raise meet_error(429)
            if limit.status == 429:
                raise calendar_error(429, "rateLimitExceeded", "Rate Limit Exceeded")
            raise calendar_error(403, "userRateLimitExceeded", "Rate Limit Exceeded")
        limit.hits.append(now)


def _internal_error(api: str | None) -> ApiError:
    return error_for_api(api or "calendar", 500, None, "Internal error in the emulator")


def _google_api(emu: Emulator, req: Request, caller: Caller, api: str) -> Response:
    """An authenticated call to Calendar, Meet, Workspace Events or the Directory."""
    if api == "calendar":
        return calendar.handle(emu, req, caller.email, req.path[len("/calendar/v3/") :])
    if api == "events":
        return subscriptions.handle(emu, req, caller, req.path[len("/v1/") :])
    if api == "directory":
        return directory.handle(emu, req, caller.email, req.path[len(directory.PREFIX) :])
    rest = req.path[len("/v2/") :]
    if records.is_records_path(rest):
        resp = records.handle(emu, req, caller, rest)
    else:
        resp = meet.handle(emu, req, caller.email, rest)
    if enums.wants_int(req) and resp.status == 200 and resp.body:
        body = enums.names_to_numbers(json.loads(resp.body), enums.MEET)
        resp = json_response(body, resp.status)
    return resp


def dispatch(emu: Emulator, req: Request) -> Response:
    """Answer one request; everything except the control API is logged."""
    if req.path == "/_emulator" or req.path.startswith("/_emulator/"):
        return control.handle(emu, req)
    api = classify(req.path)
    user: str | None = None
    try:
        if api is None:
            raise calendar_error(404)
        _apply_faults(emu, req, api)
        if api == "oauth" and req.path in signin.PATHS:
            resp, user = signin.handle(emu, req)
        elif api == "oauth":
            resp, user = oauth.token_endpoint(emu, req)
        elif api == "iam":
            match = _SIGN_JWT.match(req.path)
            assert match is not None
            resp = oauth.sign_jwt(emu, req, match.group(1))
        else:
            caller = oauth.authenticate_caller(emu, req, api)
            user = caller.email
            _rate_limit(emu, user, api)
            resp = _google_api(emu, req, caller, api)
    except ApiError as exc:
        resp = json_response(exc.body, exc.status)
        resp.headers.update(exc.headers)
    except Exception:  # the emulator's own bug: answer like a backend error, keep serving
        log.exception("unhandled error for %s %s", req.method, req.path)
        exc2 = _internal_error(api)
        resp = json_response(exc2.body, exc2.status)
    entry: JSON = {
        "method": req.method,
        "path": req.path,
        "query": {
            k: "<redacted>" if k in _SECRET_PARAMS else v[-1] if len(v) == 1 else v
            for k, v in req.query.items()
        },
        "user": user,
        "api": api,
        "status": resp.status,
        "time": emu.clock.now(),
    }
    with emu.lock:
        emu.requests.append(entry)
    return resp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        resp = dispatch(self.server.emulator, req)
        reason = _REASONS.get(resp.status) or self.responses.get(resp.status, ("",))[0]
        lines = [f"HTTP/1.1 {resp.status} {reason}"]
        headers = {"Content-Length": str(len(resp.body)), **resp.headers}
        if resp.status in (204, 304):
            headers["Content-Length"] = "0"
        lines += [f"{k}: {v}" for k, v in headers.items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if resp.status not in (204, 304):
            payload += resp.body
        self.wfile.write(payload)
        if self.headers.get("Connection", "").lower() == "close":
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator


@dataclass
class RunningEmulator:
    """A started emulator: its base URL, its state (for in-process inspection), stop()."""

    url: str
    host: str
    port: int
    emulator: Emulator
    _server: _Server
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.emulator.stop()


def start(host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Serve the emulator on a background thread; ``port=0`` picks a free port."""
    emu = Emulator()
    server = _Server((host, port), emu)
    emu.start()
    thread = threading.Thread(target=server.serve_forever, name="emulator-http", daemon=True)
    thread.start()
    bound_port = server.server_address[1]
    return RunningEmulator(f"http://{host}:{bound_port}", host, bound_port, emu, server, thread)
