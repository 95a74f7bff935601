"""Dataset runs: a prompt version answered over a golden dataset before it ships, as a CI gate.

Each item's input fills the version's variables; an OpenAI-compatible endpoint (configured like the
LLM judges: a base URL and the *name* of an OBSERVATORY_JUDGE_KEY_* variable, never the key) answers
it, `concurrency` at a time, until the items run out or the spend reaches `max_cost_usd`. Every
answer is recorded as telemetry through the ingest path (environment `experiment`, feature
`dataset-run-<id>-v<version>`), so the project's evaluators and judges score it like any call, and
the figures are read back from the rollups by that feature. The version labelled `production` runs
on the same items when it is another version, for comparison; gates ("score_avg:helpful>=0.8")
are checked on the version under test.
"""
from __future__ import annotations

import json
import math
import operator
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from prompts.models import DatasetRun, Label, Prompt, PromptVersion, RunStatus
from prompts.services import PromptError
from prompts.templating import RenderError, prompt_variables, render_prompt

MAX_ITEMS = 1000  # per run: a golden dataset, not a load test
TIMEOUT_S = 60.0  # per answer, as a judge's timeout_s


@dataclass(frozen=True)
class RunConfig:
    """Defaults and caps from the environment (docs/configuration.md), read when a run is created:
    prompts owns them, so they live here rather than in observatory/settings.py."""

    base_url: str
    key_env: str
    concurrency: int
    concurrency_max: int
    max_cost_usd: float

    @classmethod
    def load(cls) -> RunConfig:
        from observatory.env import env_float, env_int, env_str

        return cls(base_url=env_str("OBSERVATORY_DATASET_RUN_BASE_URL") or "",
                   key_env=env_str("OBSERVATORY_DATASET_RUN_KEY_ENV") or "",
                   concurrency=env_int("OBSERVATORY_DATASET_RUN_CONCURRENCY", 4, minimum=1),
                   concurrency_max=env_int("OBSERVATORY_DATASET_RUN_CONCURRENCY_MAX", 16, minimum=1),
                   max_cost_usd=env_float("OBSERVATORY_DATASET_RUN_MAX_COST_USD", 1.0))
UPLOAD = "upload"
_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt,
                                                   "<": operator.lt}
