"""API keys: shown once, stored hashed, scoped, revocable, last use recorded."""
from __future__ import annotations

import hashlib
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tenancy.models import ApiKey
from tenancy.services import api_key_create
from tests.conftest import Api, call_event

pytestmark = pytest.mark.django_db


def test_only_the_hash_and_a_prefix_are_stored(project: Any) -> None:
    issued = api_key_create(project=project, scopes=["ingest"])
    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.raw_key.startswith("obs_") and len(issued.raw_key) > 40
    assert stored.hashed_key == hashlib.sha256(issued.raw_key.encode()).hexdigest()
    assert issued.raw_key.startswith(stored.prefix)
    assert issued.raw_key not in str([getattr(stored, f.attname) for f in ApiKey._meta.fields])


def test_scopes_must_be_known(project: Any) -> None:
    with pytest.raises(ValueError):
        api_key_create(project=project, scopes=["admin"])
    with pytest.raises(ValueError):
        api_key_create(project=project, scopes=[])


def test_use_sets_last_used_at(project: Any) -> None:
    issued = api_key_create(project=project, scopes=["ingest"])
    assert Api(issued.raw_key).ingest([call_event()]).status_code == 202
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at is not None


def test_management_command_prints_a_working_key(project: Any) -> None:
    out = StringIO()
    call_command("create_api_key", f"{project.organization.slug}/{project.slug}", "--scopes", "ingest,read",
                 stdout=out)
    raw = out.getvalue().strip()
    assert Api(raw).ingest([call_event()]).status_code == 202
    assert Api(raw).get("/api/v1/calls").status_code == 200
    with pytest.raises(CommandError):
        call_command("create_api_key", "nope/nope")


def test_first_run_setup_happens_once(db: Any) -> None:
    out = StringIO()
    call_command("observatory_init", stdout=out)
    text = out.getvalue()
    assert "password:" in text and "obs_" in text and "curl -X POST" in text
    again = StringIO()
    call_command("observatory_init", stdout=again)
    assert "already initialised" in again.getvalue()


def test_admin_creates_a_key_and_shows_it_once(project: Any, owner: Any) -> None:
    from django.test import Client

    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = Client()
    client.force_login(owner)
    response = client.post("/admin/tenancy/apikey/add/", {"project": project.id, "name": "ci", "scopes": ["read"]},
                           follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    raw = next(m.split(": ", 1)[1] for m in messages if "New API key" in m)
    key = ApiKey.objects.get(name="ci")
    assert key.scopes == ["read"] and raw.startswith(key.prefix)
    assert Api(raw).get("/api/v1/calls").status_code == 200


@pytest.mark.django_db
def test_a_key_naming_another_project_is_refused_by_every_api(full_key: str, project: Any,
                                                              other_project: Any) -> None:
    from tests.conftest import Api

    api = Api(full_key)
    for path in ("/api/v1/calls", "/api/v1/audit", "/api/v1/drift/runs", "/api/v1/prompts"):
        refused = api.get(path, project=other_project.id)
        assert refused.status_code == 403, (path, refused.content)
        assert f"reaches project {project.id} only" in refused.json()["error"]["message"], path
        assert api.get(path, project="null").status_code == 400, path
        assert api.get(path, project=project.id).status_code == 200, path  # its own project is fine
