"""The native prompts API: fetch by label, version and unit with ETag and 304, writes with the
prompts scope or a member's session, protected labels, diffs, rendering errors, experiments."""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, override_settings

from tests.conftest import Api

pytestmark = pytest.mark.django_db


def _send(api: Api, method: str, path: str, body: Any = None, **headers: str) -> Any:
    return getattr(api.client, method)(path, data=json.dumps(body) if body is not None else None,
                                       content_type="application/json", **api._auth(headers))


def test_get_answers_the_production_version_with_etag_and_cache_control(reader: Api, greeting: Any) -> None:
    with override_settings(PROMPT_CACHE_SECONDS=30):
        response = reader.get("/api/v1/prompts/greeting")
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["labels"], body["variables"]) == (1, ["production"], ["name"])
    assert body["prompt"] == "Hello {{name}}!" and body["config"]["temperature"] == 0.2
    assert body["experiment"] is None
    assert "max-age=30" in response["Cache-Control"] and "private" in response["Cache-Control"]
    etag = response["ETag"]
    again = reader.client.get("/api/v1/prompts/greeting", HTTP_AUTHORIZATION=f"Bearer {reader.key}",
                              HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    assert reader.get("/api/v1/prompts/greeting", label="staging").json()["version"] == 2
    assert reader.get("/api/v1/prompts/greeting", version=2).json()["labels"] == ["staging", "latest"]


def test_a_moved_label_changes_the_etag(reader: Api, writer: Api, greeting: Any) -> None:
    etag = reader.get("/api/v1/prompts/greeting")["ETag"]
    moved = _send(writer, "put", "/api/v1/prompts/greeting/labels/production", {"version": 2, "reason": "ok"})
    assert moved.status_code == 200 and moved.json()["version"] == 2
    response = reader.client.get("/api/v1/prompts/greeting", HTTP_AUTHORIZATION=f"Bearer {reader.key}",
                                 HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response.json()["version"] == 2


@pytest.mark.parametrize(("params", "status", "field"), [
    ({"label": "nope"}, 404, "label"), ({"version": 9}, 404, "version"), ({"version": "x"}, 400, "version"),
    ({"label": "production", "version": 1}, 400, "label"),
])
def test_bad_fetches_name_the_parameter(reader: Api, greeting: Any, params: dict[str, Any], status: int,
                                        field: str) -> None:
    response = reader.get("/api/v1/prompts/greeting", **params)
    assert response.status_code == status and field in response.json()["error"]["details"]


def test_an_unknown_prompt_and_another_projects_prompt_are_404(reader: Api, other_project: Any) -> None:
    from prompts.services import prompt_version_create
    from tests.prompts.conftest import OWNER

    prompt_version_create(project=other_project, name="secret", kind="text", template="x", labels=["production"],
                          actor=OWNER)
    assert reader.get("/api/v1/prompts/secret").status_code == 404


def test_writes_need_the_prompts_scope(full_api: Api, reader: Api) -> None:
    response = _send(full_api, "post", "/api/v1/prompts/p/versions", {"prompt": "x"})
    assert response.status_code == 403 and "prompts" in response.json()["error"]["message"]


def test_create_versions_text_and_chat_with_folders(writer: Api) -> None:
    created = _send(writer, "post", "/api/v1/prompts/support/triage/versions",
                    {"prompt": "Classify {{ticket}}", "config": {"model": "gpt-4.1"}, "labels": ["staging"],
                     "commit_message": "first", "tags": ["support"]})
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "support/triage" and created.json()["labels"] == ["staging", "latest"]
    chat = _send(writer, "post", "/api/v1/prompts/support/triage/versions",
                 {"type": "chat", "prompt": [{"role": "system", "content": "Be {{tone}}"},
                                             {"role": "user", "content": "{{ticket}}"}]})
    assert chat.status_code == 201 and chat.json()["version"] == 2 and chat.json()["variables"] == ["tone", "ticket"]
    assert writer.get("/api/v1/prompts/support%2Ftriage", label="latest").json()["version"] == 2
    listed = writer.get("/api/v1/prompts").json()["data"]
    assert listed == [{**listed[0], "name": "support/triage", "latest_version": 2, "versions": 2,
                       "labels": {"staging": 1}, "tags": ["support"]}]
    versions = writer.get("/api/v1/prompts/support/triage/versions").json()["data"]
    assert [v["version"] for v in versions] == [2, 1]


def test_a_malformed_template_is_a_400_naming_it(writer: Api) -> None:
    response = _send(writer, "post", "/api/v1/prompts/p/versions",
                     {"type": "chat", "prompt": [{"role": "user", "content": "Hi {{name"}]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_template" and "prompt[0].content" in error["details"]
    assert "never closed" in error["message"]


def test_render_names_unknown_and_missing_variables(reader: Api, greeting: Any) -> None:
    ok = _send(reader, "post", "/api/v1/prompts/greeting/render", {"variables": {"name": "Ana"}})
    assert ok.status_code == 200 and ok.json() == {"version": 1, "prompt": "Hello Ana!"}
    bad = _send(reader, "post", "/api/v1/prompts/greeting/render", {"label": "staging", "variables": {"nme": "x"}})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == {"name": "missing", "topic": "missing", "nme": "unknown variable"}


def test_diff_between_two_versions(reader: Api, greeting: Any) -> None:
    lines = reader.get("/api/v1/prompts/greeting/diff", **{"from": 1, "to": 2}).json()["lines"]
    assert {"op": "-", "text": "Hello {{name}}!"} in lines
    assert {"op": "+", "text": "Hi {{ name }}, about {{topic}}?"} in lines
    assert reader.get("/api/v1/prompts/greeting/diff", **{"from": 1}).status_code == 400


def test_members_move_only_unprotected_labels_and_viewers_nothing(client: Client, org: Any, project: Any, member: Any,
                                                                  owner: Any, greeting: Any) -> None:
    from tenancy.models import Role
    from tenancy.services import membership_set

    client.force_login(member)
    url = f"/api/v1/prompts/greeting/labels/{{}}?project={project.id}"
    response = client.put(url.format("production"), data=json.dumps({"version": 2}), content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "protected_label"
    assert client.put(url.format("staging"), data=json.dumps({"version": 1}),
                      content_type="application/json").status_code == 200
    membership_set(organization=org, user=member, role=Role.VIEWER)
    assert client.put(url.format("staging"), data=json.dumps({"version": 2}),
                      content_type="application/json").status_code == 403
    client.force_login(owner)
    assert client.put(url.format("production"), data=json.dumps({"version": 2}),
                      content_type="application/json").status_code == 200


def test_experiment_by_unit_says_which_experiment_and_arm(reader: Api, writer: Api, greeting: Any) -> None:
    started = _send(writer, "post", "/api/v1/prompts/greeting/experiments",
                    {"label": "production", "arms": [{"version": 1, "weight": 0.5}, {"version": 2, "weight": 0.5}],
                     "salt": "fixed", "name": "shorter greeting"})
    assert started.status_code == 201, started.content
    experiment = started.json()
    from prompts.assignment import assign

    arm = assign("fixed", "user-42", [0.5, 0.5])
    body = reader.get("/api/v1/prompts/greeting", label="production", unit="user-42").json()
    assert body["version"] == arm + 1
    assert body["experiment"]["id"] == experiment["id"] and body["experiment"]["arm"] == arm
    assert body["experiment"]["salt"] == "fixed"
    shipped = _send(writer, "post", f"/api/v1/prompts/greeting/experiments/{experiment['id']}/ship", {"version": 2})
    assert shipped.status_code == 200 and shipped.json()["status"] == "shipped"
    assert reader.get("/api/v1/prompts/greeting", unit="user-42").json()["version"] == 2
    again = _send(writer, "post", f"/api/v1/prompts/greeting/experiments/{experiment['id']}/stop", {})
    assert again.status_code == 409


def test_the_schema_lists_every_status(client: Client) -> None:
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    get = paths["/api/v1/prompts/{name}"]["get"]["responses"]
    assert {"200", "304", "400", "401", "403", "404", "429", "503"} <= set(get)
    assert {"201", "400", "403", "404", "409"} <= set(paths["/api/v1/prompts/{name}/versions"]["post"]["responses"])
    assert "patch" in paths["/api/public/v2/prompts/{name}/versions/{version}"]
