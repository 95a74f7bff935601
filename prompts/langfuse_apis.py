"""Langfuse-compatible prompt endpoints, so the Langfuse SDK's get_prompt, create_prompt and
update_prompt work against Observatory unchanged (the SDK's api/prompts and api/prompt_version
clients): GET/POST /api/public/v2/prompts, GET /api/public/v2/prompts/{name},
PATCH /api/public/v2/prompts/{name}/versions/{version}. Keys as for Langfuse's other endpoints
(Basic with the project key as the secret, or Bearer); GET needs `read`, writes `prompts`."""
from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ingest.otel.auth import KeyOrBasicAuthentication
from observatory.openapi import required_body
from prompts import selectors, services
from prompts.apis import NAME_PARAM, PromptApiBase, _body, _int, _schema, actor_for
from prompts.models import LATEST, Label, Prompt
from prompts.services import PromptError
from tenancy.auth import project_for_request

LANGFUSE_PROMPT = inline_serializer("LangfusePrompt", {
    "name": serializers.CharField(), "version": serializers.IntegerField(),
    "type": serializers.ChoiceField(choices=["text", "chat"]), "prompt": serializers.JSONField(),
    "config": serializers.JSONField(), "labels": serializers.ListField(child=serializers.CharField()),
    "tags": serializers.ListField(child=serializers.CharField()),
    "commitMessage": serializers.CharField(allow_null=True)})
CREATE_BODY = {"type": "object", "required": ["name", "prompt"], "properties": {
    "name": {"type": "string", "maxLength": services.MAX_NAME},
    "type": {"type": "string", "enum": ["text", "chat"], "default": "text"},
    "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
    "config": {"type": "object", "nullable": True}, "labels": {"type": "array", "items": {"type": "string"}},
    "tags": {"type": "array", "items": {"type": "string"}, "nullable": True},
    "commitMessage": {"type": "string", "nullable": True}}}
READ = (400, 404, 401, 403, 429, 503)
WRITE = (400, 404, 409, 401, 403, 429, 503)


class _LangfusePromptApi(PromptApiBase):
    authentication_classes = [KeyOrBasicAuthentication]


def _prompt_dict(project: Any, name: str, version: int) -> dict[str, Any]:
    return selectors.langfuse_dict(selectors.resolve(project=project, name=name, version=version))


class LangfusePromptsApi(_LangfusePromptApi):
    @_schema("langfuse_prompts_list", "Langfuse-compatible: list prompts", statuses=READ, parameters=[
        OpenApiParameter("name", str), OpenApiParameter("label", str), OpenApiParameter("tag", str),
        OpenApiParameter("page", int), OpenApiParameter("limit", int)],
        responses={200: inline_serializer("LangfusePromptMetaList", {
            "data": serializers.ListField(child=serializers.DictField()), "meta": serializers.DictField()})})
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        params = request.query_params
        page, limit = _int(params, "page") or 1, min(_int(params, "limit") or 50, 100)
        rows = list(selectors.prompt_list(project=project))
        if params.get("name"):
            rows = [p for p in rows if p.name == params["name"]]
        if params.get("tag"):
            rows = [p for p in rows if params["tag"] in p.tags]
        if params.get("label"):
            rows = [p for p in rows if params["label"] == LATEST or any(
                label.name == params["label"] for label in p.labels.all())]
        total = len(rows)
        data = []
        for p in rows[(page - 1) * limit:page * limit]:
            versions = list(p.versions.order_by("version").values_list("version", "type", "config"))
            labels = sorted({label.name for label in p.labels.all()} | {LATEST})
            data.append({"name": p.name, "type": versions[-1][1] if versions else "text",
                         "versions": [v[0] for v in versions], "labels": labels, "tags": p.tags,
                         "lastUpdatedAt": p.updated_at.isoformat(), "lastConfig": versions[-1][2] if versions else {}})
        return Response({"data": data, "meta": {"page": page, "limit": limit, "totalItems": total,
                                                "totalPages": max(1, math.ceil(total / limit))}})

    @_schema("langfuse_prompts_create", "Langfuse-compatible: create a prompt version", statuses=WRITE,
             request={"application/json": required_body(CREATE_BODY)},
             responses={201: LANGFUSE_PROMPT})
    def post(self, request: Request) -> Response:
        project = project_for_request(request)
        body = _body(request)
        version = services.prompt_version_create(
            project=project, name=body.get("name"), kind=body.get("type") or "text", template=body.get("prompt"),
            config=body.get("config"), commit_message=body.get("commitMessage"), labels=body.get("labels"),
            tags=body.get("tags"), actor=actor_for(request, project))
        return Response(_prompt_dict(project, version.prompt.name, version.version), status=201)


class LangfusePromptApi(_LangfusePromptApi):
    @_schema("langfuse_prompts_get", "Langfuse-compatible: get a prompt by label (default production) or version",
             statuses=READ, parameters=[NAME_PARAM, OpenApiParameter("label", str), OpenApiParameter("version", int),
                                        OpenApiParameter("resolve", bool, description="Accepted; there are no prompt "
                                                                                      "dependencies to resolve")],
             responses={200: LANGFUSE_PROMPT})
    def get(self, request: Request, name: str) -> Response:
        project = project_for_request(request)
        params = request.query_params
        resolved = selectors.resolve(project=project, name=name, label=params.get("label") or None,
                                     version=_int(params, "version"))
        return Response(selectors.langfuse_dict(resolved))


class LangfusePromptVersionApi(_LangfusePromptApi):
    @_schema("langfuse_prompt_version_update", "Langfuse-compatible: move labels to a version", statuses=WRITE,
             parameters=[NAME_PARAM],
             request={"application/json": required_body({"type": "object", "required": ["newLabels"], "properties": {
                 "newLabels": {"type": "array", "items": {"type": "string"}}}})},
             responses={200: LANGFUSE_PROMPT})
    def patch(self, request: Request, name: str, version: int) -> Response:
        """Each of `newLabels` moves to this version; labels not named stay where they are."""
        project = project_for_request(request)
        body = _body(request)
        labels = body.get("newLabels")
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise PromptError(400, "invalid", "newLabels: a list of strings", {"newLabels": "a list of strings"})
        prompt: Prompt = selectors.prompt_get(project=project, name=name)
        target = selectors.version_get(prompt, version)
        actor = actor_for(request, project)
        wanted = [services.validate_label(label) for label in labels if label != LATEST]
        for label in wanted:  # refuse before moving any
            services.check_protected(Label.objects.filter(prompt=prompt, name=label).first(), label, actor)
        for label in wanted:
            services.label_move(prompt=prompt, label=label, version=target, actor=actor, reason="Langfuse API")
        return Response(_prompt_dict(project, name, version))
