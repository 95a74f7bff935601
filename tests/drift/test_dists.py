"""Drift on the per-call distributions and mixes of rollups/dists.py, through ingest → processing →
rollups → drift_run: output length doubled after a prompt version change; truncation up."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from drift.models import DriftRun, DriftSettings, Finding
from drift.services import drift_run
from tests.conftest import Api
from tests.drift.conftest import calls, run_end, send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_topics")]


def finding(run: DriftRun, signal: str, group: dict[str, str] | None = None, comparison: str = "24h") -> Finding:
    return Finding.objects.get(run=run, signal=signal, group=group or {}, comparison=comparison)


def answers(prefix: str, n: int, *, current: bool, seed: int, chars: float, **fields: Any) -> list[dict[str, Any]]:
    """Calls whose answers are lognormal around `chars` characters, tokens a quarter of that."""
    rng = np.random.default_rng(seed + 1000)
    lengths = np.maximum(rng.lognormal(np.log(chars), 0.35, n).astype(int), 1)
    events = calls(prefix, n, current=current, seed=seed, **fields)
    for event, length in zip(events, lengths.tolist(), strict=True):
        event["output"] = [{"role": "assistant", "content": "w" * length}]
        event["usage"] = {"input_tokens": 100, "output_tokens": max(length // 4, 1)}
    return events


def test_output_length_doubled_after_a_prompt_version_change_is_found(full_api: Api, project: Any) -> None:
    events = (answers("b", 200, current=False, seed=1, chars=400, prompt={"name": "answer", "version": "3"})
              + answers("c", 200, current=True, seed=2, chars=800, prompt={"name": "answer", "version": "4"}))
    send(full_api, project, events)
    run = drift_run(project=project, now=run_end())
    longer = finding(run, "output_chars")
    assert longer.verdict == "drift" and longer.severity == "major"
    assert longer.current_value / longer.baseline_value == pytest.approx(2.0, rel=0.1)
    assert longer.low <= longer.statistic <= longer.high
    assert finding(run, "output_tokens").verdict == "drift"
    # The new version has no baseline of its own: not enough data there, never "no drift".
    assert finding(run, "output_chars", {"prompt_name": "answer", "prompt_version": "4"}).verdict == "not_enough_data"
    assert finding(run, "input_chars").verdict == "no_drift"  # "question i": the same on both sides
    # It ranks among the first findings of its comparison (with the tokens, and cost where priced).
    top = [f.signal for f in run.findings.filter(comparison="24h").order_by("-score")[:8]]
    assert "output_chars" in top


def test_truncation_up_is_found_as_a_rate_and_in_the_finish_reason_mix(full_api: Api, project: Any) -> None:
    rng = np.random.default_rng(7)

    def reasons(n: int, share: float) -> list[str]:
        return ["length" if x < share else "stop" for x in rng.random(n)]

    base = calls("b", 400, current=False, seed=1)
    now = calls("c", 400, current=True, seed=2)
    for events, share in ((base, 0.02), (now, 0.10)):
        for event, reason in zip(events, reasons(len(events), share), strict=True):
            event["metadata"] = {"finish_reasons": [reason]}
    send(full_api, project, base + now)
    run = drift_run(project=project, now=run_end())
    truncation = finding(run, "truncation_rate")
    assert truncation.verdict == "drift" and truncation.method == "two_proportion_z"
    assert truncation.baseline_value < 0.04 and truncation.current_value > 0.07
    mix = finding(run, "finish_reason_mix")
    assert mix.method == "jensen_shannon" and mix.details["moved"][0]["category"] in ("length", "stop")
    assert finding(run, "output_chars").verdict == "no_drift"


def test_a_pinned_prompt_version_is_the_baseline_of_that_prompts_calls(full_api: Api, project: Any) -> None:
    events = (answers("b", 200, current=False, seed=1, chars=400, prompt={"name": "answer", "version": "3"})
              + answers("c", 200, current=True, seed=2, chars=800, prompt={"name": "answer", "version": "4"})
              # Another prompt's calls, on both sides: outside the comparison.
              + answers("ob", 150, current=False, seed=3, chars=5000, prompt={"name": "other", "version": "1"})
              + answers("oc", 150, current=True, seed=4, chars=50, prompt={"name": "other", "version": "1"}))
    send(full_api, project, events)
    DriftSettings.objects.create(project=project, comparisons=[
        {"name": "vs v3", "current_hours": 24, "baseline": "prompt_version", "prompt_name": "answer",
         "prompt_version": "3"}])
    run = drift_run(project=project, now=run_end())
    assert run.windows[0]["baseline_filters"] == {"prompt_name": ["answer"], "prompt_version": ["3"]}
    longer = finding(run, "output_chars", {"prompt_name": "answer"}, comparison="vs v3")
    assert longer.verdict == "drift" and (longer.n_baseline, longer.n_current) == (200, 200)
    assert longer.current_value / longer.baseline_value == pytest.approx(2.0, rel=0.1)
    assert not run.findings.exclude(group={"prompt_name": "answer"}).exists()  # one group: the prompt's calls


def test_the_language_mix_of_inputs_moving_to_french_is_found(full_api: Api, project: Any) -> None:
    from quality.models import QualitySettings
    from quality.registry import EVALUATORS
    from quality.services import project_evaluate

    QualitySettings.objects.create(project=project, evaluators={
        name: {"enabled": name == "language_match"} for name in EVALUATORS})
    english = ("How do I change the billing address on my account?", "Open Settings, then Billing, and edit the "
               "address there; the next invoice uses it.")
    french = ("Comment puis-je changer l'adresse de facturation de mon compte ?", "Ouvrez les paramètres, puis "
              "Facturation, et modifiez l'adresse : la prochaine facture l'utilisera.")
    base = calls("b", 150, current=False, seed=1)
    now = calls("c", 150, current=True, seed=2)
    for events, share in ((base, 0.0), (now, 0.5)):
        for i, event in enumerate(events):
            event["input"], event["output"] = french if i < share * len(events) else english
    send(full_api, project, base + now)
    while project_evaluate(project_id=project.id):
        pass
    run = drift_run(project=project, now=run_end())
    mix = finding(run, "language_mix")
    assert mix.verdict == "drift" and (mix.n_baseline, mix.n_current) == (150, 150)
    assert {m["category"] for m in mix.details["moved"]} == {"fr", "en"}
