"""Synthetic shifts sent through ingest → processing → rollups → drift_run must be found; identical
sides must not be; small groups say "not enough data"; scheduling runs a project once per interval."""
from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest

from drift import services
from drift.models import DriftRun, DriftSettings, Finding, RunStatus
from drift.services import drift_run, drift_schedule
from rollups.signals import project_signals_fold
from tests.conftest import Api
from tests.drift.conftest import calls, run_end, send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_topics")]


def finding(run: DriftRun, signal: str, group: dict[str, str] | None = None, comparison: str = "24h") -> Finding:
    return Finding.objects.get(run=run, signal=signal, group=group or {}, comparison=comparison)


def test_latency_up_twenty_percent_for_one_model_is_found_for_that_model_only(full_api: Api, project: Any) -> None:
    events = (calls("b-a", 150, current=False, seed=1, model="model-a")
              + calls("c-a", 150, current=True, seed=2, model="model-a", latency=960)
              + calls("b-b", 150, current=False, seed=3, model="model-b")
              + calls("c-b", 150, current=True, seed=4, model="model-b"))
    send(full_api, project, events)
    run = drift_run(project=project, now=run_end())
    assert run.status == RunStatus.DONE and run.counts["findings"] > 0
    slower = finding(run, "latency", {"model": "model-a"})
    assert slower.verdict == "drift" and slower.method == "wasserstein"
    assert slower.current_value / slower.baseline_value == pytest.approx(1.2, rel=0.08)
    assert slower.low <= slower.statistic <= slower.high
    assert (slower.n_baseline, slower.n_current) == (150, 150)
    assert finding(run, "latency", {"model": "model-b"}).verdict == "no_drift"
    assert finding(run, "error_rate").verdict == "no_drift"
    # The ranking puts it first among the 24 h comparison's latency findings.
    top = run.findings.filter(comparison="24h", signal="latency").order_by("-score").first()
    assert top.group == {"model": "model-a"}
    ttft = run.findings.filter(signal="ttft")
    assert not ttft.exists()  # nothing streamed: no TTFT findings at all


def test_a_small_group_is_not_enough_data(full_api: Api, project: Any) -> None:
    events = (calls("b", 150, current=False, seed=1) + calls("c", 150, current=True, seed=2)
              + calls("b-rare", 5, current=False, seed=3, model="rare") + calls("c-rare", 40, current=True, seed=4,
                                                                                 model="rare", latency=3000))
    send(full_api, project, events)
    run = drift_run(project=project, now=run_end())
    rare = finding(run, "latency", {"model": "rare"})
    assert rare.verdict == "not_enough_data" and (rare.n_baseline, rare.n_current) == (5, 40)
    assert rare.details["min_samples"] == 100 and rare.severity == "none"


def test_a_model_swapped_in_the_mix_is_found_within_its_feature(full_api: Api, project: Any) -> None:
    events = (calls("b1", 180, current=False, seed=1, model="gpt-4o", feature="chat")
              + calls("b2", 20, current=False, seed=2, model="claude", feature="chat")
              + calls("c1", 20, current=True, seed=3, model="gpt-4o", feature="chat")
              + calls("c2", 180, current=True, seed=4, model="gemini", feature="chat"))
    send(full_api, project, events)
    run = drift_run(project=project, now=run_end())
    mix = finding(run, "model_mix", {"feature": "chat"})
    assert mix.verdict == "drift" and mix.method == "jensen_shannon" and mix.severity == "major"
    assert {m["category"] for m in mix.details["moved"][:2]} == {"gpt-4o", "gemini"}
    assert mix.details["psi_band"] == "major"


def test_a_client_score_mean_down_five_hundredths_is_found(full_api: Api, project: Any) -> None:
    base = calls("b", 300, current=False, seed=1)
    now = calls("c", 300, current=True, seed=2)
    scores = [{"type": "score", "call_id": e["id"], "name": "helpfulness", "value": round(0.8 + 0.05 * ((i % 5) - 2)
                                                                                          / 2, 3)}
              for i, e in enumerate(base)]
    scores += [{"type": "score", "call_id": e["id"], "name": "helpfulness", "value": round(0.75 + 0.05 * ((i % 5) - 2)
                                                                                           / 2, 3)}
               for i, e in enumerate(now)]
    send(full_api, project, base + now + scores)
    while project_signals_fold(project_id=project.id):
        pass
    run = drift_run(project=project, now=run_end())
    score = finding(run, "score:api:helpfulness")
    assert score.verdict == "drift"
    assert score.baseline_value - score.current_value == pytest.approx(0.05, abs=0.01)


def test_the_error_rate_one_to_four_percent_is_found(full_api: Api, project: Any) -> None:
    base = calls("b", 600, current=False, seed=1)
    now = calls("c", 600, current=True, seed=2)
    for i, event in enumerate(base):
        if i % 100 == 0:  # 1%
            event.update(status="error", error={"type": "Timeout", "message": "slow"})
    for i, event in enumerate(now):
        if i % 25 == 0:  # 4%
            event.update(status="error", error={"type": "Timeout" if i % 2 else "RateLimitError", "message": "x"})
    send(full_api, project, base + now)
    run = drift_run(project=project, now=run_end())
    rate = finding(run, "error_rate")
    assert rate.verdict == "drift" and rate.method == "two_proportion_z"
    assert (rate.baseline_value, rate.current_value) == (pytest.approx(0.01), pytest.approx(0.04))
    assert rate.details["p_value"] < 0.01


