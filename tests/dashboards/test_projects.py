"""Creating a project in the UI: owners and admins of an organization, nobody else."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from tenancy.models import Project

pytestmark = pytest.mark.django_db


def test_an_owner_creates_a_project_and_lands_on_getting_started(owner_client: Client, project: Any) -> None:
    form = owner_client.get("/projects/new")
    assert form.status_code == 200 and project.organization.name in form.content.decode()
    response = owner_client.post("/projects/new", {"name": project.name, "organization": project.organization_id})
    created = Project.objects.exclude(pk=project.pk).get(organization=project.organization)
    assert response.status_code == 302 and response["Location"] == f"/projects/{created.pk}/start/"
    assert created.name == project.name and created.slug == f"{project.slug}-2"  # the slug was taken
    assert AuditEntry.objects.filter(action="project.created", target_id=str(created.pk)).exists()


def test_an_admin_may_and_members_and_viewers_may_not(admin_client: Client, member_client: Client,
                                                      viewer_client: Client, project: Any) -> None:
    assert admin_client.post("/projects/new", {"name": "Search", "organization": project.organization_id}
                             ).status_code == 302
    for client in (member_client, viewer_client):
        assert client.get("/projects/new").status_code == 403
        assert client.post("/projects/new", {"name": "Nope", "organization": project.organization_id}
                           ).status_code == 403
    assert sorted(Project.objects.values_list("name", flat=True)) == sorted([project.name, "Search"])


def test_a_bad_name_or_another_organization_is_refused(owner_client: Client, project: Any,
                                                       other_project: Any) -> None:
    empty = owner_client.post("/projects/new", {"name": "  ", "organization": project.organization_id})
    assert empty.status_code == 400 and "A name of 1 to 100 characters." in empty.content.decode()
    foreign = owner_client.post("/projects/new", {"name": "X", "organization": other_project.organization_id})
    assert foreign.status_code == 400 and "Choose one of your organizations." in foreign.content.decode()
    assert Project.objects.count() == 2
