"""`make dev`: the stack starts, describes itself in stack.json, and SIGTERM stops it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import requests

from devstack.stack import ROOT
from tests.e2e.support import wait_for

FUNCTIONS = {
    "calendar_webhook",
    "sync_worker",
    "create_meeting",
    "watch_calendar",
    "renew_channels",
    "maintenance",
    "import_events",
    "users",
    "connect",
    "meet_events",
}


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_dev_serves_then_stops_every_process_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "stack.json"
    dev = subprocess.Popen(
        ["make", "--no-print-directory", "dev", f"DEV_ARGS=--out {out} --log-dir {tmp_path}/logs"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(out.exists, timeout=180, what="stack.json")
        desc = json.loads(out.read_text())
        assert desc["project"]
        assert desc["firestore_emulator_host"].startswith("127.0.0.1:")
        assert desc["pubsub_emulator_host"].startswith("127.0.0.1:")
        assert set(desc["functions"]) == FUNCTIONS
        assert [u["email"] for u in desc["users"]] == ["alice@example.com", "bob@example.com"]
        assert all(u["refresh_token"] for u in desc["users"])
        health = requests.get(f"{desc['workspace_emulator']}/_emulator/health", timeout=5)
        assert health.status_code == 200
        webhook = requests.post(desc["functions"]["calendar_webhook"], timeout=5)
        assert webhook.status_code == 400  # a real function answering (no notification headers)
        children = list(desc["processes"].values())
        assert len(children) == 3 + len(FUNCTIONS)
        assert all(_group_alive(pid) for pid in children)
    finally:
        os.killpg(dev.pid, signal.SIGTERM)  # what Ctrl-C or a supervisor does to the foreground job
        output = dev.communicate(timeout=120)[0].decode(errors="replace")
    assert "local stack stopped" in output, output
    assert not [pid for pid in children if _group_alive(pid)]