_GATE = re.compile(r"^\s*(score_avg:[^<>=\s]+|flag_rate:[^<>=\s]+|cost_per_call|error_rate|latency_p50|latency_p95)"
                   r"\s*(>=|<=|>|<)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Gate:
    text: str
    metric: str
    op: str
    limit: float

    def check(self, value: float | None) -> bool:
        return value is not None and _OPS[self.op](value, self.limit)


def gate_parse(text: Any) -> Gate:
    match = _GATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise PromptError(400, "invalid", f"gate {str(text)[:80]!r}: write <metric><op><number>, the metric one of "
                                          "score_avg:<score>, flag_rate:<flag>, cost_per_call, error_rate, "
                                          "latency_p50, latency_p95, the op one of >=, <=, >, <",
                          {"gates": str(text)[:80]})
    return Gate(text.strip(), match[1], match[2], float(match[3]))


def jsonl_items(text: str) -> list[dict[str, Any]]:
    """Items from JSONL: one object per line with `input` (an object of variables, or a string) and
    optionally `expected_output`. The 4xx names the line."""
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise PromptError(400, "invalid", f"items line {number}: not JSON", {"items": f"line {number}"}) from None
        if not isinstance(item, dict) or "input" not in item:
            raise PromptError(400, "invalid", f"items line {number}: an object with `input`",
                              {"items": f"line {number}"})
        items.append({"input": item["input"], "expected_output": item.get("expected_output")})
    return items


def tag_of(run: DatasetRun, version: int) -> str:
    return f"dataset-run-{run.pk}-v{version}"


def dataset_run_create(*, prompt: Prompt, version: int, dataset: str, actor_label: str, gates: list[str] | None = None,
                       items: list[dict[str, Any]] | None = None, dataset_version: int | None = None,
                       base_url: str = "", model: str = "", api_key_env: str = "", concurrency: int | None = None,
                       max_cost_usd: float | None = None) -> DatasetRun:
    """Check everything a run needs (4xx naming what is wrong) and record it as pending."""
    from quality.models import validate_base_url, validate_key_env

    if not PromptVersion.objects.filter(prompt=prompt, version=version).exists():
        raise PromptError(404, "not_found", f"Prompt '{prompt.name}' has no version {version}.")
    parsed = [gate_parse(g) for g in gates or []]
    config = RunConfig.load()
    base_url = base_url or config.base_url or _judge_endpoint(prompt.project_id)[0]
    api_key_env = api_key_env or config.key_env or _judge_endpoint(prompt.project_id)[1]
    try:
        validate_base_url(base_url)
        validate_key_env(api_key_env)
    except Exception as exc:  # django ValidationError: the field it concerns is named
        raise PromptError(400, "invalid", f"endpoint: {'; '.join(getattr(exc, 'messages', [str(exc)]))}",
                          {"base_url": base_url, "api_key_env": api_key_env}) from None
    concurrency = concurrency or config.concurrency
    max_cost = config.max_cost_usd if max_cost_usd is None else max_cost_usd
    if not isinstance(concurrency, int) or not 1 <= concurrency <= config.concurrency_max:
        raise PromptError(400, "invalid", f"concurrency: 1 to {config.concurrency_max}",
                          {"concurrency": "out of range"})
    if isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or not math.isfinite(max_cost) \
            or not 0 < max_cost <= config.max_cost_usd:
        raise PromptError(400, "invalid", f"max_cost_usd: above 0, at most {config.max_cost_usd} "
                                          "(OBSERVATORY_DATASET_RUN_MAX_COST_USD)", {"max_cost_usd": "out of range"})
    if dataset == UPLOAD:
        if not items:
            raise PromptError(400, "invalid", "items: an uploaded dataset needs items", {"items": "required"})
        rows = items
    else:
        rows = []
        dataset_version = _review_version(prompt.project_id, dataset, dataset_version).version
    if len(rows) > MAX_ITEMS:
        raise PromptError(400, "invalid", f"items: at most {MAX_ITEMS}", {"items": "too many"})
    production = Label.objects.select_related("version").filter(prompt=prompt, name="production").first()
    baseline = production.version.version if production and production.version.version != version else None
    return DatasetRun.objects.create(
        project_id=prompt.project_id, prompt=prompt, version=version, baseline_version=baseline, dataset=dataset,
        dataset_version=dataset_version, items=rows, base_url=base_url, model=model, api_key_env=api_key_env,
        concurrency=concurrency, max_cost_usd=float(max_cost), gates=[g.text for g in parsed],
        created_by=actor_label[:255])


def _judge_endpoint(project_id: int) -> tuple[str, str]:
    """The base URL and key variable of the project's first enabled judge: the default endpoint."""
    from quality.models import Judge

    judge = Judge.objects.filter(project_id=project_id, enabled=True).order_by("id").first()
    return (judge.base_url, judge.api_key_env) if judge else ("", "")


def _review_version(project_id: int, name: str, number: int | None) -> Any:
    try:
        from review.models import Dataset
    except ImportError:
        raise PromptError(400, "invalid", "dataset: the review app is not installed; upload JSONL items") from None
    dataset = Dataset.objects.filter(project_id=project_id, name=name).first()
    if dataset is None:
        raise PromptError(404, "not_found", f"No dataset '{name}' in this project (review's golden datasets).")
    versions = dataset.versions.order_by("-version")
    found = versions.filter(version=number).first() if number else versions.first()
    if found is None:
        raise PromptError(404, "not_found", f"Dataset '{name}' has no {'version ' + str(number) if number else 'export'}"
                                            " yet (export it on the review page).")
    return found


def run_items(run: DatasetRun) -> list[dict[str, Any]]:
    if run.dataset == UPLOAD:
        return list(run.items)
    version = _review_version(run.project_id, run.dataset, run.dataset_version)
    return [{"input": item.input, "expected_output": item.expected_output}
            for item in version.items.order_by("position")[:MAX_ITEMS]]


def _values(names: list[str], given: Any) -> dict[str, Any]:
    """The template's variables from an item's input: an object gives them by name (extra keys are
    left out); a string fills the only variable, or `input`."""
    if isinstance(given, dict):
        return {name: given[name] for name in names if name in given}
    if len(names) == 1:
        return {names[0]: given}
    return {"input": given}


def _answer(run: DatasetRun, version: PromptVersion, item: dict[str, Any], api_key: str) -> dict[str, Any]:
    """One item through the endpoint: the telemetry event for it. Runs in a pool thread, so it never
    touches the database (a thread's own connection would not see the caller's transaction, and
    would stay open): the caller prices the answer."""
    from quality.judge.client import chat_complete
    from quality.judge.prompt import JudgeError, _content, _tokens

    config = version.config or {}
    model = run.model or str(config.get("model") or "")
    started = timezone.now()
    clock = time.perf_counter()
    try:
        rendered = render_prompt(version.type, version.template, _values(
            prompt_variables(version.type, version.template), item.get("input")))
    except RenderError as exc:
        return {"event": None, "error": f"item variables: {exc}", "cost": 0.0}
    messages = rendered if isinstance(rendered, list) else [{"role": "user", "content": rendered}]
    payload: dict[str, Any] = {"model": model, "messages": [m for m in messages if "role" in m]}
    for key in ("temperature", "max_tokens", "top_p"):
        if key in config:
            payload[key] = config[key]
    event: dict[str, Any] = {"type": "call", "timestamp": started.isoformat(), "model": model, "provider": "openai",
                             "input": payload["messages"], "environment": "experiment",
                             "feature": tag_of(run, version.version),
                             "prompt": {"name": run.prompt.name, "version": str(version.version)},
                             "metadata": {"dataset_run": run.pk, "dataset": run.dataset,
                                          "expected_output": item.get("expected_output")}}
    try:
        reply = chat_complete(base_url=run.base_url, api_key=api_key, payload=payload,
                              timeout_s=TIMEOUT_S, max_retries=2)
        event["output"] = _content(reply.body)
        tokens_in, tokens_out, cached = _tokens(reply.body)
        event["usage"] = {k: v for k, v in (("input_tokens", tokens_in), ("output_tokens", tokens_out),
                                            ("cached_input_tokens", cached)) if v is not None}
    except JudgeError as exc:
        event.update(status="error", error=str(exc)[:500])
    event["latency_ms"] = round((time.perf_counter() - clock) * 1000, 1)
    return {"event": event, "error": "", "cost": 0.0}


def _cost(project_id: int, model: str, usage: dict[str, int]) -> float:
    from pricing.catalog import cost_fields

    fields = cost_fields(project_id=project_id, provider="openai", model=model, on=date.today(),
                         input_tokens=usage.get("input_tokens"), output_tokens=usage.get("output_tokens"),
                         cached_input_tokens=usage.get("cached_input_tokens"))
    return float(fields["cost_total_usd"] or 0)


def _key(run: DatasetRun) -> str:
    from quality.judge import _api_key
    from quality.judge.prompt import JudgeError

    try:
        return _api_key(run.api_key_env)
    except JudgeError as exc:
        raise PromptError(400, "invalid", str(exc), {"api_key_env": run.api_key_env}) from None


def dataset_run_execute(run_id: int, *, progress: Callable[[DatasetRun], None] | None = None) -> DatasetRun | None:
    """Run a pending run to the end (claimed with a conditional update, so a repeated task does
    nothing); None when another worker has it."""
    from ingest.services import batch_ingest

    if not DatasetRun.objects.filter(pk=run_id, status=RunStatus.PENDING).update(status=RunStatus.RUNNING):
        return None
    run = DatasetRun.objects.select_related("prompt").get(pk=run_id)
    try:
        api_key = _key(run)
        items = run_items(run)
        versions = [PromptVersion.objects.get(prompt=run.prompt, version=v)
                    for v in [run.version, run.baseline_version] if v is not None]
        work = [(v, i, item) for v in versions for i, item in enumerate(items)]
        DatasetRun.objects.filter(pk=run.pk).update(total=len(work))
        spent, done, problems = 0.0, 0, []
        with ThreadPoolExecutor(max_workers=run.concurrency) as pool:
            for start in range(0, len(work), run.concurrency):
                if spent >= run.max_cost_usd:
                    run.capped = True
                    break
                chunk = work[start:start + run.concurrency]
                answers = list(pool.map(lambda w: _answer(run, w[0], w[2], api_key), chunk))
                events = []
                for (version, index, _), answer in zip(chunk, answers, strict=True):
                    if answer["event"] is not None:
                        spent += _cost(run.project_id, answer["event"]["model"], answer["event"].get("usage") or {})
                    if answer["event"] is None:
                        problems.append(f"v{version.version} item {index}: {answer['error']}")
                        continue
                    answer["event"]["id"] = answer["event"]["trace_id"] = f"{tag_of(run, version.version)}-{index}"
                    events.append(answer["event"])
                if events:
                    batch_ingest(project_id=run.project_id, body=json.dumps({"events": events}).encode())
                done += len(chunk)
                DatasetRun.objects.filter(pk=run.pk).update(done=done, cost_usd=spent, capped=run.capped)
                if progress:
                    run.done, run.cost_usd, run.total = done, spent, len(work)
                    progress(run)
        _settle(run.project_id)
        results = run_figures(run, [v.version for v in versions])
        results["problems"] = problems[:20]
        gates = [gate_parse(g) for g in run.gates]
        figures = results.get(str(run.version), {})
        results["gates"] = [{"gate": g.text, "value": figures.get(g.metric), "passed": g.check(figures.get(g.metric))}
                            for g in gates]
        DatasetRun.objects.filter(pk=run.pk).update(status=RunStatus.DONE, results=results, cost_usd=spent,
                                                    capped=run.capped, done=done, finished_at=timezone.now())
    except PromptError as exc:
        DatasetRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error=exc.message[:2000],
                                                    finished_at=timezone.now())
    run.refresh_from_db()
    return run


