"""Alerts API (/api/v1/alerts/...): rules, channels (and their test), silences, incidents.

Reads: a project key with the `read` or `alerts` scope, or a signed-in member (?project=<id>).
Writes are made signed in (session): owners and admins manage rules and channels; members also
acknowledge incidents and create silences. A key with the `alerts` scope reads and writes them all
(alerts kept as code, from CI)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import selectors, services
from alerts.models import Channel, Incident, Rule, Silence
from alerts.registry import RuleInvalid
from alerts.serializers import (
    BudgetStatusSerializer,
    ChannelCreatedSerializer,
    ChannelInputSerializer,
    ChannelSerializer,
    ChannelUpdateSerializer,
    IncidentSerializer,
    RuleInputSerializer,
    RuleSerializer,
    SilenceInputSerializer,
    SilenceSerializer,
    TestResultSerializer,
)
from observatory.api import ReadRateThrottle
from telemetry.apis import PROJECT_PARAM
from tenancy.auth import project_for_request
from tenancy.models import ApiKey, Membership, Project, Role

EDIT_ROLES = {Role.OWNER, Role.ADMIN}
RESPOND_ROLES = {Role.OWNER, Role.ADMIN, Role.MEMBER}
WRITE_SCOPE = "alerts"
ERRORS = {400: OpenApiResponse(description="invalid input: error.details names the field"),
          401: OpenApiResponse(description="no credentials"), 403: OpenApiResponse(description="role or scope"),
          404: OpenApiResponse(description="no such project or object")}


def _require(request: Request, project: Project, roles: set[str]) -> None:
    if isinstance(request.auth, ApiKey):
        if not request.auth.has_scope(WRITE_SCOPE):
            raise PermissionDenied(f"Changing alerts needs a signed-in owner or admin, or a key with the "
                                   f"'{WRITE_SCOPE}' scope.")
        return
    if request.user.is_superuser:
        return
    role = Membership.objects.filter(user=request.user, organization_id=project.organization_id).values_list(
        "role", flat=True).first()
    if role not in roles:
        raise PermissionDenied(f"Your role ({role}) cannot do this: it needs {' or '.join(sorted(roles))}.")


def _invalid(exc: RuleInvalid) -> ValidationError:
    return ValidationError({exc.field: [str(exc)]})


def _valid(serializer_class: type, data: Any, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _ReadOrAlertsScope(BasePermission):
    """A key with `read` (reads; writes are refused in _require) or `alerts`; any signed-in person
    (their role decides in _require)."""

    message = f"This endpoint needs a key with the 'read' or '{WRITE_SCOPE}' scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.auth.has_scope("read") or request.auth.has_scope(WRITE_SCOPE)
        return bool(request.user and request.user.is_authenticated)


class _AlertsApi(APIView):
    permission_classes = [_ReadOrAlertsScope]
    throttle_classes = [ReadRateThrottle]


def _rule_fields(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    routes = data.pop("routes", None)
    if "filters" in data:
        data["filters"] = {k: list(v) for k, v in data["filters"].items()}
    if "group_by" in data:
        data["group_by"] = list(data["group_by"])
    return data, [dict(r) for r in routes] if routes is not None else None


class RuleListApi(_AlertsApi):
    @extend_schema(operation_id="alerts_rules_list", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={200: RuleSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        return Response(RuleSerializer(selectors.rules_for(project_id=project.id), many=True).data)

    @extend_schema(operation_id="alerts_rules_create", tags=["alerts"], parameters=[PROJECT_PARAM],
                   request=RuleInputSerializer, responses={201: RuleSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        project = project_for_request(request)
        _require(request, project, EDIT_ROLES)
        fields, routes = _rule_fields(_valid(RuleInputSerializer, request.data))
        try:
            rule = services.rule_create(project=project, actor=request.user, routes=routes, **fields)
        except RuleInvalid as exc:
            raise _invalid(exc) from None
        return Response(RuleSerializer(selectors.rules_for(project_id=project.id).get(pk=rule.pk)).data,
                        status=status.HTTP_201_CREATED)


class RuleDetailApi(_AlertsApi):
    def _rule(self, request: Request, rule_id: int) -> Rule:
        project = project_for_request(request)
        return get_object_or_404(selectors.rules_for(project_id=project.id), pk=rule_id)

    @extend_schema(operation_id="alerts_rules_get", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={200: RuleSerializer, **ERRORS})
    def get(self, request: Request, rule_id: int) -> Response:
        rule = self._rule(request, rule_id)
        data = RuleSerializer(rule).data
        if rule.condition == "burn_rate":
            # The error budget left per group (alerts.selectors.slo_status), read now.
            data["slo"] = selectors.slo_status(rule=rule, now=datetime.now(timezone.utc))
        return Response(data)

    @extend_schema(operation_id="alerts_rules_update", tags=["alerts"], parameters=[PROJECT_PARAM],
                   request=RuleInputSerializer, responses={200: RuleSerializer, **ERRORS})
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = self._rule(request, rule_id)
        _require(request, rule.project, EDIT_ROLES)
        fields, routes = _rule_fields(_valid(RuleInputSerializer, request.data, partial=True))
        try:
            services.rule_update(rule=rule, actor=request.user, routes=routes, **fields)
        except RuleInvalid as exc:
            raise _invalid(exc) from None
        return Response(RuleSerializer(self._rule(request, rule_id)).data)

    @extend_schema(operation_id="alerts_rules_delete", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={204: None, **ERRORS})
    def delete(self, request: Request, rule_id: int) -> Response:
        rule = self._rule(request, rule_id)
        _require(request, rule.project, EDIT_ROLES)
        services.rule_delete(rule=rule, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelListApi(_AlertsApi):
    @extend_schema(operation_id="alerts_channels_list", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={200: ChannelSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        return Response(ChannelSerializer(selectors.channels_for(project_id=project.id), many=True).data)

    @extend_schema(operation_id="alerts_channels_create", tags=["alerts"], parameters=[PROJECT_PARAM],
                   request=ChannelInputSerializer, responses={201: ChannelCreatedSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        project = project_for_request(request)
        _require(request, project, EDIT_ROLES)
        data = _valid(ChannelInputSerializer, request.data)
        try:
            channel, shown = services.channel_create(project=project, actor=request.user, **data)
        except RuleInvalid as exc:
            raise _invalid(exc) from None
        channel.shown_once = shown  # type: ignore[attr-defined]
        return Response(ChannelCreatedSerializer(channel).data, status=status.HTTP_201_CREATED)


class _ChannelApi(_AlertsApi):
    def _channel(self, request: Request, channel_id: int) -> Channel:
        project = project_for_request(request)
        return get_object_or_404(Channel.objects.select_related("project"), project=project, pk=channel_id)


class ChannelDetailApi(_ChannelApi):

    @extend_schema(operation_id="alerts_channels_get", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={200: ChannelSerializer, **ERRORS})
    def get(self, request: Request, channel_id: int) -> Response:
        return Response(ChannelSerializer(self._channel(request, channel_id)).data)

    @extend_schema(operation_id="alerts_channels_update", tags=["alerts"], parameters=[PROJECT_PARAM],
                   request=ChannelUpdateSerializer, responses={200: ChannelSerializer, **ERRORS})
    def patch(self, request: Request, channel_id: int) -> Response:
        channel = self._channel(request, channel_id)
        _require(request, channel.project, EDIT_ROLES)
        data = _valid(ChannelUpdateSerializer, request.data)
        try:
            services.channel_update(channel=channel, actor=request.user, **data)
        except RuleInvalid as exc:
            raise _invalid(exc) from None
        return Response(ChannelSerializer(channel).data)

    @extend_schema(operation_id="alerts_channels_delete", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={204: None, **ERRORS})
    def delete(self, request: Request, channel_id: int) -> Response:
        channel = self._channel(request, channel_id)
        _require(request, channel.project, EDIT_ROLES)
        services.channel_delete(channel=channel, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTestApi(_ChannelApi):
    @extend_schema(operation_id="alerts_channels_test", tags=["alerts"], parameters=[PROJECT_PARAM], request=None,
                   responses={200: TestResultSerializer, **ERRORS},
                   description="Sends a test notification now through the channel's real transport; the answer "
                               "says whether it was delivered (status sent) or why not (status failed).")
    def post(self, request: Request, channel_id: int) -> Response:
        channel = self._channel(request, channel_id)
        _require(request, channel.project, EDIT_ROLES)
        notification = services.channel_test(channel=channel, actor=request.user)
        return Response({"status": notification.status, "attempts": notification.attempts,
                         "error": notification.last_error, "delivery_id": notification.delivery_id})


class SilenceListApi(_AlertsApi):
    @extend_schema(operation_id="alerts_silences_list", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={200: SilenceSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        return Response(SilenceSerializer(selectors.silences_active(project_id=project.id), many=True).data)

    @extend_schema(operation_id="alerts_silences_create", tags=["alerts"], parameters=[PROJECT_PARAM],
                   request=SilenceInputSerializer, responses={201: SilenceSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        project = project_for_request(request)
        _require(request, project, RESPOND_ROLES)
        data = _valid(SilenceInputSerializer, request.data)
        rule = None
        if data.get("rule") is not None:
            rule = Rule.objects.filter(project=project, pk=data["rule"]).first()
            if rule is None:
                raise ValidationError({"rule": ["no such rule in this project"]})
        try:
            silence = services.silence_create(project=project, actor=request.user, rule=rule,
                                              group=data.get("group") or {}, ends_at=data["ends_at"],
                                              starts_at=data.get("starts_at"), reason=data.get("reason", ""))
        except RuleInvalid as exc:
            raise _invalid(exc) from None
        return Response(SilenceSerializer(silence).data, status=status.HTTP_201_CREATED)


class SilenceDetailApi(_AlertsApi):
    @extend_schema(operation_id="alerts_silences_end", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={204: None, **ERRORS}, description="Ends the silence now.")
    def delete(self, request: Request, silence_id: int) -> Response:
        project = project_for_request(request)
        silence = get_object_or_404(Silence.objects.select_related("project"), project=project, pk=silence_id)
        _require(request, project, RESPOND_ROLES)
        services.silence_end(silence=silence, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IncidentListApi(_AlertsApi):
    @extend_schema(operation_id="alerts_incidents_list", tags=["alerts"],
                   parameters=[PROJECT_PARAM, OpenApiParameter("open", bool, description="only unresolved")],
                   responses={200: IncidentSerializer(many=True), **ERRORS})
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        raw = request.query_params.get("open", "").lower()
        if raw not in ("", "1", "true", "yes", "0", "false", "no"):
            raise ValidationError({"open": "true or false"})  # not read as false: say so
        open_only = raw in ("1", "true", "yes")
        return Response(IncidentSerializer(selectors.incidents_for(project_id=project.id, open_only=open_only),
                                           many=True).data)


class IncidentAcknowledgeApi(_AlertsApi):
    @extend_schema(operation_id="alerts_incidents_acknowledge", tags=["alerts"], parameters=[PROJECT_PARAM],
                   request=None, responses={200: IncidentSerializer, **ERRORS})
    def post(self, request: Request, incident_id: int) -> Response:
        project = project_for_request(request)
        incident = get_object_or_404(Incident.objects.select_related("rule", "project"), project=project,
                                     pk=incident_id)
        _require(request, project, RESPOND_ROLES)
        incident = services.incident_acknowledge(incident=incident, user=request.user)
        return Response(IncidentSerializer(incident).data)


class BudgetStatusApi(_AlertsApi):
    @extend_schema(operation_id="budgets_status", tags=["alerts"], parameters=[PROJECT_PARAM],
                   responses={200: BudgetStatusSerializer(many=True), **ERRORS},
                   description="Each budget rule with what each group spent so far this period (read now), and "
                               "whether it is over the amount: an app can refuse work past a hard limit.")
    def get(self, request: Request) -> Response:
        project = project_for_request(request)
        data = selectors.budgets_status(project_id=project.id, now=datetime.now(timezone.utc))
        return Response(BudgetStatusSerializer(data, many=True).data)
