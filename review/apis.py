"""REST API of review queues and golden datasets (docs/api.md, "Review"). Thin: parse, call one
service or selector, shape the answer. Reads take a project key with the `read` scope or a
signed-in member; writes are a person's (a verdict has a reviewer), so they need a signed-in
member of the organization: members review, admins and owners manage queues, rules and datasets."""
from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from observatory.api import ReadRateThrottle, error_response
from observatory.openapi import AUTH, errors
from review import datasets, reviewing, selectors, services
from review.access import can_manage, can_review, role_of
from review.errors import ReviewError
from review.models import Dataset, DatasetVersion, Item, ItemStatus, Queue, RoutingRule
from tenancy.auth import project_for_request, require_scope
from tenancy.models import ApiKey, Project

MAX_LIMIT = 500
PROJECT = OpenApiParameter("project", int, description="Project id; only for signed-in people (keys imply it)")
_OBJECT = OpenApiTypes.OBJECT
_READ_ERRORS = errors(400, 404, *AUTH, described={404: "No such queue, item or dataset in the project"})
_WRITE_ERRORS = errors(400, 404, *AUTH, described={
    400: "Invalid body: `details` names the field (an unknown flag, a rubric without options, a verdict "
         "outside the rubric, ...)",
    403: "An API key (writes are a signed-in person's), or a role that may not do this (members review; "
         "admins and owners manage queues, rules and datasets)",
    404: "No such queue, rule, item or dataset in the project"})
_CONFLICT = errors(409, described={409: "The item is held by another reviewer, complete, or already reviewed by "
                                        "you; a dataset name in use"})


