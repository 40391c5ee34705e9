"""A few simulated hours of a tiny deployment: the product's services on the fakes, end to end."""

from __future__ import annotations

import json

import pytest

from tests.scale import report
from tests.scale.__main__ import _finite, _settings, plan
from tests.scale.scenario import Config, Scenario


@pytest.fixture(scope="module")
def small() -> tuple[Scenario, dict[str, object]]:
    scenario = Scenario(Config(calendars=40, simulated=40, days=0.45, seed=3))
    scenario.run()
    return scenario, report.figures(scenario)


def test_every_change_is_recorded_by_a_sync_and_nothing_fails(
    small: tuple[Scenario, dict[str, object]],
) -> None:
    scenario, fig = small
    obs = scenario.observed
    assert obs.latencies, "no change reached a record"
    assert obs.unrecorded_changes <= 2  # at most the last seconds' changes
    assert not obs.worker_errors and not obs.maintenance_errors and not obs.create_errors
    assert fig["quota_errors"] == 0 and fig["dead_lettered"] == 0
    assert scenario.sink.types["meeting.ready"] >= 1  # create_meeting ran
    # each meeting made gets its space stamped (one write-back) by the sync
    assert fig["writebacks_per_calendar_day"] == pytest.approx(
        scenario.workload.kinds["create"] / (40 * 0.45), rel=0.01
    )


def test_the_figures_carry_the_issues_keys_and_criteria(
    small: tuple[Scenario, dict[str, object]],
) -> None:
    _, fig = small
    for key in (
        "calendars",
        "budget_calls_per_min",
        "peak_calendar_calls_per_min",
        "peak_user_calls_per_min",
        "quota_errors",
        "change_to_record_p50_s",
        "change_to_record_p99_s",
        "longest_invocation_s",
        "longest_dispatcher_s",
        "channels_expired",
        "duplicate_channels",
        "max_doc_writes_per_s",
        "indexed_monotonic_writes_per_s",
        "backlog_drained_after_peak_s",
        "calendar_calls_per_day",
        "calendar_calls_per_calendar_day",
        "change_driven_calls_per_calendar_day",
        "sweep_age_hours",
        "dead_lettered",
        "dropped_too_old",
    ):
        assert isinstance(fig[key], int | float), key
    criteria = fig["criteria"]
    assert isinstance(criteria, dict) and "latency_p99_under_60s" in criteria
    json.dumps(_finite(fig), allow_nan=False)


def test_a_sampled_run_scales_quota_budget_and_slots() -> None:
    scenario = Scenario(Config(calendars=400, simulated=40, days=0.01))
    assert scenario.calendar.project.limit == pytest.approx(1_000)
    assert scenario.calendar.user_limit == 600
    assert scenario.changes_sub.slots == round(scenario.deployment.slots("sync-worker") / 10)
    share = scenario.buckets["sync-worker"].rate * 60 * 10
    assert share == pytest.approx(8_000 * scenario.deployment.budget_share("sync-worker"))


def test_the_plan_adds_the_sampling_check_and_settings_parse_as_the_product_does() -> None:
    configs = plan([1000, 10_000, 100_000], 10_000, days=1, seed=1)
    assert [(c.calendars, c.simulated) for c in configs] == [
        (1000, 1000),
        (10_000, 10_000),
        (100_000, 10_000),
        (10_000, 1000),
    ]
    assert _settings(["SWEEP_AGE_SECONDS=3600"]) == {"sweep_age_seconds": 3600}
