"""Review fixtures: calls through the real ingest, processing and evaluation path; a queue; a
second reviewer; signed-in clients."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from quality.services import project_evaluate
from review.services import queue_create
from telemetry.services import project_process
from tenancy.models import Role
from tenancy.services import membership_set
from tests.conftest import Api

RUBRIC = [
    {"name": "correct", "label": "Is the answer correct?", "kind": "categorical",
     "labels": ["correct", "partially", "wrong"], "approve": ["correct"]},
    {"name": "helpfulness", "kind": "numeric", "min": 1, "max": 5},
    {"name": "hallucination", "kind": "boolean", "required": False},
    {"name": "notes", "kind": "text"},
]
EMAIL_OUTPUT = "Sure, write to jane.doe@example.com and she will sort it out."


def ago(minutes: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def call(i: int, **fields: Any) -> dict[str, Any]:
    event = {"type": "call", "id": f"c-{i}", "trace_id": f"t-{i}", "timestamp": ago(10 + i), "latency_ms": 300,
             "provider": "openai", "model": "gpt-4o-mini", "feature": "support", "environment": "production",
             "input": [{"role": "user", "content": f"How do I reset my password? ({i})"}],
             "output": "Open Settings, then Security, and choose Reset password.",
             "usage": {"input_tokens": 20, "output_tokens": 12}}
    event.update(fields)
    return event


def feed(api: Api, project: Any, events: list[dict[str, Any]], *, evaluate: bool = True) -> None:
    response = api.ingest(events)
    assert response.status_code == 202, response.content
    while project_process(project_id=project.id):
        pass
    if evaluate:
        while project_evaluate(project_id=project.id):
            pass


@pytest.fixture
def queue(project: Any, owner: Any) -> Any:
    return queue_create(project=project, actor=owner, data={"name": "Support answers", "rubric": RUBRIC,
                                                            "instructions": "Check **facts**."})


@pytest.fixture
def second(db: Any, org: Any) -> Any:
    user = get_user_model().objects.create_user("second", "second@example.com", "pw-second-123")
    membership_set(organization=org, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def viewer(db: Any, org: Any) -> Any:
    user = get_user_model().objects.create_user("viewer", "viewer@example.com", "pw-viewer-123")
    membership_set(organization=org, user=user, role=Role.VIEWER)
    return user


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
