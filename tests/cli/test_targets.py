"""How `meetsync` finds its target and reads its arguments (no stack needed)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from meetsync_cli.app import main
from meetsync_cli.context import calendar_name, duration
from meetsync_cli.target import CliError, Target


def test_a_deployment_is_addressed_as_terraform_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "another-project")
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", "k")
    monkeypatch.setenv("UNRELATED", "x")
    target = Target.for_project("acme-prod", "europe-west1", prefix="ms", scheduler_region="eu")
    assert target.functions["users"] == "https://europe-west1-acme-prod.cloudfunctions.net/ms-users"
    assert target.functions["watch_calendar"].endswith("/ms-watch-calendar")
    assert target.scheduler_jobs == {
        "renew": "projects/acme-prod/locations/eu/jobs/ms-renew",
        "sweep": "projects/acme-prod/locations/eu/jobs/ms-sweep",
    }
    assert target.settings_env["GOOGLE_CLOUD_PROJECT"] == "acme-prod"
    assert target.settings_env["TOKEN_ENCRYPTION_KEY"] == "k"  # as the functions have it
    assert "UNRELATED" not in target.settings_env
    assert (
        target.settings.delegation_service_account
        == "ms-delegation@acme-prod.iam.gserviceaccount.com"
    )
    assert not target.local and target.emulators == {}


def test_a_stack_description_is_read_and_a_broken_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(
        json.dumps(
            {
                "project": "p",
                "functions": {"users": "http://127.0.0.1:1"},
                "firestore_emulator_host": "127.0.0.1:2",
                "pubsub_emulator_host": "127.0.0.1:3",
            }
        )
    )
    target = Target.from_stack(path)
    assert target.local and target.settings_env == {"GOOGLE_CLOUD_PROJECT": "p"}
    assert target.emulators["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:3"
    path.write_text("{}")
    with pytest.raises(CliError) as refused:
        Target.from_stack(path)
    assert refused.value.code == 2


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nothing.json")
    assert main(["--stack", missing, "status"]) == 2
    assert "run `make dev`" in capsys.readouterr().err
    assert main(["--project", "p", "status"]) == 2  # no --region
    assert main(["status", "--stale-after", "soon"]) == 2
    assert main(["calendars", "show", "not-an-email"]) == 2
    assert main([]) == 2
    assert main(["--help"]) == 0


def test_arguments() -> None:
    assert duration("24h") == duration("1d") == dt.timedelta(hours=24)
    assert duration("90s") == dt.timedelta(seconds=90) and duration("6") == dt.timedelta(hours=6)
    assert calendar_name("Alice@Example.com") == ("alice@example.com", "primary")
    assert calendar_name("a@x.com:team@group.calendar.google.com") == (
        "a@x.com",
        "team@group.calendar.google.com",
    )
