"""`seed_demo`: demo telemetry goes through the real ingest path and the real pipeline."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from dashboards.demo import XSS_ID
from quality.models import Evaluation, Flag, PendingEvaluation
from rollups.selectors import Query, aggregate
from telemetry.models import Call, CallPayload, Feedback, PendingCall, Score, Trace
from tenancy.models import Project

pytestmark = pytest.mark.django_db


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _target(project: Any) -> str:
    return f"{project.organization.slug}/{project.slug}"


def test_it_seeds_a_living_project_through_ingest_processing_and_evaluation(project: Any, prices: None) -> None:
    output = _seed("--project", _target(project), "--calls", "200", "--days", "1")
    assert f"/projects/{project.id}/" in output and "processed" in output and "evaluated" in output

    calls = Call.objects.filter(project=project)
    llm = calls.filter(kind="llm")
    # Five showcase calls come on top; the last agent trace may end with planning and answering calls.
    assert 205 <= llm.count() <= 206
    assert {"chat", "summarize", "search", "support-bot"} == set(llm.values_list("feature", flat=True))
    assert {"production", "staging"} == set(llm.values_list("environment", flat=True))
    assert len(set(llm.values_list("user_id", flat=True))) >= 15
    assert len(set(llm.values_list("prompt_name", "prompt_version"))) >= 6
    assert {"gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-5", "gemini-2.5-flash"} <= set(
        llm.values_list("model", flat=True))
    assert llm.filter(model="northwind-support-13b", cost_source="unknown").exists()
    assert not llm.filter(model="gpt-4o-mini", status="ok").exclude(cost_source="computed").exists()
    assert llm.filter(ttft_ms__isnull=False).exists() and llm.filter(cached_input_tokens__gt=0).exists()
    errors = llm.filter(status="error")
    assert errors.filter(external_id="demo-error").exists()  # random errors too, at ~3% of calls
    assert set(errors.values_list("error_type", flat=True)) <= {"RateLimitError", "APITimeoutError",
                                                                "InternalServerError"}

    root = calls.filter(kind="agent", external_id__in=calls.filter(kind="tool").values("parent_id")).first()
    assert root is not None
    children = calls.filter(trace_id=root.trace_id, parent_id=root.external_id)
    assert {"retrieval", "llm", "tool"} <= set(children.values_list("kind", flat=True))
    assert all(root.start_time <= c.start_time and c.end_time <= root.end_time for c in children)
    assert Trace.objects.get(project=project, trace_id=root.trace_id).call_count == children.count() + 1

    scores = Score.objects.filter(project=project, name="helpfulness")
    assert scores.exists() and not scores.filter(call__isnull=True).exists()
    assert set(scores.values_list("source", flat=True)) == {"human", "api"}
    feedback = Feedback.objects.filter(project=project)
    assert not feedback.filter(call__isnull=True).exists()
    assert set(feedback.values_list("thumbs", flat=True)) == {1, -1}

    # The queues are drained, and the rollups count every model call.
    assert not PendingCall.objects.filter(project_id=project.id).exists()
    assert not PendingEvaluation.objects.filter(project_id=project.id).exists()
    assert Evaluation.objects.filter(project_id=project.id).count() == llm.count()
    now = datetime.now(timezone.utc)
    totals = aggregate(Query(project_id=project.id, start=now - timedelta(days=2), end=now + timedelta(minutes=1)),
                       ["count", "errors"])[(None,)]
    assert totals == {**totals, "count": llm.count(), "errors": errors.count()}

    flags = set(Flag.objects.filter(project=project).values_list("call__external_id", "name"))
    assert {("demo-pii", "pii.email"), ("demo-pii", "pii.phone"), ("demo-injection", "prompt_injection"),
            ("demo-refusal", "refusal")} <= flags
    xss = CallPayload.objects.get(call__project=project, call__external_id=XSS_ID).output
    assert "<script>alert(1)</script>" in xss["content"] and "<img src=x onerror=alert(2)>" in xss["content"]


def test_if_empty_leaves_a_project_with_calls_alone(project: Any, prices: None) -> None:
    _seed("--project", _target(project), "--calls", "20", "--no-process")
    before = Call.objects.filter(project=project).count()
    output = _seed("--project", _target(project), "--calls", "20", "--if-empty")
    assert "already has calls; not seeding" in output
    assert Call.objects.filter(project=project).count() == before


def test_the_same_seed_adds_nothing_and_another_seed_adds_more(project: Any, prices: None) -> None:
    _seed("--project", _target(project), "--calls", "30", "--no-process")
    calls = Call.objects.filter(project=project)
    first = calls.count()
    assert PendingCall.objects.filter(project_id=project.id).count() == first  # left to the workers

    again = _seed("--project", _target(project), "--calls", "30", "--no-process")
    assert "seed 42 is already in" in again and calls.count() == first
    _seed("--project", _target(project), "--calls", "30", "--no-process", "--seed", "7")
    assert calls.count() > first and calls.filter(external_id=XSS_ID).count() == 1


def test_without_a_project_it_fills_the_demo_project(db: Any, prices: None) -> None:
    output = _seed("--calls", "10", "--no-process")
    project = Project.objects.get(organization__slug="demo", slug="demo")
    assert f"/projects/{project.id}/" in output and Call.objects.filter(project=project).exists()


def test_it_refuses_an_unknown_project(db: Any) -> None:
    with pytest.raises(CommandError, match="No project"):
        _seed("--project", "nope/nothing", "--no-process")
