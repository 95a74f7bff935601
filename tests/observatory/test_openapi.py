"""The OpenAPI document (observatory/openapi.py and the APIs' declarations): the key schemes on every
operation, every status the shared machinery adds, JSON-only bodies, and limits stated in the schema."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

UNAUTHENTICATED = {("get", "/api/public/health")}


@pytest.fixture(scope="module")
def document(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method in {"get", "post", "patch", "put", "delete"}]


def test_it_describes_the_project_key_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["ProjectKey"] == {**schemes["ProjectKey"], "type": "http", "scheme": "bearer"}
    assert schemes["ProjectKeyHeader"] == {**schemes["ProjectKeyHeader"], "type": "apiKey", "in": "header",
                                           "name": "X-API-Key"}
    assert schemes["ProjectKeyBasic"]["scheme"] == "basic"


def test_every_operation_takes_a_key_and_lists_what_auth_throttling_and_outages_answer(
        document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if (method, path) in UNAUTHENTICATED:
            continue
        assert {"ProjectKey": []} in operation["security"], (method, path)
        assert {"ProjectKeyHeader": []} in operation["security"], (method, path)
        responses = operation["responses"]
        assert {"401", "403", "429", "503"} <= set(responses), (method, path)
        assert responses["503"]["headers"]["Retry-After"]["required"] is True, (method, path)
        assert "Retry-After" in responses["429"]["headers"], (method, path)
        assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)


def test_langfuse_and_otlp_operations_also_take_basic_auth(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if (path.startswith("/api/public/") or path.endswith("/v1/traces")) and (method, path) not in UNAUTHENTICATED:
            assert {"ProjectKeyBasic": []} in operation["security"], (method, path)


def test_errors_have_the_one_error_shape(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    response = document["paths"]["/api/v1/ingest"]["post"]["responses"]["413"]
    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_no_operation_offers_form_or_multipart_bodies(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        media_types = set(operation.get("requestBody", {}).get("content", {}))
        assert not media_types & {"application/x-www-form-urlencoded", "multipart/form-data"}, (method, path)


def test_otlp_takes_and_answers_protobuf_or_json(document: dict[str, Any]) -> None:
    for path in ("/v1/traces", "/api/v1/otlp/v1/traces", "/api/public/otel/v1/traces"):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"]["required"] is True
        assert set(operation["requestBody"]["content"]) == {"application/x-protobuf", "application/json"}
        for status in ("200", "400", "413", "415", "429", "503"):
            assert set(operation["responses"][status]["content"]) == {"application/x-protobuf", "application/json"}


def test_ingest_states_its_batch_limits_and_statuses(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/ingest"]["post"]
    assert set(operation["responses"]) == {"202", "207", "422", "400", "401", "403", "413", "415", "429", "503"}
    body = operation["requestBody"]
    assert body["required"] is True and set(body["content"]) == {"application/json"}
    events = body["content"]["application/json"]["schema"]["properties"]["events"]
    assert events["minItems"] == 1  # {"events": []} is a 400, and the schema says so
    assert events["maxItems"] == 1000


@pytest.mark.parametrize("path, bounds", [("/api/v1/calls", (1, 500)), ("/api/v1/metrics/top", (1, 100))])
def test_limit_bounds_are_in_the_schema(document: dict[str, Any], path: str, bounds: tuple[int, int]) -> None:
    limit = next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == bounds  # limit=0 is a 400


def test_corrections_refuse_unknown_fields_in_the_schema_too(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["PatchedScorePatchRequest"]["additionalProperties"] is False
    assert schemas["PatchedFeedbackPatchRequest"]["additionalProperties"] is False
