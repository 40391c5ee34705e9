"""Requests per second for events.insert and 2,500-event list pages.

Runs the emulator in a child process (so client and server do not share a GIL) and
drives it with raw keep-alive HTTP and with the real google-api-python-client:

    python -m devstack.bench [--inserts 2000] [--events 10000] [--url http://host:port]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

EVENT = {
    "summary": "bench",
    "start": {"dateTime": "2030-01-01T10:00:00Z"},
    "end": {"dateTime": "2030-01-01T11:00:00Z"},
}


class Raw:
    """One keep-alive connection speaking JSON."""

    def __init__(self, url: str, token: str | None = None) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30
        )
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.0f}/s  ({count} in {seconds:.2f}s)"


def run(url: str, inserts: int, events: int) -> None:
    control = Raw(url)
    control.call("POST", "/_emulator/reset")
    _, body = control.call("POST", "/_emulator/users", {"email": "bench@example.com"})
    refresh = json.loads(body)["refresh_token"]
    _, body = control.call("POST", "/_emulator/users/bench@example.com/token", {})
    api = Raw(url, json.loads(body)["access_token"])
    events_path = "/calendar/v3/calendars/primary/events"

    start = time.perf_counter()
    for _ in range(inserts):
        status, _ = api.call("POST", events_path, EVENT)
        assert status == 200, status
    print("events.insert     raw http        ", _rate(inserts, time.perf_counter() - start))

    for _ in range(max(0, events - inserts)):
        api.call("POST", events_path, EVENT)
    pages = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 3:
        page_token = ""
        while True:
            status, raw = api.call("GET", f"{events_path}?maxResults=2500{page_token}")
            assert status == 200, status
            pages += 1
            data = json.loads(raw)
            if "nextPageToken" not in data:
                break
            page_token = "&pageToken=" + data["nextPageToken"]
    elapsed = time.perf_counter() - start
    print(
        "events.list 2500  raw http        ",
        _rate(pages, elapsed),
        f"= {pages * 2500 / elapsed:.0f} events/s",
    )

    creds = Credentials(  # type: ignore[no-untyped-call]
        None,
        refresh_token=refresh,
        token_uri=f"{url}/token",
        client_id="bench",
        client_secret="bench",
    )
    service = build(
        "calendar",
        "v3",
        static_discovery=True,
        credentials=creds,
        client_options={"api_endpoint": f"{url}/calendar/v3/"},
    )
    count = max(1, inserts // 4)
    start = time.perf_counter()
    for _ in range(count):
        service.events().insert(calendarId="primary", body=EVENT).execute()
    print("events.insert     googleapiclient ", _rate(count, time.perf_counter() - start))
    start = time.perf_counter()
    for _ in range(10):
        service.events().list(calendarId="primary", maxResults=2500).execute()
    print("events.list 2500  googleapiclient ", _rate(10, time.perf_counter() - start))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench")
    parser.add_argument("--inserts", type=int, default=2000)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--url", help="use a running emulator instead of starting one")
    args = parser.parse_args(argv)
    if args.url:
        run(args.url.rstrip("/"), args.inserts, args.events)
        return 0
    child = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        run(url, args.inserts, args.events)
    finally:
        child.terminate()
        child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
