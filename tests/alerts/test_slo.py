"""Latency SLOs in alert rules ("99% of calls under 2 s" as latency_over_2000 with objective 0.99):
the burn-rate condition reads the share of slow calls from the sketches, per group, and notes the
error budget left; and a tick's rules are read together and written in one transaction."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.conditions import mad_normal
from alerts.evaluation import rule_evaluate, rules_evaluate_due
from alerts.models import Rule, RuleInstance, StateEvent
from alerts.registry import ACTIONS, RuleInvalid
from alerts.selectors import slo_status
from tests.alerts.conftest import at_minute, calls, ingest, make_rule
from tests.conftest import Api

pytestmark = pytest.mark.django_db


def _slo_rule(project: Any, **fields: Any) -> Rule:
    return make_rule(project, **{"name": "99% under 2 s", "measure": "latency_over_2000", "condition": "burn_rate",
                                 "condition_config": {"objective": 0.99}, "window_seconds": 300, "min_count": 10,
                                 **fields})


def test_a_latency_slo_pages_the_model_burning_its_budget(api: Api, project: Any, prices: None) -> None:
    at = at_minute(1)
    start = at - timedelta(minutes=4)  # from `at`, so the 5-minute window holds them whenever the minute turns
    # gpt-4o: 8 of 40 calls over 2 s (20%: 20x the 1% budget, a page); claude: 1 of 40 (2.5x: only
    # the slow-burn tier, 1x over 3 days and 6 hours, here the same calls: a ticket).
    ingest(api, project, calls(32, latency=900, start=start, prefix="a") + calls(8, latency=2600, start=start, prefix="b")
           + calls(39, latency=800, start=start, prefix="c", model="claude") + calls(1, latency=4000, start=start,
                                                                                   prefix="d", model="claude"))
    rule = _slo_rule(project, group_by=["model"])
    events = {e.instance.group["model"]: e for e in rule_evaluate(rule=rule, at=at)}
    page, ticket = events["gpt-4o"], events["claude"]
    assert (page.to_state, page.severity, page.threshold) == ("firing", "critical", 14.4)
    assert page.value == pytest.approx(20.0)  # the 1 h burn rate: 20% slow / 1% allowed
    assert page.note.startswith("error budget left (30 d): 0%")
    assert (ticket.to_state, ticket.severity, ticket.threshold) == ("firing", "warning", 1.0)
    assert ticket.value == pytest.approx(2.5)


def test_a_latency_slo_under_its_budget_stays_quiet_and_below_min_count_is_no_data(
        api: Api, project: Any, prices: None) -> None:
    at = at_minute(1)
    start = at - timedelta(minutes=4)
    ingest(api, project, calls(199, latency=900, start=start) + calls(1, latency=3000, start=start, prefix="slow"))
    rule = _slo_rule(project)
    assert rule_evaluate(rule=rule, at=at) == []  # 0.5% slow: half the budget, burn 0.5
    # 200 calls, 1 slow, burn 0.5 everywhere: ok. A rule also paging at 0.4x wants 500 calls first.
    few = _slo_rule(project, name="few", min_count=500, condition_config={"objective": 0.99, "tiers": [
        {"factor": 0.4, "long": 3600, "short": 300, "severity": "critical"}]})
    assert rule_evaluate(rule=few, at=at) == []
    assert rule_evaluate(rule=_slo_rule(project, name="enough", min_count=200, condition_config={
        "objective": 0.99, "tiers": [{"factor": 0.4, "long": 3600, "short": 300}]}), at=at)[0].to_state == "firing"
    assert list(RuleInstance.objects.values_list("rule__name", flat=True)) == ["enough"]


def test_a_burn_rate_needs_a_bad_ratio_measure(project: Any) -> None:
    with pytest.raises(RuleInvalid) as caught:
        make_rule(project, measure="latency_p99", condition="burn_rate", condition_config={"objective": 0.99})
    assert caught.value.field == "measure" and "latency_over_N" in str(caught.value)
    with pytest.raises(RuleInvalid) as caught:
        make_rule(project, measure="latency_over_0", condition="burn_rate", condition_config={"objective": 0.99})
    assert caught.value.field == "measure"


def test_the_mad_is_scipys() -> None:
    from scipy.stats import median_abs_deviation

    rng = np.random.default_rng(3)
    for sample in (rng.normal(10, 3, 7), rng.lognormal(2, 1, 12), np.array([5.0, 5.0, 5.0]), np.array([1.0, 9.0])):
        assert mad_normal(sample) == pytest.approx(float(median_abs_deviation(sample, scale="normal")), rel=1e-12)


def test_rules_asking_the_same_question_share_one_rollup_query(api: Api, project: Any, prices: None) -> None:
    ingest(api, project, calls(20, latency=2500, start=at_minute(-3)))
    for i, (measure, level) in enumerate([("latency_avg", 1000), ("error_rate", 0.5), ("count", 5), ("cost", 100)]):
        make_rule(project, name=f"r{i}", measure=measure, condition_config={"op": "above", "critical": level},
                  min_count=1)
    with CaptureQueriesContext(connection) as queries:
        assert rules_evaluate_due(now=at_minute(1)) == 4
    sums = [q["sql"] for q in queries.captured_queries if "FROM rollups_rollup" in q["sql"]]
    assert len(sums) == 1  # four rules, one window, one scope: one read of the sums
    assert sorted(RuleInstance.objects.filter(state="firing").values_list("rule__name", flat=True)) == ["r0", "r2"]


def test_a_rule_whose_writes_fail_is_rolled_back_alone(api: Api, project: Any, prices: None) -> None:
    def explode(transition: Any) -> None:
        raise RuntimeError("an action failed")

    ACTIONS["test-explode"] = explode
    try:
        ingest(api, project, calls(20, latency=2500, start=at_minute(-3)))
        good = make_rule(project, name="good")
        bad = make_rule(project, name="bad", actions=["test-explode"])
        at = at_minute(1)
        assert rules_evaluate_due(now=at) == 2
    finally:
        del ACTIONS["test-explode"]
    assert list(StateEvent.objects.values_list("rule__name", flat=True)) == ["good"]
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.last_evaluated_at == at and bad.last_evaluated_at is None
    assert not RuleInstance.objects.filter(rule=bad).exists()  # its new instance went with the savepoint



def test_slo_status_shows_the_error_budget_left_per_group(api: Api, project: Any, prices: None) -> None:
    at = at_minute(1)
    start = at - timedelta(minutes=4)
    # 30-day SLO of 99% under 2 s; gpt-4o: 1 slow call of 400 (0.25%: a quarter of the budget spent);
    # claude: 12 of 400 (3%: three times the budget, none left).
    ingest(api, project, calls(399, latency=900, start=start, prefix="a") + calls(1, latency=2600, start=start, prefix="b")
           + calls(388, latency=800, start=start, prefix="c", model="claude")
           + calls(12, latency=4000, start=start, prefix="d", model="claude"))
    rule = _slo_rule(project, group_by=["model"])
    status = {s["group"]["model"]: s for s in slo_status(rule=rule, now=at)}
    assert status["gpt-4o"]["budget_left"] == pytest.approx(0.75)
    assert status["gpt-4o"]["bad_ratio_30d"] == pytest.approx(1 / 400) and status["gpt-4o"]["calls_30d"] == 400
    assert status["claude"]["budget_left"] == 0.0
    assert status["claude"]["tiers"][0]["long_burn"] == pytest.approx(3.0)
    assert [t["factor"] for t in status["claude"]["tiers"]] == [14.4, 6.0, 1.0]
    assert slo_status(rule=make_rule(project, name="plain"), now=at) == []


def test_a_claim_is_read_once_and_written_in_chunks(api: Api, project: Any, prices: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from alerts import evaluation

    monkeypatch.setattr(evaluation, "WRITE_BATCH", 2)
    ingest(api, project, calls(20, latency=2500, start=at_minute(-3)))
    rules = [make_rule(project, name=f"r{i}", condition_config={"op": "above", "critical": 1000 + i})
             for i in range(5)]
    at = at_minute(1)
    with CaptureQueriesContext(connection) as queries:
        assert rules_evaluate_due(now=at) == 5
    assert sum("FROM rollups_rollup" in q["sql"] for q in queries.captured_queries) == 1
    assert sum(q["sql"].startswith("SELECT pg_advisory_xact_lock") for q in queries.captured_queries) == 3
    assert RuleInstance.objects.filter(rule__in=rules, state="firing").count() == 5
    assert Rule.objects.filter(last_evaluated_at=at).count() == 5


def test_the_rule_page_and_the_api_show_the_error_budget_left(api: Api, reader: Api, project: Any, prices: None,
                                                             owner_client: Any) -> None:
    from django.urls import reverse

    start = at_minute(-4)
    # gpt-4o spends a quarter of its budget (1 slow call in 400); claude spends it all three times over.
    ingest(api, project, calls(399, latency=900, start=start, prefix="a") + calls(1, latency=2600, start=start, prefix="b")
           + calls(388, latency=800, start=start, prefix="c", model="claude")
           + calls(12, latency=4000, start=start, prefix="d", model="claude"))
    rule = _slo_rule(project, group_by=["model"])
    page = owner_client.get(reverse("alerts-rule-edit", args=[project.id, rule.id]))
    body = page.content.decode()
    assert page.status_code == 200 and 'data-testid="error-budget"' in body
    assert "model=gpt-4o" in body and "75.0%" in body and "model=claude" in body and "0.0%" in body
    data = reader.get(f"/api/v1/alerts/rules/{rule.id}").json()
    budget = {row["group"]["model"]: row["budget_left"] for row in data["slo"]}
    assert budget["gpt-4o"] == pytest.approx(0.75) and budget["claude"] == 0.0
    plain = make_rule(project, name="plain")
    assert 'data-testid="error-budget"' not in owner_client.get(
        reverse("alerts-rule-edit", args=[project.id, plain.id])).content.decode()
    assert "slo" not in reader.get(f"/api/v1/alerts/rules/{plain.id}").json()
