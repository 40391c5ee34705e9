"""No token, refresh token, channel token or secret setting is ever written to a log.

The session-wide scan (tests/conftest.py) covers everything the test run did; the test
here asserts the same property at a known point, right after exercising every path that
handles credentials, and the scanner itself is shown to find what it looks for.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from devstack.driver import Env, wait_for
from tests.security.leaks import (
    Leak,
    SecretLeak,
    assert_no_leaks,
    find_leaks,
    log_files,
    matcher,
    session_secrets,
)

ALICE = "alice@example.com"
ACCESS = "ya29.emu-" + "A1b2C3d4" * 5
REFRESH = "1//emu-" + "r3fr3sh_" * 4
CHANNEL = "Zc9-" + "q" * 39
JWT = "eyJhbGciOiAiSFMyNTYifQ." + "cGF5bG9hZA" * 30 + ".c2lnbmF0dXJl" + "Xy0" * 10


def test_the_scanner_reports_file_and_kind_but_never_the_secret(tmp_path: Path) -> None:
    (tmp_path / "create_meeting.log").write_text(
        '{"severity":"INFO","message":"calling Google","auth":"Bearer ' + ACCESS + '"}\n'
    )
    (tmp_path / "workspace.log").write_text(
        f"POST /token refresh_token={quote(REFRESH, safe='')}\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "clean.log").write_text('{"token":"[redacted]","channel":"c-1"}\n')
    (tmp_path / "sub" / "sync_worker.log").write_text(f"assertion={JWT} {JWT}\n")
    secrets = {
        "access_tokens": [ACCESS],
        "refresh_tokens": [REFRESH],
        "channel_tokens": [CHANNEL],
        "signed_jwts": [JWT],
    }

    leaks = find_leaks(log_files(tmp_path), secrets)
    assert leaks == [
        Leak(tmp_path / "create_meeting.log", "access_tokens", 1),
        Leak(tmp_path / "sub" / "sync_worker.log", "signed_jwts", 2),
        Leak(tmp_path / "workspace.log", "refresh_tokens", 1),  # found percent-encoded
    ]
    with pytest.raises(SecretLeak) as raised:
        assert_no_leaks(tmp_path, secrets)
    message = str(raised.value)
    assert "create_meeting.log: 1 x access_tokens" in message
    assert "workspace.log: 1 x refresh_tokens" in message
    assert ACCESS not in message and REFRESH not in message and "r3fr3sh" not in message

    (tmp_path / "create_meeting.log").write_text('{"auth":"[redacted]"}\n')
    (tmp_path / "workspace.log").write_text("POST /token 200\n")
    (tmp_path / "sub" / "sync_worker.log").write_text(f"header {JWT.split('.')[0]}\n")
    assert_no_leaks(tmp_path, secrets)  # clean logs pass


def test_the_matcher_finds_every_secret_among_many_sharing_prefixes() -> None:
    """Thousands of issued tokens share prefixes (`ya29.emu-`, a JWT header): the trie
    alternation must match each one whole, a secret that is a prefix of others too, and
    nothing else."""
    tokens = [f"ya29.emu-{n:04d}{uuid.uuid4().hex}" for n in range(2000)]
    pattern = matcher([*tokens, "ya29.emu-", "x" * 9])
    sample = tokens[::97]
    assert [m.group() for m in pattern.finditer(" | ".join(sample))] == sample
    near_miss = "ya29.emu-0000" + "g" * 32  # no token has it: only the short secret matches
    assert [m.group() for m in pattern.finditer(near_miss)] == ["ya29.emu-"]
    assert pattern.search("ya29.emu") is None
    assert matcher([]).search("anything") is None


def _logged(path: Path, text: str) -> bool:
    return text in path.read_text(errors="replace")


@pytest.mark.e2e
def test_logs_hold_no_secret_after_watch_create_sync_and_token_refresh(env: Env) -> None:
    # tokens for 10 minutes (google-auth refuses ones expiring within ~4 minutes)
    env.emu("POST", "config", {"conference_delay_ms": 0, "access_token_ttl_seconds": 600})
    channel_id = env.watch(ALICE)["channelId"]
    first = env.create_meeting(ALICE, "Secret-free")["id"]
    env.calendar_as(ALICE).events().patch(
        calendarId="primary", eventId=first, body={"summary": "Renamed"}
    ).execute()
    env.wait_meeting(first, lambda m: m.summary == "Renamed", "the rename synced")
    # past the access tokens' lifetime (emulator time): the functions must get new ones
    env.emu("POST", "clock", {"advance_seconds": 601})
    env.emu("DELETE", "requests")
    second = env.create_meeting(ALICE, "After the refresh")
    assert second["status"] == "ready"
    grants = [r for r in env.emu("GET", "requests") if r["api"] == "oauth"]
    assert grants and all(r["status"] == 200 and r["user"] == ALICE for r in grants), grants

    secrets = session_secrets(env.stack)
    for kind in ("access_tokens", "refresh_tokens", "channel_tokens", "signed_jwts"):
        assert secrets[kind], kind
    token = next(c["token"] for c in env.emu("GET", "channels") if c["id"] == channel_id)
    assert token in secrets["channel_tokens"]
    logs = {p.name: p for p in log_files(env.stack.log_dir)}
    for name, evidence in (
        ("watch_calendar.log", "channel opened"),
        ("create_meeting.log", "meeting answered"),
        ("sync_worker.log", first),
    ):
        wait_for(functools.partial(_logged, logs[name], evidence), what=f"{evidence} in {name}")
    assert_no_leaks(env.stack.log_dir, secrets)
