"""Dataset runs as a CI gate, against the fake OpenAI-compatible server the judge tests use (no
network): every item answered by the version under test and by production's, recorded as telemetry,
scored by the project's judge, compared, and checked against gates; the command's table and exit
code, the cost cap, and the API that starts a run with its progress page."""
from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from prompts.datasets import dataset_run_create, dataset_run_execute, gate_parse
from prompts.models import DatasetRun
from prompts.services import PromptError
from quality.models import Judge, QualitySettings
from quality.registry import EVALUATORS
from telemetry.models import Call
from tests.conftest import Api
from tests.prompts.test_apis import _send
from tests.quality.test_judge import KEY, KEY_ENV, FakeOpenAI, Seen, verdict

pytestmark = pytest.mark.django_db


def _answer(text: str, usage: tuple[int, int] = (120, 30)) -> tuple[int, Any, dict[str, str]]:
    return 200, {"id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-4o-mini",
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                 "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                           "total_tokens": sum(usage)}}, {}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The model answers politely to v2's prompt ("Hi ...") and curtly to v1's; the judge (model
    "judge-model") scores polite answers 0.9 and the others 0.3."""
    monkeypatch.setenv(KEY_ENV, KEY)
    server = FakeOpenAI()

    def respond(seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.body["model"] == "judge-model":
            return verdict(0.9 if "Certainly, with pleasure" in json.dumps(seen.body) else 0.3)
        prompt = seen.body["messages"][-1]["content"]
        return _answer("Certainly, with pleasure." if prompt.startswith("Hi") else "No.")

    server.responder = respond
    yield server
    server.close()


@pytest.fixture
def judged(project: Any, fake: FakeOpenAI) -> Judge:
    QualitySettings.objects.create(project=project, evaluators={n: {"enabled": False} for n in EVALUATORS})
    judge = Judge(project=project, name="helpful", template="helpfulness", base_url=fake.base_url,
                  api_key_env=KEY_ENV, model="judge-model")
    judge.full_clean()
    judge.save()
    return judge


def _items(tmp_path: Path, n: int = 6) -> Path:
    path = tmp_path / "golden.jsonl"
    path.write_text("\n".join(json.dumps({"input": {"name": f"user {i}", "topic": "refunds"},
                                          "expected_output": "a polite answer"}) for i in range(n)) + "\n")
    return path


def _command(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("run_dataset", *args, stdout=out, stderr=StringIO())
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_the_command_passes_and_fails_gates_against_production(project: Any, greeting: Any, judged: Judge,
                                                               fake: FakeOpenAI, prices: None, tmp_path: Path) -> None:
    path = _items(tmp_path)
    code, out = _command("greeting", "2", str(path), "--gate", "score_avg:helpful>=0.8",
                         "--gate", "cost_per_call<=0.002", "--concurrency", "3")
    assert code == 0, out
    assert "all gates passed" in out and "v1 (production)" in out
    line = next(row for row in out.splitlines() if row.startswith("score_avg:helpful "))
    assert line.split()[1:3] == ["0.9", "0.3"]  # v2 beside production's v1, on the same items
    # 12 answers (6 items × 2 versions) and 12 verdicts went to the fake server; the answers are telemetry.
    calls = Call.objects.filter(project=project, environment="experiment")
    assert calls.count() == 12 and {c.prompt_version for c in calls} == {"1", "2"}
    assert len([r for r in fake.requests if r.body["model"] == "gpt-4o-mini"]) == 12
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests)
    run = DatasetRun.objects.get()
    assert run.api_key_env == KEY_ENV and KEY not in json.dumps(run.results) and run.status == "done"

    code, out = _command("greeting", "2", str(path), "--gate", "cost_per_call<=0.0000001")
    assert code == 1 and "FAILED gates: cost_per_call<=0.0000001" in out, out


def test_the_cost_cap_stops_the_run_and_says_so(project: Any, greeting: Any, judged: Judge, fake: FakeOpenAI,
                                                prices: None, tmp_path: Path) -> None:
    code, out = _command("greeting", "2", str(_items(tmp_path, 10)), "--concurrency", "2", "--max-cost", "0.00001")
    assert code == 0 and "CAPPED" in out
    run = DatasetRun.objects.get()
    assert run.capped and run.done < run.total and run.cost_usd >= 0.00001


def test_bad_runs_are_refused_with_the_field_named(project: Any, greeting: Any, judged: Judge) -> None:
    with pytest.raises(PromptError, match="gate 'score>=1'"):
        gate_parse("score>=1")
    with pytest.raises(PromptError, match="No dataset 'missing'"):
        dataset_run_create(prompt=greeting, version=2, dataset="missing", actor_label="t")
    with pytest.raises(PromptError, match="max_cost_usd"):
        dataset_run_create(prompt=greeting, version=2, dataset="upload", items=[{"input": "x"}], actor_label="t",
                           max_cost_usd=1e9)
    with pytest.raises(PromptError, match="OBSERVATORY_JUDGE_KEY_"):
        dataset_run_create(prompt=greeting, version=2, dataset="upload", items=[{"input": "x"}], actor_label="t",
                           api_key_env="DATABASE_URL")


def test_the_api_starts_a_run_and_the_page_shows_its_progress_then_results(
        project: Any, greeting: Any, judged: Judge, fake: FakeOpenAI, writer: Api, owner_client: Any,
        prices: None) -> None:
    items = [{"input": {"name": "Ann", "topic": "refunds"}}, {"input": {"name": "Bo", "topic": "billing"}}]
    started = _send(writer, "post", "/api/v1/prompts/greeting/dataset-runs",
                    {"version": 2, "dataset": "upload", "items": items, "gates": ["score_avg:helpful>=0.8"]})
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["status"] == "pending" and body["baseline_version"] == 1
    page = owner_client.get(f"/projects/{project.pk}/prompts/{greeting.pk}/runs/{body['id']}/")
    assert page.status_code == 200 and b'data-testid="run-progress"' in page.content and b"every 2s" in page.content
    dataset_run_execute(body["id"])  # what the worker's task does
    progress = writer.get(f"/api/v1/prompts/greeting/dataset-runs/{body['id']}").json()
    assert progress["status"] == "done" and progress["done"] == progress["total"] == 4
    assert progress["results"]["gates"] == [{"gate": "score_avg:helpful>=0.8", "value": 0.9, "passed": True}]
    assert dataset_run_execute(body["id"]) is None  # a repeated task message does nothing
    page = owner_client.get(f"/projects/{project.pk}/prompts/{greeting.pk}/runs/{body['id']}/")
    assert b"gates passed" in page.content and b"score_avg:helpful" in page.content
    bad = _send(writer, "post", "/api/v1/prompts/greeting/dataset-runs", {"version": 2, "dataset": "upload",
                                                                           "gates": ["p99<1"], "items": items})
    assert bad.status_code == 400 and "gate" in bad.json()["error"]["message"]