def _id(raw: Any, what: str) -> int:
    """A path id: a positive integer PostgreSQL can hold, else the API's 404."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise NotFound(f"No such {what}.") from None
    if not 0 < value < 2**63:
        raise NotFound(f"No such {what}.")
    return value


def _nul(value: Any) -> str | None:
    """The first key path holding a NUL character (PostgreSQL refuses them in text and JSON)."""
    if isinstance(value, str):
        return "" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return str(key)
            found = _nul(item)
            if found is not None:
                return f"{key}{found}" if found.startswith("[") else f"{key}.{found}".rstrip(".")
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul(item)
            if found is not None:
                return f"[{i}]{'.' + found if found else ''}"
    return None


class PersonOnly(permissions.BasePermission):
    message = "Reviews and queue changes are made by people: sign in (API keys can read, not write)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and not isinstance(request.auth, ApiKey))


class _Api(APIView):
    throttle_classes = [ReadRateThrottle]

    def get_permissions(self) -> list[Any]:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [require_scope("read")()]
        return [PersonOnly()]

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, ReviewError):
            return error_response(exc.status, type(exc).__name__.lower(), f"{exc.field}: {exc.message}",
                                  details={exc.field: exc.message})
        return super().handle_exception(exc)

    def body(self, request: Request) -> dict[str, Any]:
        if not isinstance(request.data, dict):
            raise ValidationError({"body": "a JSON object"})
        where = _nul(request.data)
        if where is not None:
            raise ValidationError({where or "body": "no NUL characters (\\u0000)"})
        return dict(request.data)

    def project(self, request: Request, *, write: str = "") -> tuple[Project, str | None]:
        project = project_for_request(request)
        return project, self.check_role(request, project, write)

    def check_role(self, request: Request, project: Project, write: str) -> str | None:
        role = None if isinstance(request.auth, ApiKey) else role_of(request.user, project)
        if isinstance(request.auth, ApiKey):
            if request.auth.project_id != project.id:
                raise NotFound("No such queue in this project.")
        elif role is None:
            raise NotFound("No such project, or you are not a member of its organization.")
        if write == "manage" and not can_manage(role):
            raise PermissionDenied("Only owners and admins create and change queues, rules and datasets.")
        if write == "review" and not can_review(role):
            raise PermissionDenied("Viewers read queues; members, admins and owners review.")
        return role

    def queue(self, request: Request, queue_id: str, *, write: str = "") -> Queue:
        queue = Queue.objects.select_related("project").filter(pk=_id(queue_id, "queue")).first()
        if queue is None:
            raise NotFound("No such queue.")
        self.check_role(request, queue.project, write)
        return queue


def queue_dict(queue: Queue) -> dict[str, Any]:
    return {"id": queue.id, "name": queue.name, "slug": queue.slug, "instructions": queue.instructions,
            "rubric": queue.rubric, "reviewers_per_item": queue.reviewers_per_item, "assignment": queue.assignment,
            "members": sorted(queue.members.values_list("id", flat=True)), "daily_cap": queue.daily_cap,
            "lock_minutes": queue.lock_minutes, "active": queue.active, "created_at": queue.created_at,
            "score_names": [reviewing.score_name(queue, q["name"]) for q in queue.rubric if q["kind"] != "text"]}


def rule_dict(rule: RoutingRule) -> dict[str, Any]:
    return {"id": rule.id, "queue": rule.queue_id, "kind": rule.kind, "enabled": rule.enabled,
            "flags": rule.flag_names, "min_severity": rule.min_severity, "score": rule.score_name,
            "direction": rule.direction, "threshold": rule.threshold, "feedback": rule.feedback,
            "rating_max": rule.rating_max, "rate": rule.sample_rate, "alert_rule": rule.alert_rule_id,
            "count": rule.sample_count, "models": rule.models_filter,
            "features": rule.features, "prompt_versions": rule.prompt_versions, "environments": rule.environments,
            "description": selectors.rule_describe(rule)}


def item_dict(item: Item, *, payload: bool = False) -> dict[str, Any]:
    out = {"id": item.id, "queue": item.queue_id, "call_id": item.call.external_id, "status": item.status,
           "reason": item.reason, "reasons": selectors.item_reasons(item), "submissions": item.submissions,
           "locked_until": item.locked_until, "created_at": item.created_at, "done_at": item.done_at,
           "resolution": item.resolution}
    if payload:
        body = getattr(item.call, "payload", None)
        out.update(input=body.input if body else None, output=body.output if body else None,
                   context=body.context if body else None)
    return out


_QUEUE_BODY = inline_serializer("QueueBody", {
    "name": serializers.CharField(), "instructions": serializers.CharField(required=False),
    "rubric": serializers.JSONField(help_text="Questions: docs/review.md, rubric"),
    "reviewers_per_item": serializers.IntegerField(required=False, min_value=1, max_value=5),
    "assignment": serializers.ChoiceField(["pool", "round_robin"], required=False),
    "members": serializers.ListField(child=serializers.IntegerField(), required=False),
    "daily_cap": serializers.IntegerField(required=False, allow_null=True),
    "lock_minutes": serializers.IntegerField(required=False), "active": serializers.BooleanField(required=False)})
_RULE_BODY = inline_serializer("RuleBody", {
    "kind": serializers.ChoiceField(["flag", "score", "feedback", "error", "sample", "incident"]),
    "flags": serializers.ListField(child=serializers.CharField(), required=False),
    "min_severity": serializers.ChoiceField(["low", "medium", "high", "critical"], required=False),
    "score": serializers.CharField(required=False), "direction": serializers.ChoiceField(["above", "below"],
                                                                                         required=False),
    "threshold": serializers.FloatField(required=False),
    "feedback": serializers.ChoiceField(["thumbs_down", "rating", "comment"], required=False),
    "rating_max": serializers.IntegerField(required=False), "rate": serializers.FloatField(required=False),
    "alert_rule": serializers.IntegerField(required=False, help_text="incident kind: the alert rule's id"),
    "count": serializers.IntegerField(required=False, help_text="incident kind: calls per incident (or rate)"),
    **{name: serializers.ListField(child=serializers.CharField(), required=False)
       for name in ("models", "features", "prompt_versions", "environments")},
    "enabled": serializers.BooleanField(required=False)})
_VERDICT_BODY = inline_serializer("VerdictBody", {
    "answers": serializers.JSONField(help_text="{question name: answer}"),
    "corrected_output": serializers.CharField(required=False), "comment": serializers.CharField(required=False)})


class QueueListApi(_Api):
    @extend_schema(operation_id="review_queues_list", tags=["review"], summary="Queues with their health",
                   parameters=[PROJECT], responses={200: _OBJECT, **_READ_ERRORS})
    def get(self, request: Request) -> Response:
        project, _ = self.project(request)
        health = selectors.queues_health(project_id=project.id)
        return Response({"data": [{**queue_dict(h.queue), "backlog": h.backlog, "oldest_pending": h.oldest_pending,
                                   "done": h.done_total, "escalated": h.escalated,
                                   "left_out_today": h.left_out_today} for h in health]})

    @extend_schema(operation_id="review_queues_create", tags=["review"], summary="Create a queue",
                   parameters=[PROJECT], request=_QUEUE_BODY, responses={201: _OBJECT, **_WRITE_ERRORS})
    def post(self, request: Request) -> Response:
        project, _ = self.project(request, write="manage")
        queue = services.queue_create(project=project, actor=request.user, data=self.body(request))
        return Response(queue_dict(queue), status=201)


class QueueApi(_Api):
    @extend_schema(operation_id="review_queues_retrieve", tags=["review"], summary="A queue",
                   responses={200: _OBJECT, **_READ_ERRORS})
    def get(self, request: Request, queue_id: str) -> Response:
        return Response(queue_dict(self.queue(request, queue_id)))

    @extend_schema(operation_id="review_queues_update", tags=["review"], summary="Change a queue (fields given)",
                   request=_QUEUE_BODY, responses={200: _OBJECT, **_WRITE_ERRORS})
    def patch(self, request: Request, queue_id: str) -> Response:
        queue = self.queue(request, queue_id, write="manage")
        return Response(queue_dict(services.queue_update(queue=queue, actor=request.user, data=self.body(request))))

    @extend_schema(operation_id="review_queues_destroy", tags=["review"], summary="Delete a queue and its items",
                   responses={204: None, **_WRITE_ERRORS})
    def delete(self, request: Request, queue_id: str) -> Response:
        services.queue_delete(queue=self.queue(request, queue_id, write="manage"), actor=request.user)
        return Response(status=204)


class RuleListApi(_Api):
    @extend_schema(operation_id="review_rules_list", tags=["review"], summary="A queue's routing rules",
                   responses={200: _OBJECT, **_READ_ERRORS})
    def get(self, request: Request, queue_id: str) -> Response:
        queue = self.queue(request, queue_id)
        return Response({"data": [rule_dict(r) for r in queue.rules.order_by("id")]})

    @extend_schema(operation_id="review_rules_create", tags=["review"], summary="Add a routing rule",
                   request=_RULE_BODY, responses={201: _OBJECT, **_WRITE_ERRORS})
    def post(self, request: Request, queue_id: str) -> Response:
        queue = self.queue(request, queue_id, write="manage")
        return Response(rule_dict(services.rule_create(queue=queue, actor=request.user, data=self.body(request))),
                        status=201)


class RuleApi(_Api):
    def rule(self, request: Request, queue_id: str, rule_id: str) -> RoutingRule:
        queue = self.queue(request, queue_id, write="manage")
        rule = queue.rules.filter(pk=_id(rule_id, "rule")).first()
        if rule is None:
            raise NotFound("No such rule in this queue.")
        return rule

    @extend_schema(operation_id="review_rules_update", tags=["review"], summary="Replace a rule",
                   request=_RULE_BODY, responses={200: _OBJECT, **_WRITE_ERRORS})
    def put(self, request: Request, queue_id: str, rule_id: str) -> Response:
        rule = self.rule(request, queue_id, rule_id)
        return Response(rule_dict(services.rule_update(rule=rule, actor=request.user, data=self.body(request))))

    @extend_schema(operation_id="review_rules_destroy", tags=["review"], summary="Delete a rule",
                   responses={204: None, **_WRITE_ERRORS})
    def delete(self, request: Request, queue_id: str, rule_id: str) -> Response:
        services.rule_delete(rule=self.rule(request, queue_id, rule_id), actor=request.user)
        return Response(status=204)


class BackfillApi(RuleApi):
    @extend_schema(operation_id="review_rules_backfill", tags=["review"],
                   summary="Apply the rule to the calls of the last N days (in the background)",
                   request=inline_serializer("BackfillBody", {"days": serializers.IntegerField(min_value=1,
                                                                                               max_value=90)}),
                   responses={202: _OBJECT, **_WRITE_ERRORS})
    def post(self, request: Request, queue_id: str, rule_id: str) -> Response:
        rule = self.rule(request, queue_id, rule_id)
        backfill = services.backfill_start(rule=rule, days=self.body(request).get("days"), actor=request.user)
        return Response({"id": backfill.id, "start": backfill.start, "end": backfill.end}, status=202)


def _int(params: Any, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: "must be an integer"}) from None
    if not low <= value <= high:
        raise ValidationError({name: f"must be between {low} and {high}"})
    return value


class ItemListApi(_Api):
    @extend_schema(operation_id="review_items_list", tags=["review"], summary="A queue's items, newest first",
                   parameters=[OpenApiParameter("status", str, enum=["open", *ItemStatus.values]),
                               OpenApiParameter("after", int, description="the last id of the previous page"),
                               OpenApiParameter("limit", int, description=f"1..{MAX_LIMIT}, default 50")],
                   responses={200: _OBJECT, **_READ_ERRORS})
    def get(self, request: Request, queue_id: str) -> Response:
        queue = self.queue(request, queue_id)
        status = request.query_params.get("status") or None
        if status is not None and status not in ("open", *ItemStatus.values):
            raise ValidationError({"status": f"one of open, {', '.join(ItemStatus.values)}"})
        after = _int(request.query_params, "after", 0, 0, 2**62) or None
        limit = _int(request.query_params, "limit", 50, 1, MAX_LIMIT)
        rows = selectors.items_page(queue=queue, status=status, after=after, limit=limit)
        return Response({"data": [item_dict(i) for i in rows],
                         "next_after": rows[-1].id if len(rows) == limit else None})

    @extend_schema(operation_id="review_items_add", tags=["review"], summary="Add calls by hand (no daily cap)",
                   request=inline_serializer("ItemsAddBody", {"call_ids": serializers.ListField(
                       child=serializers.CharField())}), responses={201: _OBJECT, **_WRITE_ERRORS})
    def post(self, request: Request, queue_id: str) -> Response:
        queue = self.queue(request, queue_id, write="review")
        added = services.items_add(queue=queue, call_ids=self.body(request).get("call_ids"), actor=request.user)
        return Response({"added": added}, status=201)


class NextItemApi(_Api):
    @extend_schema(operation_id="review_items_next", tags=["review"], request=None,
                   summary="Claim the next item (locked for the queue's lock minutes); 204 when none is left",
                   responses={200: _OBJECT, 204: None, **_WRITE_ERRORS})
    def post(self, request: Request, queue_id: str) -> Response:
        queue = self.queue(request, queue_id, write="review")
        item = reviewing.item_claim_next(queue=queue, user=request.user)
        if item is None:
            return Response(status=204)
        item = Item.objects.select_related("call", "call__payload").get(pk=item.pk)
        return Response(item_dict(item, payload=True))


class SubmitApi(_Api):
    @extend_schema(operation_id="review_items_submit", tags=["review"], request=_VERDICT_BODY,
                   summary="Submit a verdict; its answers become human scores",
                   responses={201: _OBJECT, **_WRITE_ERRORS, **_CONFLICT})
    def post(self, request: Request, queue_id: str, item_id: str) -> Response:
        queue = self.queue(request, queue_id, write="review")
        body = self.body(request)
        if unknown := sorted(set(body) - {"answers", "corrected_output", "comment"}):
            raise ValidationError({unknown[0]: "unknown field; use answers, corrected_output, comment"})
        verdict = reviewing.verdict_submit(item_id=_id(item_id, "item"), queue=queue, user=request.user,
                                           answers=body.get("answers"),
                                           corrected_output=body.get("corrected_output", ""),
                                           comment=body.get("comment", ""))
        item = Item.objects.select_related("call").get(pk=verdict.item_id)
        return Response({"verdict": verdict.id, "item": item_dict(item)}, status=201)


class ResolveApi(_Api):
    @extend_schema(operation_id="review_items_resolve", tags=["review"], request=_VERDICT_BODY,
                   summary="An admin's final verdict on an escalated item (its reviewers disagreed)",
                   responses={200: _OBJECT, **_WRITE_ERRORS, **_CONFLICT})
    def post(self, request: Request, queue_id: str, item_id: str) -> Response:
        queue = self.queue(request, queue_id, write="manage")
        body = self.body(request)
        if unknown := sorted(set(body) - {"answers", "corrected_output", "comment"}):
            raise ValidationError({unknown[0]: "unknown field; use answers, corrected_output, comment"})
        item = reviewing.item_resolve(item_id=_id(item_id, "item"), queue=queue, user=request.user,
                                      answers=body.get("answers"), corrected_output=body.get("corrected_output", ""),
                                      comment=body.get("comment", ""))
        return Response(item_dict(Item.objects.select_related("call").get(pk=item.pk)))


class SkipApi(_Api):
    @extend_schema(operation_id="review_items_skip", tags=["review"], request=None,
                   summary="Pass on an item: back to the pool for the others",
                   responses={204: None, **_WRITE_ERRORS})
    def post(self, request: Request, queue_id: str, item_id: str) -> Response:
        queue = self.queue(request, queue_id, write="review")
        item = Item.objects.filter(queue=queue, pk=_id(item_id, "item")).first()
        if item is None:
            raise NotFound("No such item in this queue.")
        reviewing.item_skip(item=item, user=request.user)
        return Response(status=204)


def dataset_dict(dataset: Dataset) -> dict[str, Any]:
    return {"name": dataset.name, "description": dataset.description, "queue": dataset.queue_id,
            "created_at": dataset.created_at,
            "versions": [version_dict(v) for v in dataset.versions.order_by("version")]}


def version_dict(version: DatasetVersion) -> dict[str, Any]:
    return {"version": version.version, "items": version.item_count, "created_at": version.created_at}


class DatasetListApi(_Api):
    @extend_schema(operation_id="review_datasets_list", tags=["review"], summary="Golden datasets",
                   parameters=[PROJECT], responses={200: _OBJECT, **_READ_ERRORS})
    def get(self, request: Request) -> Response:
        project, _ = self.project(request)
        return Response({"data": [dataset_dict(d) for d in Dataset.objects.filter(project=project).order_by("name")]})

    @extend_schema(operation_id="review_datasets_create", tags=["review"], summary="Create a dataset",
                   parameters=[PROJECT], request=inline_serializer("DatasetBody", {
                       "name": serializers.SlugField(), "description": serializers.CharField(required=False),
                       "queue": serializers.IntegerField(required=False)}),
                   responses={201: _OBJECT, **_WRITE_ERRORS, **_CONFLICT})
    def post(self, request: Request) -> Response:
        project, _ = self.project(request, write="manage")
        body = self.body(request)
        queue = _queue_of(project, body.get("queue"))
        dataset = datasets.dataset_create(project=project, actor=request.user, name=body.get("name"),
                                          description=body.get("description", ""), queue=queue)
        return Response(dataset_dict(dataset), status=201)


def _queue_of(project: Project, raw: Any) -> Queue | None:
    if raw is None:
        return None
    ok = isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 2**63
    queue = Queue.objects.filter(project=project, pk=raw).first() if ok else None
    if queue is None:
        raise ValidationError({"queue": "no such queue in this project"})
    return queue


class _DatasetApi(_Api):
    def dataset(self, request: Request, name: str, *, write: str = "") -> Dataset:
        project, _ = self.project(request, write=write)
        dataset = selectors.dataset_by_name(project_id=project.id, name=name) if "\x00" not in name else None
        if dataset is None:
            raise NotFound(f"No dataset named '{name}' in this project.")
        return dataset

    def version(self, request: Request, name: str, version: str) -> DatasetVersion:
        found = selectors.dataset_version(dataset=self.dataset(request, name), version=_id(version, "version"))
        if found is None:
            raise NotFound(f"Dataset '{name}' has no version {version}.")
        return found


class DatasetApi(_DatasetApi):
    @extend_schema(operation_id="review_datasets_retrieve", tags=["review"], summary="A dataset and its versions",
                   parameters=[PROJECT], responses={200: _OBJECT, **_READ_ERRORS})
    def get(self, request: Request, name: str) -> Response:
        return Response(dataset_dict(self.dataset(request, name)))


class VersionListApi(_DatasetApi):
    @extend_schema(operation_id="review_dataset_versions_list", tags=["review"], summary="A dataset's versions",
                   parameters=[PROJECT], responses={200: _OBJECT, **_READ_ERRORS})
    def get(self, request: Request, name: str) -> Response:
        dataset = self.dataset(request, name)
        return Response({"data": [version_dict(v) for v in dataset.versions.order_by("version")]})

    @extend_schema(operation_id="review_dataset_versions_create", tags=["review"],
                   summary="Export the reviewed items as a new immutable version",
                   parameters=[PROJECT], request=inline_serializer("ExportBody", {
                       "queue": serializers.IntegerField(required=False, help_text="default: the dataset's queue")}),
                   responses={201: _OBJECT, **_WRITE_ERRORS})
    def post(self, request: Request, name: str) -> Response:
        dataset = self.dataset(request, name, write="manage")
        queue = _queue_of(dataset.project, self.body(request).get("queue"))
        version = datasets.dataset_export(dataset=dataset, actor=request.user, queue=queue)
        return Response(version_dict(version), status=201)


class DatasetItemAddApi(_DatasetApi):
    @extend_schema(operation_id="review_dataset_items_add", tags=["review"],
                   summary="Add one call by hand: the next version is the previous one plus this item",
                   parameters=[PROJECT], request=inline_serializer("DatasetItemBody", {
                       "call_id": serializers.CharField(help_text="the id your app sent"),
                       "expected_output": serializers.JSONField(help_text="default: the call's output"),
                       "labels": serializers.DictField(required=False)}),
                   responses={201: _OBJECT, **_WRITE_ERRORS})
    def post(self, request: Request, name: str) -> Response:
        dataset = self.dataset(request, name, write="manage")
        body = self.body(request)
        call_id = body.get("call_id")
        call = selectors.call_by_external_id(project_id=dataset.project_id, external_id=call_id) \
            if isinstance(call_id, str) else None
        if call is None:
            raise ValidationError({"call_id": "no call with this id in the project"})
        expected = body["expected_output"] if "expected_output" in body else datasets.call_output(call)
        version = datasets.dataset_item_add(dataset=dataset, call=call, actor=request.user,
                                            expected_output=expected, labels=body.get("labels", {}))
        return Response(version_dict(version), status=201)


class VersionItemsApi(_DatasetApi):
    @extend_schema(operation_id="review_dataset_items_list", tags=["review"],
                   summary="A version's items in order, paged (for CI jobs)",
                   parameters=[PROJECT, OpenApiParameter("after", int, description="next_after of the previous page"),
                               OpenApiParameter("limit", int, description=f"1..{MAX_LIMIT}, default 100")],
                   responses={200: _OBJECT, **_READ_ERRORS})
    def get(self, request: Request, name: str, version: str) -> Response:
        found = self.version(request, name, version)
        after = _int(request.query_params, "after", -1, -1, 2**31)
        limit = _int(request.query_params, "limit", 100, 1, MAX_LIMIT)
        rows = selectors.dataset_items(version=found, after=after, limit=limit)
        return Response({"version": found.version, "data": [datasets.item_dict(r) for r in rows],
                         "next_after": rows[-1].position if len(rows) == limit else None})


class VersionDownloadApi(_DatasetApi):
    @extend_schema(operation_id="review_dataset_download", tags=["review"],
                   summary="The whole version as JSONL or CSV, streamed",
                   parameters=[PROJECT, OpenApiParameter("as", str, enum=["jsonl", "csv"], description="jsonl (default) or csv; not `format`, which DRF keeps for its renderers")],
                   responses={(200, "application/x-ndjson"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR,
                              **_READ_ERRORS})
    def get(self, request: Request, name: str, version: str) -> Any:
        found = self.version(request, name, version)
        return download(found, name, request.query_params.get("as", "jsonl"))


def download(version: DatasetVersion, name: str, fmt: str) -> StreamingHttpResponse:
    if fmt not in ("jsonl", "csv"):
        raise ValidationError({"as": "jsonl or csv"})
    lines = datasets.jsonl_lines(version) if fmt == "jsonl" else datasets.csv_lines(version)
    kind = "application/x-ndjson" if fmt == "jsonl" else "text/csv; charset=utf-8"
    response = StreamingHttpResponse(lines, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="{name}-v{version.version}.{fmt}"'
    return response

