"""Test helpers: a control-API client, real googleapiclient services, a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from tests.emulator.discovery_schema import validate_response

SCOPES = [
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/meetings.space.created",
]
MEET_READONLY = "https://www.googleapis.com/auth/meetings.space.readonly"
DIRECTORY_READONLY = "https://www.googleapis.com/auth/admin.directory.user.readonly"
ALL_SCOPES = [*SCOPES, MEET_READONLY, DIRECTORY_READONLY]
"""What a product reading conference records and naming attendees asks for."""


def run(request: Any, num_retries: int = 0) -> Any:
    """Execute a googleapiclient request and validate the body against discovery."""
    body = request.execute(num_retries=num_retries)
    validate_response(request.methodId, body)
    return body


def make_credentials(**kwargs: Any) -> Credentials:
    """google.oauth2 Credentials (the constructor is untyped upstream)."""
    return Credentials(**kwargs)  # type: ignore[no-untyped-call]


def error_body(exc: Any) -> dict[str, Any]:
    """The JSON body of a googleapiclient HttpError."""
    data: dict[str, Any] = json.loads(exc.content)
    return data


def wait_for(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (answered), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Harness:
    """One test's handle on the emulator: control calls and authenticated clients."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, f"{self.url}/_emulator{path}", json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def add_user(self, email: str) -> str:
        token: str = self.control("POST", "/users", {"email": email})["refresh_token"]
        return token

    def credentials(self, email: str, scopes: list[str] | None = None) -> Credentials:
        return make_credentials(
            token=None,
            refresh_token=self.add_user(email),
            token_uri=f"{self.url}/token",
            client_id="test-client",
            client_secret="test-secret",
            scopes=scopes or SCOPES,
        )

    def user_id(self, email: str) -> str:
        """The emulator user's Directory id (Meet's ``users/{id}``, the ID tokens' ``sub``)."""
        users: list[dict[str, Any]] = self.control("GET", "/users")
        return str(next(u["id"] for u in users if u["email"] == email))

    def events(self, email: str, credentials: Credentials | None = None) -> Any:
        """Workspace Events v1 through googleapiclient, as ``email`` (every scope)."""
        return build(
            "workspaceevents",
            "v1",
            static_discovery=True,
            credentials=credentials or self.credentials(email, ALL_SCOPES),
            client_options={"api_endpoint": f"{self.url}/"},
            cache_discovery=False,
        )

    def directory(self, email: str) -> Any:
        """Admin SDK Directory v1 through googleapiclient, as ``email``."""
        return build(
            "admin",
            "directory_v1",
            static_discovery=True,
            credentials=self.credentials(email, ALL_SCOPES),
            client_options={"api_endpoint": f"{self.url}/"},
            cache_discovery=False,
        )

    def space_call(self, space: str, action: str, body: Any = None) -> dict[str, Any]:
        """``POST /_emulator/spaces/{id}/{join|leave|end|artifacts}``."""
        space_id = space.removeprefix("spaces/")
        out: dict[str, Any] = self.control("POST", f"/spaces/{space_id}/{action}", body or {})
        return out

    def event_deliveries(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.control("GET", "/event_deliveries")
        return out

    def calendar(self, email: str, credentials: Credentials | None = None) -> Any:
        return build(
            "calendar",
            "v3",
            static_discovery=True,
            credentials=credentials or self.credentials(email),
            client_options={"api_endpoint": f"{self.url}/calendar/v3/"},
            cache_discovery=False,
        )

    def meet(self, email: str, credentials: Credentials | None = None) -> Any:
        return build(
            "meet",
            "v2",
            static_discovery=True,
            credentials=credentials or self.credentials(email),
            client_options={"api_endpoint": f"{self.url}/"},
            cache_discovery=False,
        )

    def advance(self, seconds: float) -> None:
        self.control("POST", "/clock", {"advance_seconds": seconds})

    def configure(self, **settings: Any) -> None:
        self.control("POST", "/config", settings)

    def requests_log(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.control("GET", "/requests")
        return log

    def deliveries(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.control("GET", "/deliveries")
        return out


class Receiver:
    """A tiny threaded HTTP server that records push notifications."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answers to give, in order; 200 when empty
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer._lock:
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    outer.received.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def messages(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                m
                for m in self.received
                if channel_id is None or m["headers"].get("X-Goog-Channel-ID") == channel_id
            ]

    def wait(self, count: int, channel_id: str | None = None) -> list[dict[str, Any]]:
        msgs: list[dict[str, Any]] = wait_for(
            lambda: (msgs := self.messages(channel_id)) and len(msgs) >= count and msgs,
            what=f"{count} notifications",
        )
        return msgs

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
