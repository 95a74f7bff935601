"""End users' data through the API and the pages: export, erase (confirmation typed), status, rights;
and one erasure carried out by a real Celery worker."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from privacy.models import Erasure, ErasureStatus
from telemetry.models import Call
from tests.audit.test_erasure import OTHER, SUBJECT, events, process, rows_holding, totals
from tests.conftest import Api
from tests.processes import celery_worker, wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def subject_path(suffix: str = "") -> str:
    return f"/api/v1/end-users/{quote(SUBJECT)}{suffix}"


def delete(api: Api, path: str) -> Any:
    return api.client.delete(path, **api._auth({}))


@pytest.fixture
def seeded(full_api: Api, project: Any, prices: None) -> Any:
    assert full_api.ingest(events()).status_code == 202
    process(project)
    return project


def test_export_over_the_api(seeded: Any, reader: Api, other_project: Any) -> None:
    response = reader.get(subject_path("/export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    document = json.loads(b"".join(response.streaming_content))
    assert len(document["calls"]) == 6 and OTHER not in json.dumps(document)


def test_a_key_of_another_project_exports_nothing_of_this_one(seeded: Any, other_project: Any) -> None:
    from tenancy.services import api_key_create

    other = Api(api_key_create(project=other_project, scopes=["read", "ingest"]).raw_key)
    document = json.loads(b"".join(other.get(subject_path("/export")).streaming_content))
    assert document["calls"] == []


def test_erasing_needs_the_ingest_scope_and_managers(seeded: Any, reader: Api, member_client: Client,
                                                     outsider_client: Client) -> None:
    assert delete(reader, subject_path()).status_code == 403
    assert member_client.delete(subject_path() + f"?project={seeded.id}").status_code == 403
    assert outsider_client.delete(subject_path() + f"?project={seeded.id}").status_code == 404
    assert member_client.get(subject_path("/export") + f"?project={seeded.id}").status_code == 403
    assert Call.objects.filter(user_id=SUBJECT).count() == 6


def test_an_unknown_erasure_is_404(project: Any, full_api: Api) -> None:
    response = full_api.get("/api/v1/erasures/999999")
    assert response.status_code == 404 and response.json()["error"]["code"]


def test_the_page_asks_for_the_id_typed_again(seeded: Any, owner_client: Client,
                                              django_capture_on_commit_callbacks: Any, monkeypatch: Any) -> None:
    from privacy import tasks

    monkeypatch.setattr(tasks.erase_end_user, "delay", lambda *args: tasks.erase_end_user.apply(args=args))
    page = f"/projects/{seeded.id}/users/{quote(SUBJECT)}"
    detail = owner_client.get(page).content.decode()
    assert reverse("end-user-erase", args=[seeded.id, SUBJECT]) in detail
    assert reverse("end-user-export", args=[seeded.id, SUBJECT]) in detail
    form = owner_client.get(f"{page}/erase")
    assert form.status_code == 200 and 'name="confirm"' in form.content.decode()
    wrong = owner_client.post(f"{page}/erase", {"confirm": SUBJECT.upper()})
    assert wrong.status_code == 400 and "nothing was erased" in wrong.content.decode()
    assert Call.objects.filter(user_id=SUBJECT).count() == 6
    with django_capture_on_commit_callbacks(execute=True):
        done = owner_client.post(f"{page}/erase", {"confirm": SUBJECT})
    assert done.status_code == 302
    erasure = Erasure.objects.get(project=seeded)
    assert done["Location"] == f"/projects/{seeded.id}/erasures/{erasure.id}/"
    status = owner_client.get(done["Location"]).content.decode()
    assert "Done" in status and "telemetry_call" in status
    assert rows_holding(SUBJECT) == {}
    assert AuditEntry.objects.get(action="end_user.erased").actor_label == "owner"


def test_members_see_no_privacy_actions(seeded: Any, member_client: Client) -> None:
    page = f"/projects/{seeded.id}/users/{quote(SUBJECT)}"
    assert "/erase" not in member_client.get(page).content.decode()
    assert member_client.get(f"{page}/erase").status_code == 403
    assert member_client.post(f"{page}/erase", {"confirm": SUBJECT}).status_code == 403
    assert member_client.get(f"{page}/export").status_code == 403


def test_the_page_export_downloads_json(seeded: Any, owner_client: Client) -> None:
    response = owner_client.get(f"/projects/{seeded.id}/users/{quote(SUBJECT)}/export")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert len(json.loads(b"".join(response.streaming_content))["calls"]) == 6


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_erases_what_the_api_asked(full_api: Api, project: Any, prices: None) -> None:
    assert full_api.ingest(events()).status_code == 202
    process(project)
    before = totals(project.id)
    ARTIFACTS.mkdir(exist_ok=True)
    with celery_worker(log_path=ARTIFACTS / "worker-erasure.log"):
        response = delete(full_api, subject_path())
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["status"] in ("queued", "running", "done") and response["Location"] == body["status_url"]
        wait_for(lambda: full_api.get(body["status_url"]).json()["status"] in ("done", "failed"), timeout=60,
                 what="the worker to erase")
    final = full_api.get(body["status_url"]).json()
    assert final["status"] == ErasureStatus.DONE, final
    assert final["rows_removed"]["telemetry_call"] == 6
    assert rows_holding(SUBJECT) == {}
    assert totals(project.id) == before
    receipt = AuditEntry.objects.get(action="end_user.erased")
    assert receipt.actor_kind == "api_key" and receipt.after["erasure_request"] == body["id"]
