"""The alerts API: CRUD for rules, channels and silences, incidents and acknowledging; reads with a
read key, writes by role; bad input is a 400 naming the field."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import Client

from alerts import services
from alerts.evaluation import rule_evaluate
from alerts.models import Channel, Incident, Rule
from tests.alerts.conftest import at_minute, calls, ingest, make_rule
from tests.conftest import Api

pytestmark = pytest.mark.django_db
RULE = {"name": "p95 too slow", "measure": "latency_p95", "condition": "threshold",
        "condition_config": {"op": "above", "critical": 2000, "warning": 1000}, "window_seconds": 300,
        "group_by": ["model"], "filters": {"provider": ["openai"]}, "min_count": 10}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, path: str, project: Any, body: Any) -> Any:
    return client.post(f"{path}?project={project.id}", data=json.dumps(body), content_type="application/json")


def test_owner_creates_reads_updates_and_deletes_a_rule(owner: Any, project: Any) -> None:
    client = _client(owner)
    channel, _ = services.channel_create(project=project, actor=None, kind="email", name="ops",
                                         config={"to": ["ops@example.com"]})
    response = _post(client, "/api/v1/alerts/rules", project, {**RULE, "routes": [{"channel": channel.id,
                                                                                   "severities": ["critical"]}]})
    assert response.status_code == 201, response.content
    rule = response.json()
    assert rule["state"] == "ok" and rule["routes"] == [{"channel": channel.id, "severities": ["critical"]}]
    listed = client.get(f"/api/v1/alerts/rules?project={project.id}").json()
    assert [r["id"] for r in listed] == [rule["id"]]
    response = client.patch(f"/api/v1/alerts/rules/{rule['id']}?project={project.id}",
                            data=json.dumps({"window_seconds": 3600, "enabled": False}), content_type="application/json")
    assert response.status_code == 200 and response.json()["window_seconds"] == 3600
    assert response.json()["routes"] == [{"channel": channel.id, "severities": ["critical"]}]  # untouched
    assert client.delete(f"/api/v1/alerts/rules/{rule['id']}?project={project.id}").status_code == 204
    assert not Rule.objects.exists()


@pytest.mark.parametrize("change, field", [
    ({"measure": "latency_p200"}, "measure"),
    ({"measure": "score_avg"}, "score"),
    ({"condition_config": {"op": "above", "critical": "two seconds"}}, "condition_config.critical"),
    ({"condition": "crystal_ball"}, "condition"),
    ({"condition": "burn_rate", "condition_config": {"objective": 0.99}}, "measure"),
    ({"window_seconds": 90}, "window_seconds"),
    ({"window_seconds": 600, "group_by": ["model", "feature"]}, "window_seconds"),
    ({"group_by": ["colour"]}, "group_by"),
    ({"filters": {"colour": ["red"]}}, "filters"),
    ({"window_seconds": 31 * 86400}, "window_seconds"),
    ({"no_data_policy": "panic"}, "no_data_policy"),
    ({"routes": [{"channel": 999999}]}, "routes"),
])
def test_bad_rule_input_is_a_400_naming_the_field(owner: Any, project: Any, change: dict[str, Any],
                                                  field: str) -> None:
    response = _post(_client(owner), "/api/v1/alerts/rules", project, {**RULE, **change})
    assert response.status_code == 400, response.content
    details = response.json()["error"]["details"]
    assert field in details, details


def test_a_read_key_reads_but_cannot_write(project: Any, reader: Api) -> None:
    make_rule(project)
    response = reader.get("/api/v1/alerts/rules")
    assert response.status_code == 200 and len(response.json()) == 1
    response = reader.client.post("/api/v1/alerts/rules", data=json.dumps(RULE), content_type="application/json",
                                  HTTP_AUTHORIZATION=f"Bearer {reader.key}")
    assert response.status_code == 403


def test_members_cannot_edit_rules_but_acknowledge_and_silence(member: Any, project: Any, api: Api,
                                                               prices: None) -> None:
    client = _client(member)
    assert _post(client, "/api/v1/alerts/rules", project, RULE).status_code == 403
    ingest(api, project, calls(10, latency=3000, start=at_minute(-3)))
    rule = make_rule(project)
    rule_evaluate(rule=rule, at=at_minute(1))
    incident = Incident.objects.get()
    listed = client.get(f"/api/v1/alerts/incidents?project={project.id}&open=true").json()
    assert [i["id"] for i in listed] == [incident.id]
    response = client.post(f"/api/v1/alerts/incidents/{incident.id}/acknowledge?project={project.id}")
    assert response.status_code == 200 and response.json()["acknowledged_by"] == "member"
    ends = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    response = _post(client, "/api/v1/alerts/silences", project,
                     {"rule": rule.id, "group": {"model": "gpt-4o"}, "ends_at": ends, "reason": "known"})
    assert response.status_code == 201, response.content
    silence_id = response.json()["id"]
    assert [s["id"] for s in client.get(f"/api/v1/alerts/silences?project={project.id}").json()] == [silence_id]
    assert client.delete(f"/api/v1/alerts/silences/{silence_id}?project={project.id}").status_code == 204
    assert client.get(f"/api/v1/alerts/silences?project={project.id}").json() == []


def test_a_silence_in_the_past_names_ends_at(owner: Any, project: Any) -> None:
    ends = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    response = _post(_client(owner), "/api/v1/alerts/silences", project, {"ends_at": ends})
    assert response.status_code == 400 and "ends_at" in response.json()["error"]["details"]


def test_channels_keep_secrets_out_of_every_answer(owner: Any, project: Any) -> None:
    client = _client(owner)
    response = _post(client, "/api/v1/alerts/channels", project,
                     {"kind": "webhook", "name": "hook", "secrets": {"url": "http://127.0.0.1:9/hook"}})
    assert response.status_code == 400 and "url" in response.json()["error"]["details"]  # loopback: refused
    with _allow_private():
        response = _post(client, "/api/v1/alerts/channels", project,
                         {"kind": "webhook", "name": "hook", "secrets": {"url": "http://127.0.0.1:9/hook"}})
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["shown_once"]["secret"].startswith("whsec_")
    again = client.get(f"/api/v1/alerts/channels/{created['id']}?project={project.id}").json()
    assert "shown_once" not in again and "127.0.0.1" not in json.dumps(again)
    assert "whsec_" not in Channel.objects.get().secret_token


@pytest.mark.parametrize("body, field", [
    ({"kind": "slack", "name": "s", "secrets": {"url": "ftp://example.com/x"}}, "url"),
    ({"kind": "email", "name": "e", "config": {"to": ["not-an-address"]}}, "to"),
    ({"kind": "pagerduty", "name": "p", "secrets": {}}, "routing_key"),
    ({"kind": "sms", "name": "x"}, "kind"),
])
def test_bad_channel_input_names_the_field(owner: Any, project: Any, body: dict[str, Any], field: str) -> None:
    response = _post(_client(owner), "/api/v1/alerts/channels", project, body)
    assert response.status_code == 400 and field in response.json()["error"]["details"], response.content


def test_send_test_over_the_api_reports_the_outcome(owner: Any, project: Any, settings: Any) -> None:
    settings.ALERTS_ALLOW_PRIVATE_URLS = True
    settings.ALERTS_RETRY_BASE_SECONDS = 0.01
    channel, _ = services.channel_create(project=project, actor=None, kind="slack", name="s",
                                         secrets={"url": "http://127.0.0.1:9/nothing-listens"})
    response = _client(owner).post(f"/api/v1/alerts/channels/{channel.id}/test?project={project.id}")
    assert response.status_code == 200
    assert response.json()["status"] == "failed" and "network error" in response.json()["error"]


def test_other_projects_objects_are_404(owner: Any, project: Any, other_project: Any) -> None:
    rule = make_rule(other_project)
    response = _client(owner).get(f"/api/v1/alerts/rules/{rule.id}?project={project.id}")
    assert response.status_code == 404


class _allow_private:
    def __enter__(self) -> None:
        from django.conf import settings

        self.old = settings.ALERTS_ALLOW_PRIVATE_URLS
        settings.ALERTS_ALLOW_PRIVATE_URLS = True

    def __exit__(self, *args: Any) -> None:
        from django.conf import settings

        settings.ALERTS_ALLOW_PRIVATE_URLS = self.old


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/alerts/channels", {"kind": "slack", "name": "s", "secrets": {"url": "http://[::1"}}, "url"),
    ("/api/v1/alerts/channels", {"kind": "email", "name": "e", "config": {"to": 5}}, "to"),
    ("/api/v1/alerts/rules", {**RULE, "min_count": 10**12}, "min_count"),
    ("/api/v1/alerts/silences", {"rule": 10**30, "ends_at": "2999-01-01T00:00:00Z"}, "rule"),
])
def test_odd_input_is_a_400_not_a_500(owner: Any, project: Any, path: str, body: dict[str, Any], field: str) -> None:
    response = _post(_client(owner), path, project, body)
    assert response.status_code == 400 and field in response.json()["error"]["details"], response.content


def test_the_test_endpoint_only_takes_post(owner: Any, project: Any) -> None:
    channel, _ = services.channel_create(project=project, actor=None, kind="email", name="ops",
                                         config={"to": ["ops@example.com"]})
    client = _client(owner)
    assert client.delete(f"/api/v1/alerts/channels/{channel.id}/test?project={project.id}").status_code == 405
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_budget_status_tells_an_app_who_is_over(project: Any, reader: Api, api: Api, prices: None) -> None:
    now = at_minute(0)
    start = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0))
    ingest(api, project, calls(4, latency=100, start=start, prefix="a", model="big", cost_usd=5.0)
           + calls(4, latency=100, start=start, prefix="b", model="small", cost_usd=0.5))
    make_rule(project, name="daily model budget", measure="cost", group_by=["model"], condition="budget",
              condition_config={"period": "day", "amount": 10}, min_count=0)
    make_rule(project, name="not a budget")
    response = reader.get("/api/v1/budgets/status")
    assert response.status_code == 200
    (budget,) = response.json()
    assert budget["name"] == "daily model budget" and budget["over"] is True and budget["period"] == "day"
    groups = {g["group"]["model"]: (g["spent"], g["over"]) for g in budget["groups"]}
    assert groups == {"big": (20.0, True), "small": (2.0, False)}


def test_a_key_with_the_alerts_scope_keeps_alerts_as_code(project: Any, api: Api, prices: None) -> None:
    from tenancy.services import api_key_create

    key = api_key_create(project=project, scopes=["alerts"], name="alerts as code").raw_key
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    client = Client()
    response = client.post("/api/v1/alerts/rules", data=json.dumps(RULE), content_type="application/json", **headers)
    assert response.status_code == 201, response.content
    rule_id = response.json()["id"]
    assert [r["id"] for r in client.get("/api/v1/alerts/rules", **headers).json()] == [rule_id]
    response = client.patch(f"/api/v1/alerts/rules/{rule_id}", data=json.dumps({"min_count": 3}),
                            content_type="application/json", **headers)
    assert response.status_code == 200 and response.json()["min_count"] == 3
    response = client.post("/api/v1/alerts/channels", data=json.dumps(
        {"kind": "email", "name": "ops", "config": {"to": ["ops@example.com"]}}), content_type="application/json",
        **headers)
    assert response.status_code == 201, response.content
    # An ingest key neither reads nor writes alerts.
    assert api.get("/api/v1/alerts/rules").status_code == 403
    response = api.client.post("/api/v1/alerts/rules", data=json.dumps(RULE), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 403 and "'alerts' scope" in response.content.decode()
    assert client.delete(f"/api/v1/alerts/rules/{rule_id}", **headers).status_code == 204
