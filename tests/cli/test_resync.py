"""`meetsync calendars resync --full`: the sync token is dropped, the product's own sync runs
in the CLI's process with a progress display on a terminal, and what changed is reported."""

from __future__ import annotations

from devstack.driver import Env
from tests.cli.support import Cli

ALICE = "alice@example.com"


def _missed_rename(env: Env, summary: str) -> str:
    """A meeting of a watched calendar renamed in Calendar while Google's notifications
    are lost (from the start: no sync of the worker's competes with the CLI's)."""
    env.emu("POST", "push", {"drop_rate": 1.0})
    env.emu("POST", "config", {"conference_delay_ms": 0})
    env.watch(ALICE)
    mid = str(env.create_meeting(ALICE, "Before")["id"])
    assert env.meeting(mid).status == "ready"
    env.calendar_as(ALICE).events().patch(
        calendarId="primary", eventId=mid, body={"summary": summary}
    ).execute()
    return mid


def test_full_resync_reports_what_changed_as_json(env: Env, cli: Cli) -> None:
    mid = _missed_rename(env, "Renamed while unheard")
    version = env.calendar_state(ALICE).token_version

    result = cli.json("calendars", "resync", "--full", ALICE)

    assert result["outcome"] == "synced" and result["full"] is True
    assert result["full_syncs"] == 1 and result["pages"] >= 1 and result["events"] >= 1
    assert result["meetings_changed"] == 1 and len(result["announced"]) == 1
    assert result["changed"] == [{"id": mid, "was": "ready", "now": "ready"}]
    assert env.meeting(mid).summary == "Renamed while unheard"
    state = env.calendar_state(ALICE)
    assert state.token_version == version + 1 and state.sync_token  # a fresh token stored
    again = cli.json("calendars", "resync", ALICE)  # incremental: nothing new
    assert again["full_syncs"] == 0 and again["changed"] == [] and again["meetings_changed"] == 0


def test_resync_shows_progress_on_a_terminal_and_a_table(env: Env, cli: Cli) -> None:
    mid = _missed_rename(env, "Renamed again")

    run = cli("calendars", "resync", "--full", f"{ALICE}:primary", terminal=True)

    assert run.code == 0, run.out
    assert "full sync: pages" in run.out and "events listed" in run.out  # the progress display
    assert "\x1b[" in run.out  # drawn with terminal control sequences
    assert f"resync {ALICE}:{ALICE}" in run.out and mid in run.out  # the report, as tables
    piped = cli("calendars", "resync", "--full", ALICE)
    assert "full sync: pages" not in piped.out and "\x1b[" not in piped.out  # none when piped


def test_resync_of_a_calendar_not_watched_is_a_usage_error(cli: Cli) -> None:
    assert cli("calendars", "resync", "--full", ALICE).code == 2
