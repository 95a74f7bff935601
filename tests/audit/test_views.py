"""The audit log page: owners and admins only, newest first, filters, pages, escaped values."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from audit.services import audit_record
from tenancy.services import api_key_create, project_retention_update

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def url(project: Any) -> str:
    return f"/projects/{project.id}/settings/audit/"


def test_owners_and_admins_see_the_log(project: Any, owner: Any, owner_client: Client, admin_client: Client) -> None:
    api_key_create(project=project, scopes=["read"], name="ci", created_by=owner)
    for client in (owner_client, admin_client):
        response = client.get(url(project))
        assert response.status_code == 200
        body = response.content.decode()
        assert "api_key.created" in body and "ci" in body
        assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("who", ["member_client", "viewer_client"])
def test_members_and_viewers_get_403(project: Any, who: str, request: pytest.FixtureRequest) -> None:
    assert request.getfixturevalue(who).get(url(project)).status_code == 403


def test_outsiders_get_404_and_strangers_sign_in(project: Any, outsider_client: Client) -> None:
    assert outsider_client.get(url(project)).status_code == 404
    response = Client().get(url(project))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_settings_link_to_the_log_only_for_managers(project: Any, owner_client: Client,
                                                     member_client: Client) -> None:
    assert url(project) in owner_client.get(f"/projects/{project.id}/settings/").content.decode()
    assert url(project) not in member_client.get(f"/projects/{project.id}/settings/").content.decode()


def test_values_are_escaped(project: Any, owner: Any, owner_client: Client) -> None:
    api_key_create(project=project, scopes=["read"], name=XSS, created_by=owner)
    with transaction.atomic():
        audit_record(actor=owner, action="judge.changed", organization=project.organization_id, project=project,
                     target_label=XSS, before={"criterion": XSS}, after={XSS: [XSS]})
    body = owner_client.get(url(project)).content.decode()
    assert "<script>alert(1)</script>" not in body and 'onerror="alert(2)"' not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_before_and_after_are_shown(project: Any, owner: Any, owner_client: Client) -> None:
    project_retention_update(project=project, payload_days=3, call_days=None, hour_rollup_days=None,
                             day_rollup_days=None, actor=owner)
    body = owner_client.get(url(project), {"action": "retention.changed"}).content.decode()
    assert '<th scope="row">payload_days</th>' in body
    assert '<del class="audit-before">—</del>' in body and '<ins class="audit-after">3</ins>' in body


def test_filters_by_action_and_actor_and_an_empty_state(project: Any, owner: Any, owner_client: Client) -> None:
    api_key_create(project=project, scopes=["read"], name="by-owner", created_by=owner)
    api_key_create(project=project, scopes=["read"], name="by-command")
    body = owner_client.get(url(project), {"actor": "owner", "action": "api_key.created"}).content.decode()
    assert "by-owner" in body and "by-command" not in body
    body = owner_client.get(url(project), {"action": "judge.deleted"}).content.decode()
    assert 'data-testid="audit-empty"' in body and "No entries match" in body


def test_pages_go_back_in_time_without_repeats(project: Any, owner_client: Client) -> None:
    for i in range(55):
        api_key_create(project=project, scopes=["read"], name=f"key-{i:02d}")
    first = owner_client.get(url(project), {"action": "api_key.created"})
    rows = first.content.decode().count('data-testid="audit-row"')
    assert rows == 50 and "key-54" in first.content.decode()
    cursor = first.context["next_cursor"]
    second = owner_client.get(url(project), {"action": "api_key.created", "cursor": cursor}).content.decode()
    assert second.count('data-testid="audit-row"') == 5 and "key-00" in second and "key-54" not in second
    bad = owner_client.get(url(project), {"cursor": "!!not-a-cursor"})
    assert bad.status_code == 200 and "not valid" in bad.content.decode()


def test_other_projects_entries_are_not_shown(project: Any, other_project: Any, owner_client: Client) -> None:
    api_key_create(project=other_project, scopes=["read"], name="elsewhere-key")
    assert "elsewhere-key" not in owner_client.get(url(project)).content.decode()


def test_settings_changes_through_the_page_are_audited(project: Any, owner_client: Client) -> None:
    response = owner_client.post(f"/projects/{project.id}/settings/keys/", {"name": "web", "scopes": ["read"]})
    assert response.status_code == 302
    from audit.models import AuditEntry

    entry = AuditEntry.objects.filter(action="api_key.created").latest("id")
    assert entry.actor_label == "owner" and entry.after["name"] == "web"
    response = owner_client.post(f"/projects/{project.id}/settings/quality/",
                                 {"evaluate": "on", "enabled_evaluators": ["pii"], "redaction": "off",
                                  "sample_rate": "0.25", "score_directions": ""})
    assert response.status_code == 302, response.content
    entry = AuditEntry.objects.filter(action="evaluator.changed").latest("id")
    assert entry.actor_label == "owner" and entry.after["sample_rate"] == 0.25
