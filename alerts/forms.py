"""HTML forms for rules, channels and silences: they parse what people type; the services check
meaning, and their RuleInvalid(field) errors land on the matching form field."""
from __future__ import annotations

from typing import Any

from django import forms

from alerts.conditions import CONDITIONS
from alerts.models import ChannelKind, NoDataPolicy, Rule, Severity, default_actions
from rollups.cubes import DIMENSIONS

COMMON_MEASURES = ["count", "errors", "error_rate", "latency_p50", "latency_p95", "latency_p99", "ttft_p95", "cost",
                   "tokens_total", "unpriced", "score_avg", "score_p10", "flag_rate", "flag_count",
                   "thumbs_down_rate", "rating_avg"]
GROUP_CHOICES = [("", "—")] + [(d, d) for d in DIMENSIONS]
# Service fields → the form field showing their errors.
FIELD_OF = {"window_seconds": "window_minutes", "pending_seconds": "pending_minutes",
            "renotify_seconds": "renotify_minutes", "group_by": "group_by_1", "routes": "name",
            "condition_config.op": "op", "condition_config.critical": "critical",
            "condition_config.warning": "warning", "condition_config.baseline": "baseline",
            "condition_config.mode": "mode", "condition_config.direction": "direction",
            "condition_config.min_baseline_count": "min_baseline_count", "condition_config.weeks": "weeks",
            "condition_config.mad_floor": "mad_floor", "condition_config": "critical", "source": "measure",
            "condition_config.objective": "objective", "condition_config.amount": "amount",
            "condition_config.period": "period", "condition_config.tiers": "amount",
            "actions": "actions"}
# What each registered action does, for the rule form (apps register actions in their ready();
# an action missing here shows its name).
ACTION_LABELS = {
    "notify": "Notify the channels chosen below",
    "rollback_label": "Roll the prompt's label back one version (the prompt in the rule's filters)",
    "sample_into_queue": "Sample the breaching calls into the review queues whose incident rules point at this rule",
}