def _settle(project_id: int) -> None:
    """Fold and evaluate the run's calls now (the workers would, a moment later): the figures are
    read from the rollups. Both steps claim their work, so running beside the workers is safe."""
    from quality.services import project_evaluate
    from telemetry.services import project_process

    while project_process(project_id=project_id):
        pass
    while project_evaluate(project_id=project_id):
        pass
    while project_process(project_id=project_id):  # scores' signals, if any came in meanwhile
        pass


def run_figures(run: DatasetRun, versions: list[int]) -> dict[str, Any]:
    """Per version, from the rollups (by the run's feature tag): calls, error rate, cost per call,
    p50/p95 latency, every score's average (score_avg:<name>) and flag's rate (flag_rate:<name>)."""
    from rollups.selectors import Query, aggregate, flag_totals, score_totals

    out: dict[str, Any] = {}
    start, end = run.created_at - timedelta(minutes=5), timezone.now() + timedelta(minutes=2)
    for version in versions:
        query = Query(project_id=run.project_id, start=start, end=end, filters={"feature": [tag_of(run, version)]})
        row = next(iter(aggregate(query, ["count", "errors", "cost", "latency_p50", "latency_p95"]).values()), {})
        n = int(row.get("count") or 0)
        figures: dict[str, Any] = {
            "calls": n, "error_rate": (row.get("errors") or 0) / n if n else None,
            "cost_per_call": float(row["cost"]) / n if n and row.get("cost") is not None else None,
            "latency_p50": row.get("latency_p50"), "latency_p95": row.get("latency_p95")}
        for name, score in score_totals(query).items():
            figures[f"score_avg:{name}"] = score["avg"]
            if name.startswith("judge."):  # gates may name a judge's score without the prefix
                figures.setdefault(f"score_avg:{name.removeprefix('judge.')}", score["avg"])
        for name, flag in flag_totals(query).items():
            figures[f"flag_rate:{name}"] = flag["rate"]
        out[str(version)] = figures
    return out


