"""`meetsync --project P --region R`: the deployment path, pointed at the session's emulators
as Google's client libraries allow (FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST): the
records read through the libraries, renew triggered on `maintenance` as the scheduler does,
and every function call carrying the identity token."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from rich.console import Console

from devstack.driver import Env
from meetsync_cli.app import main
from meetsync_cli.target import Target

ALICE = "alice@example.com"


def _cloud(env: Env, *argv: str) -> tuple[int, Any]:
    out = io.StringIO()
    project = env.stack.project
    args = ["--project", project, "--region", "europe-west1", "--json", *argv]
    code = main(args, console=Console(file=out, width=160))
    return code, json.loads(out.getvalue())


@pytest.fixture
def emulated_google(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", env.stack.firestore_host)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", env.stack.pubsub_host)
    return env


def test_a_deployment_target_reads_the_records_and_runs_renew_like_the_scheduler(
    emulated_google: Env,
) -> None:
    env = emulated_google
    env.watch(ALICE)
    code, status = _cloud(env, "status")
    assert code == 0, status
    assert status["target"] == env.stack.project and status["calendars"]["watching"] == 1
    assert status["channels"]["by_state"]["active"] == 1

    code, run = _cloud(env, "renew", "--timeout", "60")
    assert code == 0, run
    assert run["kind"] == "renew" and run["done"] is True and run["outcome"] == "ok"
    code, again = _cloud(env, "status")
    assert again["last_renew"]["id"] == run["id"]  # the report the maintenance jobs stored


class _Capture(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        _Capture.seen.append(self.headers.get("Authorization", ""))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def function_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_deployment_target_calls_the_functions_with_the_identity_token(
    function_url: str,
) -> None:
    target = Target.for_project("acme-prod", "europe-west1")
    target.id_token = "id-token-for-test"
    _Capture.seen.clear()
    status, body = target.call("users", "GET", "/users/x", url=function_url)
    assert (status, body) == (200, {"ok": True})
    assert _Capture.seen == ["Bearer id-token-for-test"]
