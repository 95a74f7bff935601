"""GET /api/v1/audit: read keys and signed-in owners and admins, filters, cursor pages, one error shape."""
from __future__ import annotations

from typing import Any

from django.test import Client

from tenancy.services import api_key_create
from tests.conftest import Api


def test_a_read_key_lists_its_projects_entries(project: Any, other_project: Any, reader: Api) -> None:
    api_key_create(project=project, scopes=["ingest"], name="mine")
    api_key_create(project=other_project, scopes=["ingest"], name="theirs")
    response = reader.get("/api/v1/audit")
    assert response.status_code == 200
    data = response.json()["data"]
    labels = [e["target"]["label"] for e in data]
    assert any("mine" in label for label in labels) and not any("theirs" in label for label in labels)
    entry = next(e for e in data if "mine" in e["target"]["label"])
    assert entry["action"] == "api_key.created" and entry["actor"]["label"] == "system"
    assert entry["after"]["name"] == "mine" and entry["before"] is None


def test_an_ingest_key_is_refused(project: Any, api: Api) -> None:
    response = api.get("/api/v1/audit")
    assert response.status_code == 403 and response.json()["error"]["code"]


def test_no_key_is_401(project: Any) -> None:
    response = Client().get("/api/v1/audit")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_cursor_pages_and_filters(project: Any, reader: Api) -> None:
    for i in range(7):
        api_key_create(project=project, scopes=["ingest"], name=f"k{i}")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, "action": "api_key.created"} | ({"cursor": cursor} if cursor else {})
        body = reader.get("/api/v1/audit", **params).json()
        seen += [e["id"] for e in body["data"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 8  # the 7 and the read key of the fixture
    assert seen == sorted(seen, reverse=True)
    assert reader.get("/api/v1/audit", action="membership.removed").json()["data"] == []


def test_bad_parameters_are_400_with_the_error_shape(project: Any, reader: Api) -> None:
    for params in ({"limit": "0"}, {"limit": "x"}, {"limit": "100000"}, {"cursor": "%%%"}):
        response = reader.get("/api/v1/audit", **params)
        assert response.status_code == 400, params
        assert set(response.json()["error"]) >= {"code", "message"}


def test_signed_in_owners_and_admins_only(project: Any, owner_client: Client, admin_client: Client,
                                          member_client: Client, outsider_client: Client) -> None:
    assert owner_client.get("/api/v1/audit", {"project": project.id}).status_code == 200
    assert admin_client.get("/api/v1/audit", {"project": project.id}).status_code == 200
    assert member_client.get("/api/v1/audit", {"project": project.id}).status_code == 403
    assert outsider_client.get("/api/v1/audit", {"project": project.id}).status_code == 404
    assert owner_client.get("/api/v1/audit").status_code == 400  # which project?


def test_the_schema_describes_the_endpoints() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    audit = schema["paths"]["/api/v1/audit"]["get"]
    assert {"200", "400", "401", "403", "404", "429"} <= set(audit["responses"])
    assert "/api/v1/end-users/{user_id}" in schema["paths"]
    erase = schema["paths"]["/api/v1/end-users/{user_id}"]["delete"]
    assert "202" in erase["responses"]
    assert "/api/v1/end-users/{user_id}/export" in schema["paths"]
