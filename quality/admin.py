"""Admin screens for quality settings (until the project settings page of the UI) and flags."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from quality.evaluators.pii import PII_TYPES
from quality.evaluators.rules import rules_validate
from quality.models import Evaluation, Flag, QualitySettings
from quality.registry import EVALUATORS


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

    def clean_sample_rate(self) -> Any:
        value = self.cleaned_data["sample_rate"]
        if not 0 <= value <= 1:
            raise forms.ValidationError("between 0 and 1")
        return value


@admin.register(QualitySettings)
class QualitySettingsAdmin(admin.ModelAdmin):
    form = QualitySettingsForm
    list_display = ("project", "redaction", "sample_rate", "updated_at")


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ("name", "severity", "evaluator", "call", "created_at")
    list_filter = ("severity", "evaluator")
    raw_id_fields = ("call",)
    readonly_fields = ("project", "call", "name", "severity", "evaluator", "detail", "created_at")


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ("call", "status", "duration_ms", "evaluated_at")
    list_filter = ("status",)
    raw_id_fields = ("call",)
