"""The drift page, its drill-down, "Run now" and the API: roles, escaping, links, status codes."""
from __future__ import annotations

import json
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlparse

import plotly.graph_objects as go
import pytest
from django.test import Client

from drift import charts
from drift.models import DriftRun, Finding
from drift.services import drift_run
from observatory.assets import PLOTLY_BASIC_TRACES
from tests.conftest import Api
from tests.dashboards.conftest import XSS
from tests.drift.conftest import calls, run_end, send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_topics")]


@pytest.fixture
def drifted(full_api: Api, project: Any) -> DriftRun:
    """A run in which the model whose name is an XSS attempt got 20% slower."""
    events = (calls("b", 150, current=False, seed=1, model=XSS) + calls("c", 150, current=True, seed=2, model=XSS,
                                                                         latency=1000))
    send(full_api, project, events)
    return drift_run(project=project, now=run_end())


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_empty_state_offers_run_now_to_owners_only(project: Any, owner: Any, member: Any) -> None:
    page = signed_in(owner).get(f"/projects/{project.id}/drift/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="drift-empty"' in html and 'data-testid="drift-run-now"' in html
    assert 'aria-current="page">Drift</a>' in html
    assert 'data-testid="drift-run-now"' not in signed_in(member).get(f"/projects/{project.id}/drift/").content.decode()


def test_run_now_queues_one_run_and_shows_its_status(project: Any, owner: Any, member: Any,
                                                     django_capture_on_commit_callbacks: Any) -> None:
    client = signed_in(owner)
    with mock.patch("drift.tasks.run_drift.delay") as delay, django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/projects/{project.id}/drift/run").status_code == 302
        assert client.post(f"/projects/{project.id}/drift/run").status_code == 302  # a second click
    assert DriftRun.objects.filter(project=project).count() == 1 and delay.call_count == 1
    html = client.get(f"/projects/{project.id}/drift/").content.decode()
    assert 'data-testid="drift-pending"' in html and "queued" in html
    assert signed_in(member).post(f"/projects/{project.id}/drift/run").status_code == 403


def test_findings_are_listed_escaped_with_links_to_the_calls(project: Any, owner: Any, drifted: DriftRun) -> None:
    html = signed_in(owner).get(f"/projects/{project.id}/drift/").content.decode()
    assert "<script>alert(1)" not in html and "onerror=" not in html.replace("onerror=&quot;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-testid="drift-finding"' in html and "Wasserstein distance" in html
    finding = Finding.objects.get(run=drifted, signal="latency", group={"model": XSS}, comparison="24h")
    assert f"/projects/{project.id}/drift/findings/{finding.id}" in html
    row = next(r for r in html.split('data-testid="drift-finding"') if f"/drift/findings/{finding.id}\"" in r)
    calls_link = row[row.index(f'href="/projects/{project.id}/calls/'):].split('"')[1]
    params = parse_qs(urlparse(calls_link.replace("&amp;", "&")).query)
    assert params["model"] == [XSS] and params["range"] == ["custom"]


def test_drill_down_draws_both_distributions_and_the_history(project: Any, owner: Any, drifted: DriftRun) -> None:
    finding = Finding.objects.get(run=drifted, signal="latency", group={"model": XSS}, comparison="24h")
    response = signed_in(owner).get(f"/projects/{project.id}/drift/findings/{finding.id}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert 'data-testid="chart-drift-comparison"' in html and 'data-testid="chart-drift-history"' in html
    assert "KS" in html or "Kolmogorov" in html
    other = Finding.objects.exclude(project=project).first()
    assert other is None
    assert signed_in(owner).get(f"/projects/{project.id}/drift/findings/999999").status_code == 404


def test_outsiders_get_404(project: Any, outsider: Any, drifted: DriftRun) -> None:
    finding = drifted.findings.first()
    client = signed_in(outsider)
    assert client.get(f"/projects/{project.id}/drift/").status_code == 404
    assert client.get(f"/projects/{project.id}/drift/findings/{finding.id}").status_code == 404


def valid(figure: dict[str, Any]) -> None:
    go.Figure(figure)  # raises on anything plotly.js would not understand
    assert {trace.get("type", "scatter") for trace in figure["data"]} <= PLOTLY_BASIC_TRACES  # what the bundle draws


def test_chart_builders_give_valid_plotly() -> None:
    bins = charts.shared_bins(([100.0, 200.0, 400.0], [5, 3, 2]), ([120.0, 450.0], [1, 9]), unit="ms")
    assert sum(b[2] for b in bins) == pytest.approx(1) and sum(b[3] for b in bins) == pytest.approx(1)
    valid(charts.distribution_overlay("x", bins, unit="ms"))
    score_bins = charts.shared_bins(([0.0, 0.5, 1.0], [1, 1, 1]), ([0.2], [3]), unit="score")
    valid(charts.distribution_overlay("s", score_bins, unit="score"))
    valid(charts.share_bars("m", ["a", ""], [0.5, 0.5], [0.1, 0.9]))
    from datetime import datetime, timezone
    valid(charts.statistic_history("h", [{"t": datetime(2026, 1, 1, tzinfo=timezone.utc), "value": 0.2}],
                                       threshold=0.1))


def test_api_lists_runs_and_findings(project: Any, reader: Api, drifted: DriftRun, other_project: Any) -> None:
    runs = reader.get("/api/v1/drift/runs")
    assert runs.status_code == 200
    assert [r["id"] for r in runs.json()["runs"]] == [drifted.id]
    findings = reader.get(f"/api/v1/drift/runs/{drifted.id}/findings", verdict="drift")
    assert findings.status_code == 200
    body = findings.json()["findings"]
    assert body and all(f["verdict"] == "drift" for f in body)
    assert body[0]["score"] >= body[-1]["score"]
    latency = reader.get("/api/v1/drift/findings", signal="latency", severity=body[0]["severity"]).json()["findings"]
    assert latency and all(f["signal"] == "latency" for f in latency)
    assert reader.get("/api/v1/drift/findings", severity="huge").status_code == 400
    assert reader.get("/api/v1/drift/findings", limit="0").status_code == 400
    other_run = DriftRun.objects.create(project=other_project)
    assert reader.get(f"/api/v1/drift/runs/{other_run.id}/findings").status_code == 404
    assert Api(None).get("/api/v1/drift/runs").status_code in (401, 403)


def test_api_schema_lists_the_drift_endpoints(reader: Api) -> None:
    schema = Client().get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert {"/api/v1/drift/runs", "/api/v1/drift/runs/{run_id}/findings", "/api/v1/drift/findings"} <= set(paths)
    assert {"200", "400", "404"} <= set(paths["/api/v1/drift/findings"]["get"]["responses"])


def test_the_topic_panel_shows_words_examples_and_shares_escaped(project: Any, owner: Any, drifted: DriftRun) -> None:
    base = Finding.objects.filter(run=drifted).first()
    topics = Finding.objects.create(
        run=drifted, project=project, comparison="24h", signal="topics", method="domain_classifier", statistic=0.81,
        threshold=0.55, n_baseline=300, n_current=300, verdict="drift", severity="major", score=0.81 / 0.55,
        baseline_value=0.01, current_value=0.15, baseline_start=base.baseline_start, baseline_end=base.baseline_end,
        current_start=base.current_start, current_end=base.current_end,
        details={"auc": 0.81, "p_value": 1e-9, "sample_limit": 5000, "current_words": ["refund", XSS],
                 "baseline_words": ["password"], "current_examples": [f"refund please {XSS}"],
                 "baseline_examples": ["reset my password"],
                 "topics": [{"name": f"refund / {XSS}", "baseline_share": 0.01, "current_share": 0.15}]})
    client = signed_in(owner)
    for path in (f"/projects/{project.id}/drift/", f"/projects/{project.id}/drift/findings/{topics.id}"):
        html = client.get(path).content.decode()
        assert 'data-testid="topic-shares"' in html and "reset my password" in html
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Topics of inputs" in html and "ROC AUC" in html


def test_every_finding_of_a_run_has_a_drill_down(project: Any, owner: Any, drifted: DriftRun) -> None:
    client = signed_in(owner)
    methods = set()
    for finding in drifted.findings.all():
        response = client.get(f"/projects/{project.id}/drift/findings/{finding.id}")
        assert response.status_code == 200, (finding.signal, finding.group)
        methods.add(finding.method)
    assert {"wasserstein", "two_proportion_z", "jensen_shannon"} <= methods


def test_owners_change_the_comparisons_and_the_change_is_audited(project: Any, owner: Any, member: Any) -> None:
    from audit.models import AuditEntry
    from drift.models import DriftSettings

    client = signed_in(owner)
    page = client.get(f"/projects/{project.id}/drift/settings")
    assert page.status_code == 200 and 'name="c0_name" value="24h"' in page.content.decode()
    form = {"enabled": "on", "min_numeric": 50, "min_rate": 100, "min_mix": 50,
            "c0_name": "day", "c0_current_hours": 24, "c0_baseline": "week_ago",
            "c1_name": "release", "c1_current_hours": 72, "c1_baseline": "pinned",
            "pinned_start": "2026-11-01T00:00", "pinned_end": "2026-11-08T00:00"}
    assert client.post(f"/projects/{project.id}/drift/settings", form).status_code == 302
    row = DriftSettings.objects.get(project=project)
    assert [c["name"] for c in row.comparisons] == ["day", "release"]
    assert row.comparisons[0]["baseline"] == "week_ago" and row.min_samples["numeric"] == 50
    assert AuditEntry.objects.filter(project_id=project.id, action="drift_settings.changed").count() == 1
    # A pinned baseline without a range, and duplicate names, are refused with the form shown again.
    bad = client.post(f"/projects/{project.id}/drift/settings", {**form, "pinned_start": "", "pinned_end": ""})
    assert bad.status_code == 400 and "pinned" in bad.content.decode()
    dup = client.post(f"/projects/{project.id}/drift/settings", {**form, "c1_name": "day"})
    assert dup.status_code == 400
    # Members read them, cannot change them.
    member_client = signed_in(member)
    assert 'disabled' in member_client.get(f"/projects/{project.id}/drift/settings").content.decode()
    assert member_client.post(f"/projects/{project.id}/drift/settings", form).status_code == 403
    row.refresh_from_db()
    assert 'value="2026-11-01T00:00"' in client.get(f"/projects/{project.id}/drift/settings").content.decode()


def test_a_release_pins_the_baseline_to_the_hours_its_calls_cover(project: Any, owner: Any, api: Api) -> None:
    from datetime import timedelta

    from drift.models import DriftSettings

    events = calls("old", 30, current=False, seed=1, release="2.3") + calls("new", 30, current=True, seed=2,
                                                                           release="2.4")
    send(api, project, events)
    client = signed_in(owner)
    form = {"enabled": "on", "min_numeric": 50, "min_rate": 100, "min_mix": 50,
            "c0_name": "since 2.3", "c0_current_hours": 24, "c0_baseline": "pinned", "pinned_release": "2.3"}
    assert client.post(f"/projects/{project.id}/drift/settings", form).status_code == 302
    row = DriftSettings.objects.get(project=project)
    from telemetry.models import Call

    times = sorted(Call.objects.filter(project=project, release="2.3").values_list("start_time", flat=True))
    assert row.pinned_release == "2.3"
    assert row.pinned_start == times[0].replace(minute=0, second=0, microsecond=0)
    assert row.pinned_end == times[-1].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    page = client.get(f"/projects/{project.id}/drift/settings").content.decode()
    assert 'name="pinned_release"' in page and 'value="2.3"' in page
    # A release no call carries is refused on its own field; the saved range stays.
    bad = client.post(f"/projects/{project.id}/drift/settings", {**form, "pinned_release": "<b>9.9</b>"})
    assert bad.status_code == 400 and "No call carries the release “&lt;b&gt;9.9&lt;/b&gt;”" in bad.content.decode()
    assert DriftSettings.objects.get(project=project).pinned_release == "2.3"
    # A drift run compares the current day with that range.
    run = drift_run(project=project, now=run_end())
    window = next(w for w in run.windows if w.get("name") == "since 2.3")
    assert window["baseline"] == "pinned" and window["baseline_start"].startswith(row.pinned_start.isoformat()[:13])