def test_identical_sides_raise_no_drift(full_api: Api, project: Any) -> None:
    send(full_api, project, calls("b", 200, current=False, seed=5) + calls("c", 200, current=True, seed=6))
    run = drift_run(project=project, now=run_end())
    assert run.counts["drift"] == 0
    assert finding(run, "latency").verdict == "no_drift"


def test_both_default_comparisons_are_stored_with_their_windows(full_api: Api, project: Any) -> None:
    send(full_api, project, calls("c", 10, current=True, seed=1))
    end = run_end()
    run = drift_run(project=project, now=end)
    assert [w["name"] for w in run.windows] == ["24h", "7d"]
    day = run.windows[0]
    assert day["current_end"] == end.isoformat() and day["baseline_start"] == (end - timedelta(days=8)).isoformat()
    week = run.windows[1]
    assert week["baseline_start"] == (end - timedelta(days=35)).isoformat()
    assert finding(run, "latency", comparison="7d").verdict == "not_enough_data"


def test_pinned_and_week_ago_baselines(project: Any) -> None:
    end = run_end()
    row = DriftSettings.objects.create(project=project, comparisons=[
        {"name": "wow", "current_hours": 24, "baseline": "week_ago"},
        {"name": "pin", "current_hours": 24, "baseline": "pinned"}],
        pinned_start=end - timedelta(days=30), pinned_end=end - timedelta(days=29))
    windows = services.comparisons_for(row, end)
    assert windows[0].baseline == (end - timedelta(days=8), end - timedelta(days=7))
    assert windows[1].baseline == (row.pinned_start, row.pinned_end)


def test_schedule_runs_each_project_once_per_interval(project: Any, other_project: Any,
                                                      django_capture_on_commit_callbacks: Any) -> None:
    with mock.patch("drift.tasks.run_drift.delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            first = drift_schedule()
        with django_capture_on_commit_callbacks(execute=True):
            second = drift_schedule()  # a second tick (or a second beat) in the same interval
    assert len(first) == 2 and second == []
    assert delay.call_count == 2
    run_id = first[0]
    assert services.drift_run_execute(run_id=run_id) is not None
    assert services.drift_run_execute(run_id=run_id) is None  # claimed once
    assert DriftRun.objects.get(pk=run_id).status == RunStatus.DONE


def test_a_failing_run_is_recorded_with_its_error(project: Any) -> None:
    with mock.patch.object(services, "comparison_findings", side_effect=RuntimeError("boom")), \
            pytest.raises(RuntimeError):
        drift_run(project=project, now=run_end())
    run = DriftRun.objects.get(project=project)
    assert run.status == RunStatus.FAILED and "boom" in run.error


def test_settings_validate_their_comparisons(project: Any) -> None:
    from django.core.exceptions import ValidationError

    DriftSettings(project=project).clean()  # the defaults
    with pytest.raises(ValidationError):
        DriftSettings(project=project, comparisons=[{"name": "x", "current_hours": 0}]).clean()
    with pytest.raises(ValidationError):
        DriftSettings(project=project, comparisons=[{"name": "p", "current_hours": 24, "baseline": "pinned"}]).clean()


def test_the_refusal_flag_rate_one_to_four_percent_is_found(full_api: Api, project: Any) -> None:
    from quality.models import QualitySettings
    from quality.registry import EVALUATORS
    from quality.services import project_evaluate

    # Only the refusal evaluator: the others (a toxicity model, language identification) cost time here.
    QualitySettings.objects.create(project=project, evaluators={
        name: {"enabled": name == "refusal"} for name in EVALUATORS})
    refusal = "I'm sorry, but I can't help with that request."
    base = calls("b", 600, current=False, seed=1)
    now = calls("c", 600, current=True, seed=2)
    for i, event in enumerate(base):
        event["output"] = refusal if i % 100 == 0 else "Here is how to do it: open Settings, then Billing."
    for i, event in enumerate(now):
        event["output"] = refusal if i % 25 == 0 else "Here is how to do it: open Settings, then Billing."
    send(full_api, project, base + now)
    while project_evaluate(project_id=project.id):
        pass
    run = drift_run(project=project, now=run_end())
    rate = finding(run, "flag:refusal")
    assert rate.verdict == "drift" and rate.method == "two_proportion_z"
    assert (rate.baseline_value, rate.current_value) == (pytest.approx(0.01), pytest.approx(0.04))
    assert (rate.n_baseline, rate.n_current) == (600, 600)


def test_findings_are_an_alerts_metric_source(full_api: Api, project: Any) -> None:
    registry = pytest.importorskip("alerts.registry")
    from types import SimpleNamespace

    from django.utils import timezone

    source = registry.METRIC_SOURCES["drift"]
    send(full_api, project, calls("b-a", 150, current=False, seed=1, model="model-a")
         + calls("c-a", 150, current=True, seed=2, model="model-a", latency=960))
    run = drift_run(project=project, now=run_end())
    rule = SimpleNamespace(project_id=project.id, measure="latency", score="", flag="", filters={},
                           group_by=["model"])
    source.validate(rule)
    window = registry.Window(start=run.finished_at - timedelta(minutes=5), end=timezone.now() + timedelta(seconds=1))
    reading = source.read(rule, window)
    value = reading.groups[("model-a",)]
    assert value.value == pytest.approx(finding(run, "latency", {"model": "model-a"}).statistic)
    assert value.count == 150
    with pytest.raises(registry.RuleInvalid):
        source.validate(SimpleNamespace(**{**rule.__dict__, "measure": "nonsense"}))