class RuleForm(forms.Form):
    name = forms.CharField(max_length=200)
    measure = forms.CharField(max_length=40, help_text="e.g. latency_p95, error_rate, cost, score_avg, flag_rate",
                              widget=forms.TextInput(attrs={"list": "alert-measures"}))
    score = forms.CharField(max_length=120, required=False, help_text="score name, for score_* measures")
    flag = forms.CharField(max_length=115, required=False, help_text="flag name, for flag_* measures")
    filters = forms.CharField(required=False, help_text="dimension:value, comma-separated (model:gpt-4o, "
                                                        "environment:production)")
    group_by_1 = forms.ChoiceField(choices=GROUP_CHOICES, required=False, label="Group by")
    group_by_2 = forms.ChoiceField(choices=GROUP_CHOICES, required=False, label="and by")
    condition = forms.ChoiceField(choices=[(k, c.label) for k, c in CONDITIONS.items()])
    op = forms.ChoiceField(choices=[("above", "above"), ("below", "below")], required=False, label="Fires when")
    critical = forms.FloatField(required=False, label="Critical level")
    warning = forms.FloatField(required=False, label="Warning level")
    baseline = forms.ChoiceField(choices=[("previous_window", "the previous window"),
                                          ("week_ago", "the same window a week ago")], required=False)
    mode = forms.ChoiceField(choices=[("relative", "relative (0.2 = 20%)"), ("absolute", "absolute")], required=False)
    direction = forms.ChoiceField(choices=[("up", "up"), ("down", "down"), ("either", "either (z-score)")],
                                  required=False)
    min_baseline_count = forms.IntegerField(min_value=0, required=False, initial=1)
    weeks = forms.IntegerField(min_value=2, max_value=12, required=False, initial=4)
    mad_floor = forms.FloatField(min_value=0, required=False, label="MAD floor")
    objective = forms.FloatField(required=False, label="SLO objective", help_text="e.g. 0.99: 1% may be bad")
    period = forms.ChoiceField(choices=[("month", "calendar month"), ("day", "calendar day")], required=False)
    amount = forms.FloatField(required=False, min_value=0, label="Budget", help_text="in the measure's unit (USD for cost)")
    forecast = forms.BooleanField(required=False, initial=True, label="Warn when the month-end forecast crosses it")
    window_minutes = forms.IntegerField(min_value=1, max_value=43200, initial=5, label="Window (minutes)")
    min_count = forms.IntegerField(min_value=0, initial=10, help_text="below it: not enough data, never fires")
    pending_minutes = forms.IntegerField(min_value=0, initial=0, label="Pending for (minutes)")
    recovery_hysteresis = forms.FloatField(min_value=0, initial=0, required=False)
    no_data_policy = forms.ChoiceField(choices=NoDataPolicy.choices)
    renotify_minutes = forms.IntegerField(min_value=0, initial=0, label="Remind every (minutes, 0 never)")
    severity = forms.ChoiceField(choices=Severity.choices, help_text="of no-data alerts")
    enabled = forms.BooleanField(required=False, initial=True)
    actions = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                        label="When it fires", initial=default_actions)

    def __init__(self, *args: Any, channels: list[Any] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        from alerts.registry import ACTIONS

        self.fields["actions"].choices = [(name, ACTION_LABELS.get(name, name)) for name in sorted(
            ACTIONS, key=lambda n: (n != "notify", n))]
        self.channels = list(channels)
        for channel in self.channels:
            for severity in Severity.values:
                self.fields[f"route_{channel.id}_{severity}"] = forms.BooleanField(
                    required=False, label=f"{channel.name} ({severity})")

    @classmethod
    def initial_for(cls, rule: Rule) -> dict[str, Any]:
        config = rule.condition_config
        data: dict[str, Any] = {
            "name": rule.name, "measure": rule.measure, "score": rule.score, "flag": rule.flag,
            "filters": ", ".join(f"{d}:{v}" for d, values in rule.filters.items() for v in values),
            "group_by_1": rule.group_by[0] if rule.group_by else "",
            "group_by_2": rule.group_by[1] if len(rule.group_by) > 1 else "", "condition": rule.condition,
            "window_minutes": rule.window_seconds // 60, "min_count": rule.min_count,
            "pending_minutes": rule.pending_seconds // 60, "recovery_hysteresis": rule.recovery_hysteresis,
            "no_data_policy": rule.no_data_policy, "renotify_minutes": rule.renotify_seconds // 60,
            "severity": rule.severity, "enabled": rule.enabled, "actions": list(rule.actions),
        }
        data.update({k: config[k] for k in ("op", "critical", "warning", "baseline", "mode", "direction",
                                            "min_baseline_count", "weeks", "mad_floor", "objective", "period",
                                            "amount", "forecast") if k in config})
        for route in rule.routes.all():
            for severity in route.severities:
                data[f"route_{route.channel_id}_{severity}"] = True
        return data

    def clean_filters(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for part in (p.strip() for p in self.cleaned_data["filters"].split(",")):
            if not part:
                continue
            dim, sep, value = part.partition(":")
            if not sep or dim.strip() not in DIMENSIONS:
                raise forms.ValidationError(f"'{part}' is not dimension:value (dimensions: {', '.join(DIMENSIONS)})")
            out.setdefault(dim.strip(), []).append(value.strip())
        return out

    def service_fields(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        d = self.cleaned_data
        kind = d["condition"]
        names = {"threshold": ("op", "critical", "warning"),
                 "change": ("baseline", "mode", "direction", "critical", "warning", "min_baseline_count"),
                 "zscore": ("weeks", "direction", "critical", "warning", "mad_floor"),
                 "burn_rate": ("objective",), "budget": ("period", "amount")}.get(kind, ())
        config = {n: d[n] for n in names if d.get(n) not in (None, "")}
        if kind == "budget":
            config["forecast"] = bool(d.get("forecast"))
        fields = {
            "name": d["name"], "measure": d["measure"].strip(), "score": d["score"].strip(), "flag": d["flag"].strip(),
            "filters": d["filters"], "group_by": [g for g in (d["group_by_1"], d["group_by_2"]) if g],
            "condition": kind, "condition_config": config, "window_seconds": d["window_minutes"] * 60,
            "min_count": d["min_count"], "pending_seconds": d["pending_minutes"] * 60,
            "recovery_hysteresis": d.get("recovery_hysteresis") or 0.0, "no_data_policy": d["no_data_policy"],
            "renotify_seconds": d["renotify_minutes"] * 60, "severity": d["severity"], "enabled": d["enabled"],
        }
        # Only a form that showed the actions sets them (its hidden actions_shown says so): a client
        # posting without them keeps the rule's actions, or the default (notify) for a new rule.
        if self.data.get("actions_shown"):
            fields["actions"] = list(d.get("actions") or [])
        routes = []
        for channel in self.channels:
            severities = [s for s in Severity.values if d.get(f"route_{channel.id}_{s}")]
            if severities:
                routes.append({"channel": channel.id, "severities": severities})
        return fields, routes

    def route_rows(self) -> list[dict[str, Any]]:
        return [{"channel": c, "fields": [self[f"route_{c.id}_{s}"] for s in Severity.values]} for c in self.channels]

    def add_service_error(self, field: str, message: str) -> None:
        self.add_error(FIELD_OF.get(field, field if field in self.fields else None), message)


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(choices=ChannelKind.choices)
    name = forms.CharField(max_length=200)
    to = forms.CharField(required=False, label="Email addresses", help_text="comma-separated (email)")
    url = forms.CharField(required=False, label="URL", help_text="Slack incoming webhook, your endpoint or an "
                                                                 "Apprise URL (kept encrypted; leave empty to keep the "
                                                                 "stored one)",
                          widget=forms.PasswordInput(render_value=False))
    routing_key = forms.CharField(required=False, label="PagerDuty routing key",
                                  widget=forms.PasswordInput(render_value=False),
                                  help_text="Events API v2 integration key (kept encrypted)")

    def service_fields(self) -> tuple[dict[str, Any], dict[str, Any]]:
        d = self.cleaned_data
        config = {"to": d["to"]} if d["kind"] == "email" else {}
        secrets = {k: d[k].strip() for k in ("url", "routing_key") if d.get(k, "").strip()}
        return config, secrets


class SilenceForm(forms.Form):
    rule = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Rule")
    dimension = forms.ChoiceField(choices=GROUP_CHOICES, required=False, label="Only the group where")
    value = forms.CharField(required=False, max_length=200, label="is")
    hours = forms.FloatField(min_value=0.05, max_value=24 * 90, initial=2, label="For (hours)")
    reason = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: Any, rules: list[Rule] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", "Every rule (maintenance window)")] + [(r.id, r.name) for r in rules]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("value") and not data.get("dimension"):
            self.add_error("dimension", "choose the dimension the value belongs to")
        return data
