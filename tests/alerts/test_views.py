"""The alerts pages by role: viewers read, members acknowledge and silence, owners and admins edit;
forms show field errors; untrusted names are escaped; no inline script or handler attributes."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any

import pytest
import standardwebhooks
from django.contrib.auth import get_user_model
from django.test import Client

from alerts import services
from alerts.evaluation import rule_evaluate
from alerts.models import Channel, Incident, Rule, Silence
from tenancy.models import Role
from tenancy.services import membership_set
from tests.alerts.conftest import Received, at_minute, calls, ingest, make_rule
from tests.conftest import Api

pytestmark = pytest.mark.django_db
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


class _Inline(HTMLParser):
    """Inline code the CSP would refuse: a <script> with a body but no src (JSON data is fine), or
    an on*= handler attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.found += [f"{tag} {name}" for name in names if name.startswith("on")]
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self.found.append("inline script")


class INLINE:  # noqa: N801 - used like a compiled pattern: INLINE.search(html)
    @staticmethod
    def search(html: str) -> list[str]:
        parser = _Inline()
        parser.feed(html)
        return parser.found


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(org: Any) -> Any:
    user = get_user_model().objects.create_user("viewer", "viewer@example.com", "pw-viewer-123")
    membership_set(organization=org, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def firing(api: Api, project: Any, prices: None) -> Incident:
    ingest(api, project, calls(10, latency=3000, start=at_minute(-3), model=XSS))
    rule = make_rule(project, name=XSS, group_by=["model"])
    rule_evaluate(rule=rule, at=at_minute(1))
    return Incident.objects.get()


def _mine(html: str) -> str:
    """The page body below the shared header (base.html belongs to the dashboards)."""
    return html.split('id="page-body"', 1)[1]


def test_viewers_read_the_page_escaped_without_edit_controls(viewer: Any, project: Any, firing: Incident) -> None:
    response = _client(viewer).get(f"/projects/{project.id}/alerts/")
    assert response.status_code == 200
    html = response.content.decode()
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "New rule" not in html and "Create silence" not in html
    assert 'data-testid="firing"' in html
    assert not INLINE.search(_mine(html)), INLINE.search(_mine(html))


def test_incident_page_shows_the_timeline_and_roles_decide_acknowledging(viewer: Any, member: Any, project: Any,
                                                                        firing: Incident) -> None:
    url = f"/projects/{project.id}/alerts/incidents/{firing.id}"
    page = _client(viewer).get(url).content.decode()
    assert 'data-testid="timeline-state"' in page and "ok → firing" in page and "Acknowledge</button>" not in page
    assert 'data-testid="chart-incident-metric"' in page and '"name": "threshold"' in page
    calls_link = re.search(r'data-testid="incident-calls"', page) and re.search(r'href="([^"]+)" data-testid="incident-calls"', page).group(1)
    assert "range=custom" in calls_link and "model=%3Cscript%3E" in calls_link.replace("&amp;", "&")
    assert not INLINE.search(_mine(page))
    assert _client(viewer).post(url + "/acknowledge").status_code == 403
    response = _client(member).post(url + "/acknowledge")
    assert response.status_code == 302
    firing.refresh_from_db()
    assert firing.acknowledged_by == member and firing.acknowledged_at is not None
    assert "by member" in _client(viewer).get(url).content.decode()


def test_members_cannot_open_the_rule_form(member: Any, project: Any) -> None:
    assert _client(member).get(f"/projects/{project.id}/alerts/rules/new").status_code == 403


def test_the_rule_form_shows_field_errors_then_saves(owner: Any, project: Any) -> None:
    client = _client(owner)
    url = f"/projects/{project.id}/alerts/rules/new"
    page = client.get(url).content.decode()
    assert 'name="measure"' in page and not INLINE.search(_mine(page))
    form = {"name": "p95", "measure": "latency_p200", "condition": "threshold", "op": "above", "critical": "1000",
            "window_minutes": "5", "min_count": "10", "pending_minutes": "0", "recovery_hysteresis": "0",
            "no_data_policy": "ok", "renotify_minutes": "0", "severity": "critical", "enabled": "on"}
    response = client.post(url, form)
    assert response.status_code == 400 and "unknown measure" in response.content.decode()
    response = client.post(url, {**form, "measure": "latency_p95", "critical": "fast"})
    assert response.status_code == 400 and "Enter a number" in response.content.decode()
    response = client.post(url, {**form, "measure": "latency_p95", "group_by_1": "model", "group_by_2": "feature"})
    assert response.status_code == 400 and "whole hours" in response.content.decode()
    response = client.post(url, {**form, "measure": "latency_p95"})
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert rule.condition_config == {"op": "above", "critical": 1000.0} and rule.window_seconds == 300
    edit = client.get(f"/projects/{project.id}/alerts/rules/{rule.id}").content.decode()
    assert 'value="latency_p95"' in edit


def test_a_webhook_channel_shows_its_secret_once_and_sends_a_signed_test(owner: Any, project: Any, settings: Any,
                                                                         receiver: tuple[str, Received]) -> None:
    settings.ALERTS_ALLOW_PRIVATE_URLS = True
    url, received = receiver
    client = _client(owner)
    response = client.post(f"/projects/{project.id}/alerts/channels/new",
                           {"kind": "webhook", "name": "hook", "url": url})
    assert response.status_code == 302
    channel = Channel.objects.get()
    page = client.get(response["Location"]).content.decode()
    secret = re.search(r'data-testid="new-secret">(whsec_[^<]+)<', page).group(1)
    assert "whsec_" not in client.get(response["Location"]).content.decode()  # shown once
    response = client.post(f"/projects/{project.id}/alerts/channels/{channel.id}/test", follow=True)
    assert "Test notification sent" in response.content.decode()
    standardwebhooks.Webhook(secret).verify(received.requests[0]["body"], received.requests[0]["headers"])


def test_members_silence_a_group_and_end_it(member: Any, project: Any) -> None:
    rule = make_rule(project)
    client = _client(member)
    response = client.post(f"/projects/{project.id}/alerts/silences/new",
                           {"rule": str(rule.id), "dimension": "model", "value": "gpt-4o", "hours": "2",
                            "reason": "known issue"})
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.rule == rule and silence.group == {"model": "gpt-4o"}
    assert client.post(f"/projects/{project.id}/alerts/silences/{silence.id}/end").status_code == 302
    silence.refresh_from_db()
    assert silence.ends_at <= datetime.now(timezone.utc)


def test_outsiders_get_404(outsider: Any, project: Any) -> None:
    assert _client(outsider).get(f"/projects/{project.id}/alerts/").status_code == 404


def test_email_channel_page_says_mail_goes_to_the_console(owner: Any, project: Any) -> None:
    channel, _ = services.channel_create(project=project, actor=None, kind="email", name="finance",
                                         config={"to": ["f@example.com"]})
    page = _client(owner).get(f"/projects/{project.id}/alerts/channels/{channel.id}").content.decode()
    assert "printed to the server" in page


def test_the_rule_form_makes_a_budget_rule(owner: Any, project: Any) -> None:
    response = _client(owner).post(f"/projects/{project.id}/alerts/rules/new", {
        "name": "monthly spend", "measure": "cost", "condition": "budget", "period": "month", "amount": "500",
        "forecast": "on", "window_minutes": "60", "min_count": "0", "pending_minutes": "0",
        "recovery_hysteresis": "0", "no_data_policy": "ok", "renotify_minutes": "0", "severity": "critical",
        "enabled": "on"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert Rule.objects.get().condition_config == {"period": "month", "amount": 500.0, "forecast": True}


def test_the_backtest_counts_what_would_have_fired(owner: Any, api: Api, project: Any, prices: None) -> None:
    from datetime import timedelta

    now = at_minute(0)
    # Two slow hours, two days apart, each a separate incident; fast calls in between.
    events = calls(10, latency=3000, start=now - timedelta(hours=50, minutes=30), prefix="a", model=XSS)
    events += calls(10, latency=100, start=now - timedelta(hours=30, minutes=30), prefix="b", model=XSS)
    events += calls(10, latency=3000, start=now - timedelta(hours=3, minutes=30), prefix="c", model=XSS)
    ingest(api, project, events)
    rule = make_rule(project, group_by=["model"], window_seconds=3600, min_count=5, no_data_policy="keep")
    response = _client(owner).get(f"/projects/{project.id}/alerts/rules/{rule.id}/backtest", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "Would have fired 2 times" in html, html
    assert XSS not in html and "model=&lt;script&gt;" in html


def test_the_preview_draws_the_unsaved_rule_and_backtests_it(owner: Any, firing: Incident, project: Any) -> None:
    form = {"name": "p95", "measure": "latency_p95", "condition": "threshold", "op": "above", "critical": "1000",
            "warning": "500", "group_by_1": "model", "window_minutes": "60", "min_count": "5", "pending_minutes": "0",
            "recovery_hysteresis": "0", "no_data_policy": "ok", "renotify_minutes": "0", "severity": "critical"}
    client = _client(owner)
    url = f"/projects/{project.id}/alerts/rules/preview"
    html = client.post(url, form, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="chart-rule-preview"' in html and "critical level" in html
    assert "Would have fired 1 time" in html and XSS not in html
    assert Rule.objects.count() == 1  # the fixture's; the preview saved nothing
    html = client.post(url, {**form, "measure": "latency_p200"}, HTTP_HX_REQUEST="true").content.decode()
    assert "unknown measure" in html
    page = client.post(url, form)  # without JavaScript: a page
    assert page.status_code == 200 and "Use your browser" in page.content.decode()


def test_each_rule_has_a_sparkline_and_rules_sharing_a_scope_read_once(owner: Any, api: Api, project: Any,
                                                                        prices: None) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ingest(api, project, calls(10, latency=2500, start=at_minute(-3)))
    make_rule(project, name="p95")
    client = _client(owner)
    url = f"/projects/{project.id}/alerts/"
    client.get(url)  # warm the session and caches
    with CaptureQueriesContext(connection) as one:
        html = client.get(url).content.decode()
    line = re.search(r'<svg class="sparkline"[^>]*aria-label="([^"]+)"', html)
    assert line and "latency_p95 per hour" in line.group(1), html
    assert re.search(r"latest 25\d\d", line.group(1))  # the sketch's estimate of 2500 ms
    assert "level 1000" in line.group(1)  # the threshold is drawn
    # Three more rules over the same scope (other measures, a percentile among them): same reads.
    for measure in ("count", "error_rate", "latency_p99"):
        make_rule(project, name=measure, measure=measure)
    make_rule(project, name="budget", measure="cost", condition="budget", min_count=0,
              condition_config={"period": "day", "amount": 5})
    with CaptureQueriesContext(connection) as five:
        html = client.get(url).content.decode()
    assert html.count('data-testid="sparkline"') == 5
    assert len(five.captured_queries) == len(one.captured_queries), [q["sql"][:120] for q in five.captured_queries]
    # Another scope (a filter) is one more read; a model nobody called draws "no data".
    make_rule(project, name="filtered", filters={"model": ["nobody"]})
    html = client.get(url).content.decode()
    assert 'data-testid="sparkline-empty"' in html


def test_sparkline_geometry_breaks_at_gaps_and_scales_to_the_level() -> None:
    from alerts.sparklines import HEIGHT, PAD, draw

    line = draw([1.0, 2.0, None, 3.0, None], 4.0, "latency_p95")
    assert line.path.count("M") == 1 and line.path.count("L") == 1 and len(line.dots) == 1  # a lone hour: a dot
    assert line.level_y == PAD and line.path.startswith(f"M{PAD},{HEIGHT - PAD}")
    assert not draw([None, None], None, "count").drawn


def test_the_overview_shows_what_is_firing_and_links_to_the_incident(viewer: Any, project: Any,
                                                                     firing: Incident) -> None:
    client = _client(viewer)
    html = client.get(f"/projects/{project.id}/").content.decode()
    panel = html.split('data-testid="overview-firing"', 1)[1].split("</section>", 1)[0]
    assert "1 firing" in panel and f'/projects/{project.id}/alerts/incidents/{firing.id}"' in panel
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in panel  # the rule's name, escaped
    assert not INLINE.search(_mine(html))
    Incident.objects.filter(pk=firing.pk).update(resolved_at=datetime.now(timezone.utc))
    assert 'data-testid="overview-firing"' not in client.get(f"/projects/{project.id}/").content.decode()


def test_the_rule_form_previews_live_without_a_name_and_asks_for_a_metric_first(owner: Any, firing: Incident,
                                                                                project: Any) -> None:
    client = _client(owner)
    page = client.get(f"/projects/{project.id}/alerts/rules/new").content.decode()
    form_tag = re.search(r'<form method="post" class="panel settings-form"[^>]*>', page).group(0)
    assert 'hx-trigger="change delay:500ms"' in form_tag and "/alerts/rules/preview" in form_tag
    assert "{#" not in page and "{% comment" not in page
    url = f"/projects/{project.id}/alerts/rules/preview"
    html = client.post(url, {"condition": "threshold"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Choose a metric to see the preview." in html and "Not valid" not in html
    form = {"measure": "latency_p95", "condition": "threshold", "op": "above", "critical": "1000",
            "window_minutes": "60", "min_count": "5", "pending_minutes": "0", "no_data_policy": "ok",
            "renotify_minutes": "0", "severity": "critical"}
    assert "Would have fired 1 time" in client.post(url, form, HTTP_HX_REQUEST="true").content.decode()
    assert "Would have fired 0 times" in client.post(url, {**form, "critical": "5000"},
                                                     HTTP_HX_REQUEST="true").content.decode()
    edit = client.get(f"/projects/{project.id}/alerts/rules/{firing.rule_id}").content.decode()
    assert 'hx-trigger="load, change delay:500ms"' in edit  # a saved rule's preview draws at once


def test_firing_now_counts_every_open_incident_and_lists_the_newest_five(project: Any) -> None:
    from datetime import timedelta

    from alerts.firing import firing_now
    from alerts.models import RuleInstance

    rule = make_rule(project, group_by=["model"])
    now = datetime.now(timezone.utc)
    for i in range(7):
        instance = RuleInstance.objects.create(rule=rule, group_key=f'["m{i}"]', group={"model": f"m{i}"},
                                               state="firing", since=now)
        Incident.objects.create(project=project, rule=rule, instance=instance, group=instance.group,
                                severity="critical" if i < 2 else "warning", opened_at=now - timedelta(minutes=i),
                                resolved_at=now if i == 6 else None)
    firing = firing_now(project_id=project.id)
    assert (firing.count, firing.critical, firing.more) == (6, 2, 1)
    assert [i.group["model"] for i in firing.incidents] == ["m0", "m1", "m2", "m3", "m4"]


def test_project_settings_list_the_alert_channels(owner: Any, viewer_client: Client, project: Any) -> None:
    channel, _ = services.channel_create(project=project, actor=None, kind="email", name="<b>finance</b>",
                                         config={"to": ["f@example.com"]})
    Channel.objects.filter(pk=channel.pk).update(disabled_reason="SMTP refused the sender")
    page = _client(owner).get(f"/projects/{project.id}/settings/").content.decode()
    section = page[page.index('data-testid="settings-channels"'):]
    section = section[:section.index("</section>")]
    assert "&lt;b&gt;finance&lt;/b&gt;" in section and "<b>finance" not in section
    assert f"/alerts/channels/{channel.id}" in section and "SMTP refused the sender" in section
    assert 'href="#alert-channels"' in page
    viewer_page = viewer_client.get(f"/projects/{project.id}/settings/").content.decode()
    assert "&lt;b&gt;finance&lt;/b&gt;" in viewer_page and f"/alerts/channels/{channel.id}" not in viewer_page
    assert "/alerts/channels/new" not in viewer_page


def test_the_rule_form_chooses_what_firing_does(owner: Any, project: Any) -> None:
    client = _client(owner)
    form = client.get(f"/projects/{project.id}/alerts/rules/new").content.decode()
    assert 'value="sample_into_queue"' in form and 'value="rollback_label"' in form
    assert re.search(r'value="notify"[^>]*checked', form), "notify is ticked for a new rule"
    base = {"name": "hallucinations", "measure": "error_rate", "condition": "threshold", "op": "above",
            "critical": "0.05", "window_minutes": "60", "min_count": "0", "pending_minutes": "0",
            "recovery_hysteresis": "0", "no_data_policy": "ok", "renotify_minutes": "0", "severity": "critical",
            "enabled": "on"}
    response = client.post(f"/projects/{project.id}/alerts/rules/new",
                           {**base, "actions_shown": "1", "actions": ["notify", "sample_into_queue"]})
    assert response.status_code == 302, response.content.decode()[-2000:]
    rule = Rule.objects.get(name="hallucinations")
    assert sorted(rule.actions) == ["notify", "sample_into_queue"]
    edit = client.get(f"/projects/{project.id}/alerts/rules/{rule.id}").content.decode()
    assert re.search(r'value="sample_into_queue"[^>]*checked', edit)
    # Unticking every action keeps the incidents and sends nothing; a client without the field keeps them.
    client.post(f"/projects/{project.id}/alerts/rules/{rule.id}", {**base, "actions_shown": "1"})
    assert Rule.objects.get(pk=rule.pk).actions == []
    client.post(f"/projects/{project.id}/alerts/rules/new", {**base, "name": "plain"})
    assert Rule.objects.get(name="plain").actions == ["notify"]
