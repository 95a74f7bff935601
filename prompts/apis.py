"""Native prompts API: `/api/v1/prompts/...`. Reads need the `read` scope and answer with an ETag
and `Cache-Control: private, max-age=OBSERVATORY_PROMPT_CACHE_SECONDS` (If-None-Match → 304);
writes need the `prompts` scope, or a signed-in member (protected labels: owners and admins).
Views validate, call one service or selector, and serialise (docs/api.md, docs/prompts.md)."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from observatory.api import KeyRateThrottle, ReadRateThrottle, error_response
from observatory.openapi import AUTH, error_headers, errors, required_body
from prompts import selectors, services
from prompts.models import Experiment
from prompts.services import Actor, PromptError
from prompts.templating import RenderError, TemplateError, render_prompt
from tenancy.auth import project_for_request
from tenancy.models import ApiKey, Membership, Project, Role

WRITE_ROLES = {Role.OWNER, Role.ADMIN, Role.MEMBER}
PROTECT_ROLES = {Role.OWNER, Role.ADMIN}
PROJECT_PARAM = OpenApiParameter("project", int, description="Project id; for signed-in people (a key implies its "
                                                              "project)")
NAME_PARAM = OpenApiParameter("name", str, OpenApiParameter.PATH,
                              description="The prompt's name; folders as `a/b` (or URL-encoded `a%2Fb`)")


class ScopeByMethod(permissions.BasePermission):
    """GET/HEAD need `read`; other methods `prompts`. Signed-in people may read, and write when
    their role allows it (checked by `actor_for`, which knows the project)."""

    message = "Reading prompts needs a key with the 'read' scope; changing them the 'prompts' scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        scope = "read" if request.method in permissions.SAFE_METHODS else "prompts"
        if isinstance(request.auth, ApiKey):
            return request.auth.has_scope(scope)
        return bool(request.user and request.user.is_authenticated)


def actor_for(request: Request, project: Project) -> Actor:
    """Who is writing, and whether they may move protected labels. Keys with the prompts scope may
    (only owners and admins create keys); people according to their role; viewers may not write."""
    if isinstance(request.auth, ApiKey):
        key = request.auth
        return Actor(label=f"key {key.prefix}… ({key.name or 'unnamed'})", can_protect=True, audit_actor=request.user)
    user = request.user
    role = Role.OWNER if user.is_superuser else (Membership.objects.filter(
        user=user, organization_id=project.organization_id).values_list("role", flat=True).first())
    if role not in WRITE_ROLES:
        raise PermissionDenied("Viewers cannot change prompts.")
    return Actor(user=user, label=user.get_username(), can_protect=role in PROTECT_ROLES, audit_actor=user)


def _int(params: Any, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise PromptError(400, "invalid", f"{name}: '{str(raw)[:40]}' is not an integer", {name: "an integer"}) from None
    if value < 1:
        raise PromptError(400, "invalid", f"{name}: must be 1 or more", {name: "1 or more"})
    return value


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise PromptError(400, "invalid_body", "The body must be a JSON object.")
    return data


class PromptApiBase(APIView):
    permission_classes = [ScopeByMethod]

    def get_throttles(self) -> list[Any]:
        return [ReadRateThrottle() if self.request.method in permissions.SAFE_METHODS else KeyRateThrottle()]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, PromptError):
            return error_response(exc.status, exc.code, exc.message, exc.details)
        return super().handle_exception(exc)


def cached(request: Request, body: dict[str, Any]) -> HttpResponse | Response:
    """`body` with a strong ETag (SHA-256 of its JSON) and a private max-age; 304 when the client
    already holds it (If-None-Match)."""
    etag = '"' + hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={settings.PROMPT_CACHE_SECONDS}"}
    held = {t.strip().removeprefix("W/") for t in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")}
    if etag in held or "*" in held:
        response = HttpResponseNotModified()
        for key, value in headers.items():
            response[key] = value
        return response
    return Response(body, headers=headers)


# --- schema pieces ------------------------------------------------------------------------------

_EXPERIMENT = inline_serializer("PromptExperimentRef", {
    "id": serializers.IntegerField(), "name": serializers.CharField(), "label": serializers.CharField(),
    "salt": serializers.CharField(), "arm": serializers.IntegerField(allow_null=True, help_text="The unit's arm "
                                                                                               "(position)"),
    "arms": serializers.ListField(child=serializers.DictField())})
PROMPT = inline_serializer("PromptVersionOut", {
    "name": serializers.CharField(), "version": serializers.IntegerField(),
    "type": serializers.ChoiceField(choices=["text", "chat"]),
    "prompt": serializers.JSONField(help_text="A string (text) or a list of messages (chat)"),
    "config": serializers.DictField(), "labels": serializers.ListField(child=serializers.CharField()),
    "tags": serializers.ListField(child=serializers.CharField()),
    "variables": serializers.ListField(child=serializers.CharField()),
    "commit_message": serializers.CharField(), "author": serializers.CharField(),
    "created_at": serializers.DateTimeField(),
    "experiment": _EXPERIMENT})
PROMPT_SUMMARY = inline_serializer("PromptSummary", {
    "name": serializers.CharField(), "tags": serializers.ListField(child=serializers.CharField()),
    "latest_version": serializers.IntegerField(), "versions": serializers.IntegerField(),
    "labels": serializers.DictField(child=serializers.IntegerField(), help_text="label → version"),
    "updated_at": serializers.DateTimeField()})
VERSION_BODY = {"type": "object", "required": ["prompt"], "properties": {
    "type": {"type": "string", "enum": ["text", "chat"], "default": "text"},
    "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
               "description": "A text template, or chat messages {role, content}, with {{variables}}"},
    "config": {"type": "object", "description": "model, temperature (0-2), max_tokens (≥1), top_p (0-1), "
                                                "response_format, and any other key"},
    "commit_message": {"type": "string"}, "labels": {"type": "array", "items": {"type": "string"}},
    "tags": {"type": "array", "items": {"type": "string"}}}}
LABEL_BODY = {"type": "object", "required": ["version"], "properties": {
    "version": {"type": "integer", "minimum": 1}, "reason": {"type": "string"}}}
_NOT_MODIFIED = OpenApiResponse(description="Not modified: the ETag sent in If-None-Match is current")
_DESCRIBED = {400: "A bad parameter or body; a malformed template or unknown variable is named in `details`",
              403: "The key lacks the scope (read for GET, prompts for writes), a viewer writes, or a member "
                   "moves a protected label",
              404: "No such prompt, version, label or experiment in this project",
              409: "An experiment already runs on the label, or has ended"}
READ = (400, 404, *AUTH)
WRITE = (400, 404, 409, *AUTH)


def _schema(operation_id: str, summary: str, *, responses: dict[Any, Any], statuses: tuple[int, ...],
            parameters: list[Any] | None = None, request: Any = None) -> Any:
    return extend_schema(operation_id=operation_id, summary=summary, tags=["prompts"], request=request,
                         parameters=[PROJECT_PARAM, *(parameters or []), *error_headers(statuses)],
                         responses={**responses, **errors(*statuses, described=_DESCRIBED)})


_ETAG = [OpenApiParameter("ETag", str, OpenApiParameter.HEADER, response=[200, 304]),
         OpenApiParameter("Cache-Control", str, OpenApiParameter.HEADER, response=[200, 304],
                          description="private, max-age=OBSERVATORY_PROMPT_CACHE_SECONDS"),
         OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="A held ETag: 304 if current")]


# --- views --------------------------------------------------------------------------------------


class PromptListApi(PromptApiBase):
    @_schema("prompts_list", "List the project's prompts", statuses=READ,
             responses={200: inline_serializer("PromptList", {"data": serializers.ListField(child=PROMPT_SUMMARY)})})
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        data = [{"name": p.name, "tags": p.tags, "latest_version": p.latest_version, "versions": p.version_count,
                 "labels": {label.name: label.version.version for label in p.labels.all()},
                 "updated_at": p.updated_at.isoformat()} for p in selectors.prompt_list(project=project)]
        return Response({"data": data})


class PromptApi(PromptApiBase):
    @_schema("prompts_get", "Fetch a prompt version: by label (default production), version or experiment unit",
             statuses=READ, parameters=[
                 NAME_PARAM, OpenApiParameter("label", str, description="Default production; `latest` is the newest"),
                 OpenApiParameter("version", int), *_ETAG,
                 OpenApiParameter("unit", str, description="A user, session or any key: with a running experiment "
                                                           "on the label, the unit's arm (sticky)")],
             responses={200: PROMPT, 304: _NOT_MODIFIED})
    def get(self, request: Request, name: str) -> Any:
        project = project_for_request(request)
        params = request.query_params
        resolved = selectors.resolve(project=project, name=name, label=params.get("label") or None,
                                     version=_int(params, "version"), unit=params.get("unit") or None)
        return cached(request, selectors.native_dict(resolved))


class PromptVersionsApi(PromptApiBase):
    @_schema("prompts_versions_list", "A prompt's versions, newest first", statuses=READ, parameters=[NAME_PARAM],
             responses={200: inline_serializer("PromptVersionList", {"data": serializers.ListField(child=PROMPT)})})
    def get(self, request: Request, name: str) -> Response:
        project = project_for_request(request)
        prompt = selectors.prompt_get(project=project, name=name)
        data = [selectors.native_dict(selectors.Resolved(prompt=prompt, version=v, labels=labels))
                for v, labels in selectors.versions_list(prompt)]
        return Response({"data": data})

    @_schema("prompts_versions_create", "Create a version (the prompt too, if new); optionally label it",
             statuses=WRITE, parameters=[NAME_PARAM], request={"application/json": required_body(VERSION_BODY)},
             responses={201: PROMPT})
    def post(self, request: Request, name: str) -> Response:
        project = project_for_request(request)
        body = _body(request)
        version = services.prompt_version_create(
            project=project, name=name, kind=body.get("type", "text"), template=body.get("prompt"),
            config=body.get("config"), commit_message=body.get("commit_message", ""), labels=body.get("labels"),
            tags=body.get("tags"), actor=actor_for(request, project))
        prompt = version.prompt
        resolved = selectors.Resolved(prompt=prompt, version=version,
                                      labels=selectors.labels_by_version(prompt).get(version.version, []))
        return Response(selectors.native_dict(resolved), status=201)


class PromptVersionApi(PromptApiBase):
    @_schema("prompts_version_get", "One version", statuses=READ, parameters=[NAME_PARAM, *_ETAG],
             responses={200: PROMPT, 304: _NOT_MODIFIED})
    def get(self, request: Request, name: str, version: int) -> Any:
        project = project_for_request(request)
        return cached(request, selectors.native_dict(selectors.resolve(project=project, name=name, version=version)))


class PromptLabelApi(PromptApiBase):
    @_schema("prompts_label_move", "Point a label at a version (created if new)", statuses=WRITE,
             parameters=[NAME_PARAM], request={"application/json": required_body(LABEL_BODY)},
             responses={200: PROMPT})
    def put(self, request: Request, name: str, label: str) -> Response:
        project = project_for_request(request)
        body = _body(request)
        prompt = selectors.prompt_get(project=project, name=name)
        number = body.get("version")
        if isinstance(number, bool) or not isinstance(number, int):
            raise PromptError(400, "invalid", "version: an integer", {"version": "an integer"})
        version = selectors.version_get(prompt, number)
        reason = body.get("reason") or ""
        if not isinstance(reason, str):
            raise PromptError(400, "invalid", "reason: a string", {"reason": "a string"})
        services.label_move(prompt=prompt, label=label, version=version, actor=actor_for(request, project),
                            reason=reason)
        return Response(selectors.native_dict(selectors.resolve(project=project, name=name, label=label)))

    @_schema("prompts_label_remove", "Remove a label", statuses=WRITE, parameters=[NAME_PARAM],
             responses={204: None})
    def delete(self, request: Request, name: str, label: str) -> Response:
        project = project_for_request(request)
        prompt = selectors.prompt_get(project=project, name=name)
        services.label_remove(prompt=prompt, label=label, actor=actor_for(request, project))
        return Response(status=204)


class PromptDiffApi(PromptApiBase):
    @_schema("prompts_diff", "Unified diff between two versions (template and config)", statuses=READ,
             parameters=[NAME_PARAM, OpenApiParameter("from", int, required=True),
                         OpenApiParameter("to", int, required=True)],
             responses={200: inline_serializer("PromptDiff", {
                 "from": serializers.IntegerField(), "to": serializers.IntegerField(),
                 "lines": serializers.ListField(child=inline_serializer("PromptDiffLine", {
                     "op": serializers.ChoiceField(choices=[" ", "+", "-", "@"]), "text": serializers.CharField()}))})})
    def get(self, request: Request, name: str) -> Response:
        project = project_for_request(request)
        prompt = selectors.prompt_get(project=project, name=name)
        a, b = _int(request.query_params, "from"), _int(request.query_params, "to")
        if a is None or b is None:
            raise PromptError(400, "invalid", "from and to: two version numbers", {"from": "required", "to": "required"})
        return Response({"from": a, "to": b,
                         "lines": selectors.diff(selectors.version_get(prompt, a), selectors.version_get(prompt, b))})


class ReadScope(ScopeByMethod):
    message = "Rendering a prompt needs a key with the 'read' scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.auth.has_scope("read")
        return bool(request.user and request.user.is_authenticated)


class PromptRenderApi(PromptApiBase):
    permission_classes = [ReadScope]  # rendering changes nothing: a read

    @_schema("prompts_render", "Render a version with variables", statuses=READ, parameters=[NAME_PARAM],
             request={"application/json": required_body({"type": "object", "required": ["variables"], "properties": {
                 "label": {"type": "string"}, "version": {"type": "integer"},
                 "variables": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}}})},
             responses={200: inline_serializer("PromptRendered", {
                 "version": serializers.IntegerField(), "prompt": serializers.JSONField()})})
    def post(self, request: Request, name: str) -> Response:
        project = project_for_request(request)
        body = _body(request)
        values = body.get("variables")
        if not isinstance(values, dict):
            raise PromptError(400, "invalid", "variables: an object {name: value}", {"variables": "an object"})
        version = body.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise PromptError(400, "invalid", "version: an integer", {"version": "an integer"})
        resolved = selectors.resolve(project=project, name=name, label=body.get("label"), version=version)
        v = resolved.version
        try:
            rendered = render_prompt(v.type, v.template, values)
        except RenderError as exc:
            details = {**{n: "missing" for n in exc.missing}, **{n: "unknown variable" for n in exc.unknown}}
            raise PromptError(400, "invalid_variables", str(exc), details) from None
        except TemplateError as exc:  # stored before a stricter parser: say so rather than 500
            raise PromptError(400, "invalid_template", str(exc), {exc.where: exc.message}) from None
        return Response({"version": v.version, "prompt": rendered})


_EXPERIMENT_OUT = inline_serializer("PromptExperiment", {
    "id": serializers.IntegerField(), "name": serializers.CharField(), "label": serializers.CharField(),
    "status": serializers.ChoiceField(choices=["running", "shipped", "stopped"]), "salt": serializers.CharField(),
    "arms": serializers.ListField(child=serializers.DictField()), "started_at": serializers.DateTimeField(),
    "ended_at": serializers.DateTimeField(allow_null=True), "winner": serializers.IntegerField(allow_null=True)})


def experiment_dict(e: Experiment) -> dict[str, Any]:
    return {"id": e.pk, "name": e.name, "label": e.label, "status": e.status, "salt": e.salt,
            "arms": [{"position": a.position, "version": a.version.version, "weight": a.weight}
                     for a in e.arms.select_related("version").all()],
            "started_at": e.started_at.isoformat(), "ended_at": e.ended_at.isoformat() if e.ended_at else None,
            "winner": e.winner.version if e.winner_id else None}


class ExperimentsApi(PromptApiBase):
    @_schema("prompts_experiments_list", "A prompt's experiments, newest first", statuses=READ,
             parameters=[NAME_PARAM],
             responses={200: inline_serializer("PromptExperimentList", {
                 "data": serializers.ListField(child=_EXPERIMENT_OUT)})})
    def get(self, request: Request, name: str) -> Response:
        prompt = selectors.prompt_get(project=project_for_request(request), name=name)
        rows = prompt.experiments.select_related("winner").order_by("-started_at")
        return Response({"data": [experiment_dict(e) for e in rows]})

    @_schema("prompts_experiments_start", "Start an experiment splitting a label between versions", statuses=WRITE,
             parameters=[NAME_PARAM], responses={201: _EXPERIMENT_OUT},
             request={"application/json": required_body({"type": "object", "required": ["label", "arms"], "properties": {
                 "label": {"type": "string"}, "name": {"type": "string"},
                 "salt": {"type": "string", "description": "Default: random"},
                 "arms": {"type": "array", "minItems": 2, "items": {"type": "object", "required": ["version", "weight"],
                          "properties": {"version": {"type": "integer"}, "weight": {"type": "number"}}}}}})})
    def post(self, request: Request, name: str) -> Response:
        project = project_for_request(request)
        body = _body(request)
        prompt = selectors.prompt_get(project=project, name=name)
        arms = body.get("arms")
        if not isinstance(arms, list) or not all(isinstance(a, dict) and isinstance(a.get("version"), int)
                                                 for a in arms):
            raise PromptError(400, "invalid", "arms: a list of {version, weight}", {"arms": "a list of {version, weight}"})
        experiment = services.experiment_start(
            prompt=prompt, label=body.get("label"), arms=[(a["version"], a.get("weight")) for a in arms],
            actor=actor_for(request, project), name=str(body.get("name") or ""), salt=body.get("salt"))
        return Response(experiment_dict(experiment), status=201)


_END_BODY = {"type": "object", "properties": {"version": {"type": "integer",
                                                             "description": "ship: the winning arm's version"},
                                                 "reason": {"type": "string"}}}


class _ExperimentEndApi(PromptApiBase):
    def end(self, request: Request, name: str, experiment_id: int, *, ship: bool) -> Response:
        project = project_for_request(request)
        prompt = selectors.prompt_get(project=project, name=name)
        experiment = prompt.experiments.filter(pk=experiment_id).first()
        if experiment is None:
            raise PromptError(404, "not_found", f"Prompt '{name}' has no experiment {experiment_id}.")
        body = request.data if isinstance(request.data, dict) else {}
        reason = str(body.get("reason") or "")
        actor = actor_for(request, project)
        if ship:
            number = body.get("version")
            if isinstance(number, bool) or not isinstance(number, int):
                raise PromptError(400, "invalid", "version: the winning arm's version", {"version": "an integer"})
            experiment = services.experiment_ship(experiment=experiment, version=selectors.version_get(prompt, number),
                                                  actor=actor, reason=reason)
        else:
            experiment = services.experiment_stop(experiment=experiment, actor=actor, reason=reason)
        return Response(experiment_dict(experiment))


class ExperimentShipApi(_ExperimentEndApi):
    @_schema("prompts_experiment_ship", "Ship an experiment: move its label to the winning version and end it",
             statuses=WRITE, parameters=[NAME_PARAM], responses={200: _EXPERIMENT_OUT},
             request={"application/json": required_body({**_END_BODY, "required": ["version"]})})
    def post(self, request: Request, name: str, experiment_id: int) -> Response:
        return self.end(request, name, experiment_id, ship=True)


class ExperimentStopApi(_ExperimentEndApi):
    @_schema("prompts_experiment_stop", "Stop an experiment (the label stays where it is)", statuses=WRITE,
             parameters=[NAME_PARAM], responses={200: _EXPERIMENT_OUT}, request={"application/json": _END_BODY})
    def post(self, request: Request, name: str, experiment_id: int) -> Response:
        return self.end(request, name, experiment_id, ship=False)


class ExperimentResultsApi(PromptApiBase):
    @_schema("prompts_experiment_results", "An experiment's arms, SRM check and comparisons against the control",
             statuses=READ, parameters=[NAME_PARAM],
             responses={200: inline_serializer("PromptExperimentResults", {
                 "experiment": serializers.IntegerField(), "start": serializers.DateTimeField(),
                 "end": serializers.DateTimeField(), "arms": serializers.ListField(child=serializers.DictField()),
                 "srm": serializers.DictField(allow_null=True, help_text="chi2, p, mismatch (p < srm_alpha)"),
                 "comparisons": serializers.ListField(child=serializers.DictField(), help_text=(
                     "metric, test (z | welch), lower_is_better, arm, version, control, treatment, difference,"
                     " z (or t), p (fixed-horizon), low and high (the always-valid interval on the difference),"
                     " p_sequential (always-valid), p_adjusted (Benjamini–Hochberg on p_sequential), verdict"
                     " (better | worse | inconclusive), n_control, n_treatment")),
                 "min_sample": serializers.IntegerField(), "alpha": serializers.FloatField(),
                 "srm_alpha": serializers.FloatField(),
                 "sequential_tuning": serializers.IntegerField(help_text="N*, the total sample at which the "
                                                                         "always-valid intervals are tightest")})})
    def get(self, request: Request, name: str, experiment_id: int) -> Response:
        prompt = selectors.prompt_get(project=project_for_request(request), name=name)
        experiment = prompt.experiments.filter(pk=experiment_id).first()
        if experiment is None:
            raise PromptError(404, "not_found", f"Prompt '{name}' has no experiment {experiment_id}.")
        return Response(selectors.experiment_results(experiment))


_GUARD = inline_serializer("PromptGuard", {
    "id": serializers.IntegerField(), "label": serializers.CharField(), "metric": serializers.CharField(),
    "flag": serializers.CharField(), "score": serializers.CharField(),
    "compare": serializers.ChoiceField(choices=["threshold", "previous"]),
    "threshold": serializers.FloatField(), "min_sample": serializers.IntegerField(),
    "window_minutes": serializers.IntegerField(), "state": serializers.ChoiceField(choices=["armed", "tripped"]),
    "tripped_at": serializers.DateTimeField(allow_null=True), "last_checked_at": serializers.DateTimeField(
        allow_null=True), "last_value": serializers.DictField()})


def guard_dict(g: Any) -> dict[str, Any]:
    return {"id": g.pk, "label": g.label, "metric": g.metric, "flag": g.flag, "score": g.score,
            "compare": g.compare, "threshold": g.threshold,
            "min_sample": g.min_sample, "window_minutes": g.window_minutes, "state": g.state,
            "tripped_at": g.tripped_at.isoformat() if g.tripped_at else None,
            "last_checked_at": g.last_checked_at.isoformat() if g.last_checked_at else None,
            "last_value": g.last_value}


class GuardsApi(PromptApiBase):
    @_schema("prompts_guards_list", "A prompt's guards", statuses=READ, parameters=[NAME_PARAM],
             responses={200: inline_serializer("PromptGuardList", {"data": serializers.ListField(child=_GUARD)})})
    def get(self, request: Request, name: str) -> Response:
        prompt = selectors.prompt_get(project=project_for_request(request), name=name)
        return Response({"data": [guard_dict(g) for g in prompt.guards.order_by("label", "id")]})

    @_schema("prompts_guards_create", "Guard a label: roll it back when a metric crosses a limit", statuses=WRITE,
             parameters=[NAME_PARAM], responses={201: _GUARD},
             request={"application/json": required_body({
                 "type": "object", "required": ["label", "metric", "threshold"], "properties": {
                     "label": {"type": "string"},
                     "metric": {"type": "string", "enum": ["error_rate", "flag_rate", "thumbs_down_rate",
                                                           "latency_p95", "cost_per_call", "score_avg"]},
                     "flag": {"type": "string", "description": "flag_rate: the flag"},
                     "score": {"type": "string", "description": "score_avg: the score (`human:helpfulness` for "
                                                                "client scores)"},
                     "compare": {"type": "string", "enum": ["threshold", "previous"], "default": "threshold",
                                 "description": "threshold: the bound passes `threshold`; previous: worse than the "
                                                "previous version by more than `threshold` (a margin)"},
                     "threshold": {"type": "number", "minimum": 0},
                     "min_sample": {"type": "integer", "minimum": 1, "default": 100},
                     "window_minutes": {"type": "integer", "minimum": 1, "maximum": 10080, "default": 60}}})})
    def post(self, request: Request, name: str) -> Response:
        from prompts.guards import guard_create

        project = project_for_request(request)
        body = _body(request)
        prompt = selectors.prompt_get(project=project, name=name)
        guard = guard_create(prompt=prompt, label=body.get("label"), metric=body.get("metric"),
                             threshold=body.get("threshold"), flag=str(body.get("flag") or ""),
                             score=str(body.get("score") or ""), compare=str(body.get("compare") or "threshold"),
                             min_sample=body.get("min_sample", 100), window_minutes=body.get("window_minutes", 60),
                             actor=actor_for(request, project))
        return Response(guard_dict(guard), status=201)


class GuardRearmApi(PromptApiBase):
    @_schema("prompts_guard_rearm", "Re-arm a tripped guard", statuses=WRITE, parameters=[NAME_PARAM],
             responses={200: _GUARD})
    def post(self, request: Request, name: str, guard_id: int) -> Response:
        from prompts.guards import guard_rearm

        project = project_for_request(request)
        prompt = selectors.prompt_get(project=project, name=name)
        guard = prompt.guards.filter(pk=guard_id).first()
        if guard is None:
            raise PromptError(404, "not_found", f"Prompt '{name}' has no guard {guard_id}.")
        return Response(guard_dict(guard_rearm(guard=guard, actor=actor_for(request, project))))
