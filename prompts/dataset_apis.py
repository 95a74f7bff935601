"""`/api/v1/prompts/<name>/dataset-runs`: start a dataset run (a review golden dataset by name, or
uploaded items) and read its progress and results (prompts/datasets.py). Starting needs the
`prompts` scope or a member; the run itself goes to a worker."""
from __future__ import annotations

import json

from django.db import transaction
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from observatory.openapi import required_body
from prompts import datasets, selectors
from prompts.apis import NAME_PARAM, READ, WRITE, PromptApiBase, _body, _schema, actor_for
from prompts.services import PromptError
from tenancy.auth import project_for_request

_RUN = inline_serializer("PromptDatasetRun", {
    "id": serializers.IntegerField(), "prompt": serializers.CharField(), "version": serializers.IntegerField(),
    "baseline_version": serializers.IntegerField(allow_null=True, help_text="production's version, run for comparison"),
    "dataset": serializers.CharField(), "dataset_version": serializers.IntegerField(allow_null=True),
    "status": serializers.ChoiceField(choices=["pending", "running", "done", "failed"]),
    "total": serializers.IntegerField(), "done": serializers.IntegerField(), "cost_usd": serializers.FloatField(),
    "max_cost_usd": serializers.FloatField(), "capped": serializers.BooleanField(),
    "concurrency": serializers.IntegerField(), "gates": serializers.ListField(child=serializers.CharField()),
    "results": serializers.DictField(help_text="{version: {metric: value}}, gates: [{gate, value, passed}], problems"),
    "error": serializers.CharField(), "created_by": serializers.CharField(), "created_at": serializers.DateTimeField(),
    "finished_at": serializers.DateTimeField(allow_null=True)})


class DatasetRunsApi(PromptApiBase):
    @_schema("prompts_dataset_runs_list", "A prompt's dataset runs, newest first", statuses=READ,
             parameters=[NAME_PARAM], responses={200: inline_serializer("PromptDatasetRunList", {
                 "data": serializers.ListField(child=_RUN)})})
    def get(self, request: Request, name: str) -> Response:
        prompt = selectors.prompt_get(project=project_for_request(request), name=name)
        return Response({"data": [datasets.run_dict(r) for r in prompt.runs.order_by("-created_at")[:50]]})

    @_schema("prompts_dataset_runs_start", "Start a dataset run: the version answers every item, scored by the "
             "project's evaluators and judges, beside production's version", statuses=WRITE, parameters=[NAME_PARAM],
             responses={202: _RUN}, request={"application/json": required_body({
                 "type": "object", "required": ["version", "dataset"], "properties": {
                     "version": {"type": "integer", "minimum": 1},
                     "dataset": {"type": "string", "description": "A review golden dataset's name, or `upload`"},
                     "dataset_version": {"type": "integer", "minimum": 1},
                     "items": {"type": "array", "maxItems": datasets.MAX_ITEMS, "items": {"type": "object"},
                               "description": "With dataset `upload`: [{input, expected_output}]"},
                     "gates": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
                     "base_url": {"type": "string"}, "model": {"type": "string"},
                     "api_key_env": {"type": "string", "description": "Name of an OBSERVATORY_JUDGE_KEY_* variable"},
                     "concurrency": {"type": "integer", "minimum": 1},
                     "max_cost_usd": {"type": "number", "minimum": 0, "description": "above 0"}}})})
    def post(self, request: Request, name: str) -> Response:
        from prompts.tasks import run_dataset

        project = project_for_request(request)
        prompt = selectors.prompt_get(project=project, name=name)
        body = _body(request)
        actor = actor_for(request, project)
        version, items, gates = body.get("version"), body.get("items"), body.get("gates") or []
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
            raise PromptError(400, "invalid", "version: a positive integer", {"version": "an integer"})
        if items is not None and (not isinstance(items, list) or not all(
                isinstance(i, dict) and "input" in i for i in items) or "\\u0000" in json.dumps(items)):
            raise PromptError(400, "invalid", "items: a list of {input, expected_output} (no NUL characters)",
                              {"items": "invalid"})
        if not isinstance(gates, list) or len(gates) > 20:
            raise PromptError(400, "invalid", "gates: a list of at most 20", {"gates": "invalid"})
        text = {k: body.get(k) or "" for k in ("dataset", "base_url", "model", "api_key_env")}
        if not all(isinstance(v, str) and "\x00" not in v and len(v) <= 500 for v in text.values()):
            raise PromptError(400, "invalid", "dataset, base_url, model and api_key_env are strings (500 at most, "
                                              "no NUL)")
        number = body.get("dataset_version")
        if number is not None and (isinstance(number, bool) or not isinstance(number, int) or not 1 <= number < 2**31):
            raise PromptError(400, "invalid", "dataset_version: a positive integer", {"dataset_version": "invalid"})
        for key in ("concurrency", "max_cost_usd"):
            if isinstance(body.get(key), bool):
                raise PromptError(400, "invalid", f"{key}: a number", {key: "a number"})
        with transaction.atomic():
            run = datasets.dataset_run_create(
                prompt=prompt, version=version, dataset=text["dataset"], actor_label=actor.label, gates=gates,
                items=[{"input": i["input"], "expected_output": i.get("expected_output")} for i in items or []],
                dataset_version=number, base_url=text["base_url"], model=text["model"],
                api_key_env=text["api_key_env"], concurrency=body.get("concurrency"),
                max_cost_usd=body.get("max_cost_usd"))
            transaction.on_commit(lambda: run_dataset.delay(run.pk))
        return Response(datasets.run_dict(run), status=202)


class DatasetRunApi(PromptApiBase):
    @_schema("prompts_dataset_run_get", "A dataset run's progress and results", statuses=READ, parameters=[NAME_PARAM],
             responses={200: _RUN})
    def get(self, request: Request, name: str, run_id: int) -> Response:
        prompt = selectors.prompt_get(project=project_for_request(request), name=name)
        run = prompt.runs.filter(pk=run_id).first()
        if run is None:
            raise PromptError(404, "not_found", f"Prompt '{name}' has no dataset run {run_id}.")
        return Response(datasets.run_dict(run))
