"""The prompt pages: list (empty state), a prompt with versions, labels, history and per-version
metrics from the rollups, forms with roles, diff and preview; untrusted prompt text escaped."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.test import Client

from prompts import selectors
from prompts.services import prompt_version_create
from telemetry.services import project_process
from tests.conftest import Api, call_event
from tests.prompts.conftest import OWNER

pytestmark = pytest.mark.django_db
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_list_has_an_empty_state_and_a_nav_tab(owner: Any, project: Any) -> None:
    html = _client(owner).get(f"/projects/{project.id}/prompts/").content.decode()
    assert 'data-testid="prompts-empty"' in html and "Create the first prompt" in html
    assert re.search(rf'href="/projects/{project.id}/prompts/\?range=24h" aria-current="page">Prompts</a>', html)
    overview = _client(owner).get(f"/projects/{project.id}/").content.decode()
    assert f'href="/projects/{project.id}/prompts/?range=24h"' in overview


def test_strangers_get_404(outsider: Any, project: Any, greeting: Any) -> None:
    client = _client(outsider)
    assert client.get(f"/projects/{project.id}/prompts/").status_code == 404
    assert client.get(f"/projects/{project.id}/prompts/{greeting.id}/").status_code == 404


def test_prompt_text_is_escaped_on_every_page(owner: Any, project: Any) -> None:
    v1 = prompt_version_create(project=project, name=f"evil {XSS}", kind="text", template=f"Hi {XSS} {{{{name}}}}",
                               config={"model": XSS}, commit_message=XSS, labels=["production"], actor=OWNER)
    prompt_version_create(project=project, name=v1.prompt.name, kind="chat", actor=OWNER,
                          template=[{"role": XSS, "content": f"{XSS} {{{{name}}}}"}])
    client = _client(owner)
    base = f"/projects/{project.id}/prompts/"
    pages = [base, f"{base}{v1.prompt_id}/", f"{base}{v1.prompt_id}/diff?from=1&to=2",
             f"{base}{v1.prompt_id}/preview?version=1&var_name={XSS}", f"{base}{v1.prompt_id}/versions/new"]
    for url in pages:
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url


def test_the_prompt_page_shows_metrics_per_version_of_this_prompt_only(owner: Any, project: Any, greeting: Any,
                                                                       full_api: Api, prices: None) -> None:
    now = datetime.now(timezone.utc)
    events = []
    for i in range(6):
        version = "1" if i < 4 else "2"
        events.append(call_event(i, timestamp=(now - timedelta(minutes=10 + i)).isoformat(), latency_ms=100 * (i + 1),
                                 prompt={"name": "greeting", "version": version}))
    # Another prompt's version 1 must not count for greeting v1.
    events.append(call_event(50, timestamp=(now - timedelta(minutes=5)).isoformat(),
                             prompt={"name": "other", "version": "1"}))
    events.append({"type": "feedback", "call_id": "call-0", "thumbs": "down"})
    assert full_api.ingest(events).status_code == 202
    while project_process(project_id=project.id):
        pass
    metrics = selectors.version_metrics(project_id=project.id, name="greeting", versions=[2, 1],
                                        start=now - timedelta(hours=1), end=now + timedelta(minutes=1))
    assert metrics[1]["calls"] == 4 and metrics[2]["calls"] == 2
    assert metrics[1]["latency_p50"] is not None and metrics[1]["cost_per_call"] > 0
    assert metrics[1]["thumbs_down_rate"] == pytest.approx(1.0)
    html = _client(owner).get(f"/projects/{project.id}/prompts/{greeting.id}/?range=24h").content.decode()
    assert html.count('data-testid="metrics-row"') == 2
    assert "<td>v1</td><td>4</td>" in html and "<td>v2</td><td>2</td>" in html


def test_members_create_versions_and_move_unprotected_labels_only(member: Any, owner: Any, project: Any,
                                                                  greeting: Any) -> None:
    client = _client(member)
    base = f"/projects/{project.id}/prompts/{greeting.id}/"
    response = client.post(base + "versions/new", {"type": "text", "template": "Yo {{name}}", "config": "",
                                                   "commit_message": "shorter", "labels": "canary"})
    assert response.status_code == 302
    assert selectors.resolve(project=project, name="greeting", label="canary").version.version == 3
    refused = client.post(base + "labels", {"label": "production", "version": 3})
    assert refused.status_code == 400 and "protected label" in refused.content.decode()
    assert selectors.resolve(project=project, name="greeting").version.version == 1
    assert client.post(base + "labels", {"label": "staging", "version": 3}).status_code == 302
    assert _client(owner).post(base + "labels", {"label": "production", "version": 3}).status_code == 302
    assert selectors.resolve(project=project, name="greeting").version.version == 3


def test_a_malformed_template_is_shown_on_the_form(owner: Any, project: Any) -> None:
    response = _client(owner).post(f"/projects/{project.id}/prompts/new",
                                   {"name": "p", "type": "text", "template": "Hi {{name", "config": ""})
    assert response.status_code == 400 and "never closed" in response.content.decode()


def test_viewers_cannot_write(db: Any, org: Any, project: Any, greeting: Any) -> None:
    from django.contrib.auth import get_user_model

    from tenancy.models import Role
    from tenancy.services import membership_set

    viewer = get_user_model().objects.create_user("viewer", "v@example.com", "pw-viewer-123")
    membership_set(organization=org, user=viewer, role=Role.VIEWER)
    client = _client(viewer)
    html = client.get(f"/projects/{project.id}/prompts/{greeting.id}/").content.decode()
    assert 'data-testid="label-form"' not in html and 'data-testid="new-version"' not in html
    assert client.post(f"/projects/{project.id}/prompts/{greeting.id}/labels",
                       {"label": "staging", "version": 1}).status_code == 403


def test_preview_names_missing_variables_and_htmx_gets_the_fragment(owner: Any, project: Any, greeting: Any) -> None:
    url = f"/projects/{project.id}/prompts/{greeting.id}/preview"
    client = _client(owner)
    ok = client.get(url, {"version": 1, "var_name": "Ana"}, HTTP_HX_REQUEST="true")
    assert ok.content.decode().strip().startswith('<div id="preview-result"') and "Hello Ana!" in ok.content.decode()
    assert "missing variable" not in ok.content.decode()
    page = client.get(url, {"version": 2}).content.decode()
    assert 'for="var-topic"' in page


def test_the_guard_form_arms_a_guard_with_the_rights_to_move_its_label(member: Any, owner: Any, project: Any,
                                                                      greeting: Any) -> None:
    base = f"/projects/{project.id}/prompts/{greeting.id}/"
    fields = {"label": "production", "metric": "score_avg", "score": "judge.helpful", "compare": "previous",
              "threshold": "0.02", "min_sample": "200", "window_minutes": "60"}
    html = _client(owner).get(base).content.decode()
    assert 'data-testid="guard-new"' in html and 'id="guard-compare"' in html
    refused = _client(member).post(base + "guards/new", fields, follow=True)
    assert "protected label" in refused.content.decode() and not greeting.guards.exists()
    missing = _client(owner).post(base + "guards/new", {**fields, "score": ""}, follow=True)
    assert "names its score" in missing.content.decode() and not greeting.guards.exists()
    assert _client(owner).post(base + "guards/new", fields).status_code == 302
    guard = greeting.guards.get()
    assert (guard.metric, guard.score, guard.compare, guard.threshold, guard.min_sample) == (
        "score_avg", "judge.helpful", "previous", 0.02, 200)
    assert "worse than the previous version by more than 0.02" in _client(owner).get(base).content.decode()
