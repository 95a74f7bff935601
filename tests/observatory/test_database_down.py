"""PostgreSQL unreachable: every ingest, read and page request answers 503 with Retry-After and its
usual error body (authentication's key lookup included), and the first request after it is back works.

The shared test server is never stopped. "Down" is this process's view of it: its open connection
is terminated from the server side (what a stop or restart does to it: SQLSTATE 57P01, then a closed
socket) and the connection settings point at a local port nothing listens on, so every reconnect
is refused, as with a stopped server. "Back" is the settings restored. No manual close in between:
the next request works only if the outage path closed the broken connection.
"""
from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client
from google.rpc import status_pb2

from observatory import outage
from tests.conftest import Api, call_event
from tests.ingest.otlp_payloads import json_request, protobuf_request, span_dict

pytestmark = pytest.mark.django_db(transaction=True)
PB = "application/x-protobuf"
RETRY_AFTER = str(outage.RETRY_AFTER_SECONDS)


def _refusing_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on exit: connections to it are refused


def _terminate_own_backend() -> None:
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@contextmanager
def database_down() -> Iterator[None]:
    connection.ensure_connection()
    _terminate_own_backend()
    saved = {name: connection.settings_dict[name] for name in ("HOST", "PORT")}
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_refusing_port()))
    try:
        yield
    finally:
        connection.settings_dict.update(saved)


def _assert_api_503(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == RETRY_AFTER
    assert response.json()["error"] == {"code": "database_unavailable", "message": outage.MESSAGE}


def _assert_otlp_503(response: Any, content_type: str) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == RETRY_AFTER and response["Content-Type"] == content_type
    if content_type == PB:
        status = status_pb2.Status.FromString(response.content)
        code, message = status.code, status.message
    else:
        body = json.loads(response.content)
        code, message = body["code"], body["message"]
    assert code == 14 and message == outage.MESSAGE  # UNAVAILABLE


def test_every_kind_of_request_is_503_while_down_and_works_once_back(full_key: str, owner: Any) -> None:
    api = Api(full_key)
    page = Client()
    page.force_login(owner)
    otlp_auth = {"HTTP_AUTHORIZATION": f"Bearer {full_key}"}
    spans = [span_dict()]

    with database_down():
        _assert_api_503(api.ingest([call_event(1)]))  # on the terminated connection
        _assert_api_503(api.ingest([call_event(1)]))  # on a refused reconnect
        _assert_api_503(api.get("/api/v1/calls"))
        for path in ("/v1/traces", "/api/public/otel/v1/traces"):
            _assert_otlp_503(page.post(path, protobuf_request(spans), content_type=PB, **otlp_auth), PB)
            _assert_otlp_503(page.post(path, json_request(spans), content_type="application/json", **otlp_auth),
                             "application/json")
        html = page.get("/")
        assert html.status_code == 503 and html["Retry-After"] == RETRY_AFTER
        assert b"temporarily unavailable" in html.content

    assert api.ingest([call_event(1)]).status_code == 202
    assert page.get("/").status_code in (200, 302)
    assert page.post("/v1/traces", protobuf_request(spans), content_type=PB, **otlp_auth).status_code == 200
    assert api.get("/api/v1/calls").status_code == 200



def test_a_statement_timeout_is_not_an_outage() -> None:
    """The server answered: a query too slow for its timeout is a bug to see (500), not a retry."""
    with pytest.raises(OperationalError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")
    assert not outage.database_unavailable(caught.value)
    assert outage.database_unavailable(OperationalError("connection refused"))