def run_dict(run: DatasetRun) -> dict[str, Any]:
    return {"id": run.pk, "prompt": run.prompt.name, "version": run.version, "baseline_version": run.baseline_version,
            "dataset": run.dataset, "dataset_version": run.dataset_version, "status": run.status,
            "total": run.total, "done": run.done, "cost_usd": run.cost_usd, "max_cost_usd": run.max_cost_usd,
            "capped": run.capped, "concurrency": run.concurrency, "gates": run.gates, "results": run.results,
            "error": run.error, "created_by": run.created_by, "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}


def passed(run: DatasetRun) -> bool:
    return run.status == RunStatus.DONE and all(g["passed"] for g in run.results.get("gates", []))


def table(run: DatasetRun) -> list[list[str]]:
    """Rows for people: metric, the version under test, production's, and the gate's verdict."""
    versions = [str(v) for v in (run.version, run.baseline_version) if v is not None]
    metrics = sorted({m for v in versions for m in run.results.get(v, {})} - {"calls"})
    gates = {g["gate"].split("<")[0].split(">")[0].strip(): g for g in run.results.get("gates", [])}
    head = ["metric", f"v{run.version}"] + ([f"v{run.baseline_version} (production)"] if run.baseline_version else [])
    rows = [head + ["gate"], ["calls", *[str(run.results.get(v, {}).get("calls", 0)) for v in versions], ""]]
    for metric in metrics:
        gate = gates.get(metric)
        verdict = f"{gate['gate']}: {'pass' if gate['passed'] else 'FAIL'}" if gate else ""
        rows.append([metric, *[_fmt(run.results.get(v, {}).get(metric)) for v in versions], verdict])
    for metric, gate in gates.items():
        if metric not in metrics:
            rows.append([metric, *["—" for _ in versions], f"{gate['gate']}: FAIL (no value)"])
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)

