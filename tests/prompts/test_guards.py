"""Guards end to end: calls through ingest, the worker's fold and the evaluators; a version whose
flag (or error) rate's lower bound crosses the limit rolls its label back in one evaluation run,
once, and stays tripped until re-armed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from prompts import selectors
from prompts.guards import guard_create, guard_rearm, guards_evaluate, wilson_lower
from prompts.models import Label
from prompts.services import PromptError, label_move
from quality.services import project_evaluate
from telemetry.services import project_process
from tests.conftest import Api, call_event
from tests.prompts.conftest import MEMBER, OWNER

pytestmark = pytest.mark.django_db


def test_the_wilson_bound_is_below_the_rate_and_tightens_with_n() -> None:
    assert wilson_lower(0, 100) == 0.0
    assert 0.05 < wilson_lower(10, 100) < 0.1
    assert wilson_lower(10, 100) < wilson_lower(100, 1000) < 0.1
    from scipy.stats import binomtest

    # The one-sided 95% lower bound is the two-sided 90% interval's.
    interval = binomtest(10, 100).proportion_ci(confidence_level=0.90, method="wilson")
    assert wilson_lower(10, 100) == pytest.approx(interval.low)


def _send(api: Api, project: Any, version: int, count: int, *, bad_every: int, start: int = 0) -> None:
    now = datetime.now(timezone.utc)
    events = []
    for i in range(start, start + count):
        bad = i % bad_every == 0
        output = "Write to jane.doe@example.com for a refund." if bad else "Here is your answer."
        events.append(call_event(i, trace_id=f"t{i}", timestamp=(now - timedelta(seconds=30 + i % 50)).isoformat(),
                                 output=output, prompt={"name": "greeting", "version": str(version)}))
    assert api.ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass
    while project_evaluate(project_id=project.id):
        pass


def test_a_flag_rate_guard_rolls_production_back_once(project: Any, greeting: Any, full_api: Api,
                                                     prices: None) -> None:
    label_move(prompt=greeting, label="production", version=greeting.versions.get(version=2), actor=OWNER)
    Label.objects.filter(prompt=greeting).update(updated_at=datetime.now(timezone.utc) - timedelta(minutes=30))
    guard = guard_create(prompt=greeting, label="production", metric="flag_rate", flag="pii.email", threshold=0.05,
                         min_sample=50, actor=OWNER)
    _send(full_api, project, 2, 60, bad_every=20)  # 5%: the bound stays under the limit
    assert guards_evaluate() == 0
    guard.refresh_from_db()
    assert guard.state == "armed" and guard.last_value["n"] == 60 and guard.last_value["version"] == 2
    _send(full_api, project, 2, 60, bad_every=2, start=60)  # now 35 of 120 leak an address
    assert guards_evaluate() == 1
    assert selectors.resolve(project=project, name="greeting").version.version == 1
    event = greeting.events.order_by("-id").first()
    assert (event.kind, event.actor_label, event.from_version, event.to_version) == (
        "rollback", "system:guard", 2, 1)
    assert event.details["n"] == 120 and event.details["bound"] > 0.05 and "pii.email" in event.reason
    assert guards_evaluate() == 0  # tripped: it never flaps
    guard.refresh_from_db()
    assert guard.state == "tripped"
    with pytest.raises(PromptError):
        guard_rearm(guard=guard, actor=MEMBER)  # production is protected
    assert guard_rearm(guard=guard, actor=OWNER).state == "armed"
    assert guards_evaluate() == 0  # v1 has no calls since the rollback


def test_guard_input_is_checked(greeting: Any) -> None:
    with pytest.raises(PromptError, match="flag"):
        guard_create(prompt=greeting, label="production", metric="flag_rate", threshold=0.1, actor=OWNER)
    with pytest.raises(PromptError, match="threshold"):
        guard_create(prompt=greeting, label="production", metric="error_rate", threshold=1.5, actor=OWNER)
    with pytest.raises(PromptError) as info:
        guard_create(prompt=greeting, label="production", metric="error_rate", threshold=0.1, actor=MEMBER)
    assert info.value.status == 403


def test_the_guards_api(writer: Api, greeting: Any) -> None:
    import json

    response = writer.client.post("/api/v1/prompts/greeting/guards", data=json.dumps(
        {"label": "production", "metric": "error_rate", "threshold": 0.1}), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {writer.key}")
    assert response.status_code == 201 and response.json()["state"] == "armed"
    assert writer.get("/api/v1/prompts/greeting/guards").json()["data"][0]["metric"] == "error_rate"


def test_the_written_out_one_sided_95_quantile_is_scipys() -> None:
    from scipy import stats

    from prompts.guards import Z_ONE_SIDED_95

    assert Z_ONE_SIDED_95 == pytest.approx(float(stats.norm.ppf(0.95)), abs=1e-12)


def _errors(api: Api, project: Any, version: int, count: int, *, every: int, start: int,
            minutes_ago: float = 1) -> None:
    """`count` calls of `version`, one in `every` an error (every=0: none)."""
    now = datetime.now(timezone.utc)
    events = [call_event(i, trace_id=f"e{i}", timestamp=(now - timedelta(minutes=minutes_ago, seconds=i % 50))
                         .isoformat(), prompt={"name": "greeting", "version": str(version)},
                         **({"status": "error", "error": "boom"} if every and i % every == 0 else {}))
              for i in range(start, start + count)]
    assert api.ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass


def test_worse_than_the_previous_version_trips_on_the_always_valid_bound(project: Any, greeting: Any,
                                                                        full_api: Api, prices: None) -> None:
    """v1 served production with 5% errors; v2 took over. Equal to v1, v2 never trips however often
    the guard looks; once clearly worse (30%), the next check rolls production back to v1."""
    _errors(full_api, project, 1, 400, every=20, start=0, minutes_ago=40)
    label_move(prompt=greeting, label="production", version=greeting.versions.get(version=2), actor=OWNER)
    Label.objects.filter(prompt=greeting).update(updated_at=datetime.now(timezone.utc) - timedelta(minutes=30))
    guard = guard_create(prompt=greeting, label="production", metric="error_rate", compare="previous",
                         threshold=0.0, min_sample=100, actor=OWNER)
    for batch in range(4):  # four looks at a v2 as good as v1
        _errors(full_api, project, 2, 100, every=20, start=1000 + 100 * batch)
        assert guards_evaluate() == 0
    guard.refresh_from_db()
    figures = guard.last_value
    assert figures["previous"] == {"version": 1, "n": 400, "value": pytest.approx(0.05)}
    assert figures["n"] == 400 and figures["bound"] < 0
    _errors(full_api, project, 2, 400, every=2, start=2000)  # now 225 of 800 fail
    assert guards_evaluate() == 1
    event = greeting.events.order_by("-id").first()
    assert (event.kind, event.from_version, event.to_version) == ("rollback", 2, 1)
    assert "worse than v1" in event.reason and event.details["bound"] > 0


def test_a_score_guard_trips_on_the_upper_bound(project: Any, greeting: Any, full_api: Api) -> None:
    label_move(prompt=greeting, label="production", version=greeting.versions.get(version=2), actor=OWNER)
    Label.objects.filter(prompt=greeting).update(updated_at=datetime.now(timezone.utc) - timedelta(minutes=30))
    guard = guard_create(prompt=greeting, label="production", metric="score_avg", score="human:helpfulness",
                         threshold=0.7, min_sample=20, actor=OWNER)
    now = datetime.now(timezone.utc)
    values = [0.5 + 0.1 * (i % 3) for i in range(40)]  # mean 0.6, well under 0.7
    events = [call_event(i, timestamp=(now - timedelta(minutes=2)).isoformat(),
                         prompt={"name": "greeting", "version": "2"}) for i in range(40)]
    events += [{"type": "score", "call_id": f"call-{i}", "name": "helpfulness", "value": v, "source": "human"}
               for i, v in enumerate(values)]
    assert full_api.ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass
    assert guards_evaluate() == 1
    guard.refresh_from_db()
    assert guard.last_value["value"] == pytest.approx(sum(values) / 40) and guard.last_value["bound"] < 0.7
    with pytest.raises(PromptError, match="score"):
        guard_create(prompt=greeting, label="production", metric="score_avg", threshold=0.7, actor=OWNER)
