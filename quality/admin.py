"""Admin screens for quality settings (also on the project settings page) and flags."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from quality.evaluators.pii import PII_TYPES
from quality.evaluators.rules import rules_validate
from quality.models import Evaluation, Flag, Judge, JudgeUsage, QualitySettings
from quality.registry import EVALUATORS
from quality.services import score_directions_validate


class QualitySettingsForm(forms.ModelForm):
    class Meta:
        model = QualitySettings
        fields = "__all__"
        help_texts = {
            "evaluators": "JSON: {\"toxicity\": {\"enabled\": false}, \"groundedness\": {\"flag_below\": 0.4}}. "
                          f"Evaluators: {', '.join(EVALUATORS)}.",
            "rules": "JSON list: [{\"name\": \"competitor\", \"pattern\": \"acme|globex\", \"kind\": \"regex\", "
                     "\"target\": \"output\", \"severity\": \"medium\"}]",
            "redaction_types": f"Comma-separated, empty for all: {', '.join(PII_TYPES)}",
            "max_lag_seconds": "Empty: evaluate every sampled call however late. Otherwise, past this lag new calls "
                               "are sampled down (limit ÷ lag, at least 2%) and the rest marked skipped.",
            "score_directions": "JSON: which way is better for your own scores, e.g. "
                                "{\"helpfulness\": \"higher\", \"hallucination_rate\": \"lower\"}.",
        }

    def clean_evaluators(self) -> Any:
        value = self.cleaned_data["evaluators"] or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object keyed by evaluator name")
        unknown = sorted(set(value) - set(EVALUATORS))
        if unknown:
            raise forms.ValidationError(f"unknown evaluators: {', '.join(unknown)}; known: {', '.join(EVALUATORS)}")
        return value

    def clean_rules(self) -> Any:
        value = self.cleaned_data["rules"] or []
        if not isinstance(value, list):
            raise forms.ValidationError("must be a JSON list of rules")
        errors = rules_validate(value)
        if errors:
            raise forms.ValidationError(errors)
        return value

    def clean_redaction_types(self) -> Any:
        value = self.cleaned_data["redaction_types"] or []
        unknown = sorted(set(value) - set(PII_TYPES))
        if unknown:
            raise forms.ValidationError(f"unknown PII types: {', '.join(unknown)}")
        return value

    def clean_score_directions(self) -> Any:
        value = self.cleaned_data["score_directions"] or {}
        errors = score_directions_validate(value)
        if errors:
            raise forms.ValidationError(errors)
        return value

    def clean_sample_rate(self) -> Any:
        value = self.cleaned_data["sample_rate"]
        if not 0 <= value <= 1:
            raise forms.ValidationError("between 0 and 1")
        return value


@admin.register(QualitySettings)
class QualitySettingsAdmin(admin.ModelAdmin):
    form = QualitySettingsForm
    list_display = ("project", "redaction", "sample_rate", "max_lag_seconds", "updated_at")

    def save_model(self, request: Any, obj: QualitySettings, form: Any, change: bool) -> None:
        from quality.services import quality_settings_save

        quality_settings_save(settings_row=obj, actor=request.user)  # audited


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ("name", "severity", "evaluator", "call", "created_at")
    list_filter = ("severity", "evaluator")
    raw_id_fields = ("call",)
    readonly_fields = ("project", "call", "name", "severity", "evaluator", "detail", "created_at")


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ("call", "status", "reason", "duration_ms", "evaluated_at")
    list_filter = ("status",)
    raw_id_fields = ("call",)


class JudgeForm(forms.ModelForm):
    # Field validators and Judge.clean (ranges, the custom criterion, base URL, key variable) run here too.
    class Meta:
        model = Judge
        fields = "__all__"
        help_texts = {
            "only_models": "Comma-separated model names, empty for all.",
            "only_features": "Comma-separated features, empty for all.",
            "only_prompt_names": "Comma-separated prompt names, empty for all.",
            "sample_rate": "Share of the evaluated calls this judge sees (0-1), deterministic per call.",
            "daily_budget_usd": "Judge calls stop for the UTC day once its cost reaches this; empty for no cap. "
                                "A judge model without a price is not counted: add one under Pricing.",
            "threshold": "The flag judge.<name> is raised below this score (every template: 1 good, 0 bad).",
            "timeout_s": "Seconds per attempt (1-120); evaluation runs in a transaction, keep it short.",
            "max_retries": "Retries on 429, 5xx and timeouts (0-5).",
        }


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    form = JudgeForm
    list_display = ("__str__", "project", "enabled", "template", "model", "sample_rate", "daily_budget_usd")
    list_filter = ("enabled", "template")
    raw_id_fields = ("project",)

    # Through quality.services so every change to a judge is audited.
    def save_model(self, request: Any, obj: Judge, form: Any, change: bool) -> None:
        from quality.services import judge_save

        judge_save(judge=obj, actor=request.user)

    def delete_model(self, request: Any, obj: Judge) -> None:
        from quality.services import judge_delete

        judge_delete(judge=obj, actor=request.user)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        from quality.services import judge_delete

        for judge in queryset:
            judge_delete(judge=judge, actor=request.user)


@admin.register(JudgeUsage)
class JudgeUsageAdmin(admin.ModelAdmin):
    list_display = ("judge", "day", "calls", "failures", "retries", "input_tokens", "output_tokens", "cost_usd",
                    "unpriced_calls")
    list_filter = ("day",)
    date_hierarchy = "day"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
