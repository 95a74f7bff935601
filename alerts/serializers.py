"""API shapes. Input serializers check types (a 400 names the field); the services check meaning."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from alerts.conditions import CONDITIONS
from alerts.models import Channel, ChannelKind, Incident, NoDataPolicy, Rule, Severity, Silence
from alerts.selectors import rule_state

MAX_ID = 2**63 - 1


class RouteSerializer(serializers.Serializer):
    channel = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    severities = serializers.ListField(child=serializers.ChoiceField(choices=Severity.values), required=False)


class RuleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    measure = serializers.CharField(max_length=40, help_text="a measure of the metrics API, e.g. latency_p95")
    score = serializers.CharField(max_length=120, required=False, allow_blank=True)
    flag = serializers.CharField(max_length=115, required=False, allow_blank=True)
    source = serializers.CharField(max_length=40, required=False)
    filters = serializers.DictField(child=serializers.ListField(child=serializers.CharField(allow_blank=True)),
                                    required=False)
    group_by = serializers.ListField(child=serializers.CharField(), max_length=2, required=False)
    condition = serializers.ChoiceField(choices=list(CONDITIONS), required=False)
    condition_config = serializers.DictField(help_text="threshold: {op, critical, warning}; change: {baseline, mode, "
                                                       "direction, critical, warning, min_baseline_count}; zscore: "
                                                       "{weeks, direction, critical, warning, mad_floor}")
    window_seconds = serializers.IntegerField(min_value=60, max_value=30 * 86400, required=False)
    min_count = serializers.IntegerField(min_value=0, max_value=10**9, required=False)
    pending_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, required=False)
    recovery_hysteresis = serializers.FloatField(min_value=0, max_value=1e15, required=False)
    no_data_policy = serializers.ChoiceField(choices=NoDataPolicy.values, required=False)
    renotify_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, required=False)
    severity = serializers.ChoiceField(choices=Severity.values, required=False)
    enabled = serializers.BooleanField(required=False)
    actions = serializers.ListField(child=serializers.CharField(), required=False)
    routes = RouteSerializer(many=True, required=False)


class InstanceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    group = serializers.DictField()
    state = serializers.CharField()
    severity = serializers.CharField()
    since = serializers.DateTimeField()
    last_value = serializers.FloatField(allow_null=True)
    last_evaluated_at = serializers.DateTimeField(allow_null=True)


class RuleSerializer(serializers.ModelSerializer):
    routes = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    instances = InstanceSerializer(many=True, read_only=True)

    class Meta:
        model = Rule
        fields = ["id", "name", "source", "measure", "score", "flag", "filters", "group_by", "condition",
                  "condition_config", "window_seconds", "min_count", "pending_seconds", "recovery_hysteresis",
                  "no_data_policy", "renotify_seconds", "severity", "enabled", "actions", "routes", "state",
                  "instances", "last_evaluated_at", "last_error", "created_at", "updated_at"]

    def get_routes(self, rule: Rule) -> list[dict[str, Any]]:
        return [{"channel": r.channel_id, "severities": r.severities} for r in rule.routes.all()]

    def get_state(self, rule: Rule) -> str:
        return rule_state(rule)


class ChannelInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ChannelKind.values)
    name = serializers.CharField(max_length=200)
    config = serializers.DictField(required=False, help_text="email: {to: [addresses]}")
    secrets = serializers.DictField(required=False, help_text=(
        "slack: {url}; webhook: {url, secret?} (a whsec_ secret is generated and returned once when left out); "
        "pagerduty: {routing_key}; apprise: {url} (an Apprise URL: discord://…, ntfy://…, json://…). Stored encrypted, "
        "never returned."))


class ChannelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    config = serializers.DictField(required=False)
    secrets = serializers.DictField(required=False)


class ChannelSerializer(serializers.ModelSerializer):
    enabled = serializers.BooleanField(read_only=True)

    class Meta:
        model = Channel
        fields = ["id", "kind", "name", "config", "enabled", "disabled_reason", "disabled_at", "created_at"]


class ChannelCreatedSerializer(ChannelSerializer):
    shown_once = serializers.DictField(read_only=True, help_text="the generated signing secret, shown only now")

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "shown_once"]


class TestResultSerializer(serializers.Serializer):
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    delivery_id = serializers.UUIDField()


class SilenceInputSerializer(serializers.Serializer):
    rule = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    group = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=200), required=False)
    ends_at = serializers.DateTimeField()
    starts_at = serializers.DateTimeField(required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class SilenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Silence
        fields = ["id", "rule", "group", "starts_at", "ends_at", "reason", "created_at"]


class IncidentSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    acknowledged_by = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = ["id", "rule", "rule_name", "instance", "group", "severity", "opened_at", "resolved_at", "value",
                  "threshold", "acknowledged_by", "acknowledged_at"]

    def get_acknowledged_by(self, incident: Incident) -> str | None:
        return incident.acknowledged_by.get_username() if incident.acknowledged_by else None


class BudgetGroupSerializer(serializers.Serializer):
    group = serializers.DictField()
    spent = serializers.FloatField()
    share = serializers.FloatField()
    over = serializers.BooleanField()


class BudgetStatusSerializer(serializers.Serializer):
    rule = serializers.IntegerField()
    name = serializers.CharField()
    measure = serializers.CharField()
    period = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    amount = serializers.FloatField()
    over = serializers.BooleanField()
    groups = BudgetGroupSerializer(many=True)
