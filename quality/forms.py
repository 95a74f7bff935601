"""Forms for the project settings page's LLM judges and custom rules (the admin has its own)."""
from __future__ import annotations

from typing import Any

from django import forms

from quality.admin import QualitySettingsForm
from quality.models import Judge, QualitySettings
from quality.services import JUDGE_FIELDS


class JudgeForm(forms.ModelForm):
    """One judge of `project`. The model's clean() checks the ranges and the custom criterion."""

    class Meta:
        model = Judge
        fields = JUDGE_FIELDS
        labels = {"name": "Judge name", "base_url": "Endpoint (base URL)", "api_key_env": "API key variable",
                  "model": "Judge model", "threshold": "Flag below", "sample_rate": "Judge sample rate",
                  "only_models": "Only these models", "only_features": "Only these features",
                  "only_prompt_names": "Only these prompts", "daily_budget_usd": "Daily budget (USD)",
                  "timeout_s": "Timeout (seconds)", "max_retries": "Retries", "criterion": "Criterion",
                  "temperature": "Temperature", "enabled": "Enabled", "template": "Template"}
        help_texts = {"name": "A slug: the score and flag are judge.<name>.",
                      "only_models": "Comma-separated exact names; empty means all."}

    def __init__(self, *args: Any, project: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "judge_%s")
        super().__init__(*args, **kwargs)
        self.instance.project = project

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        others = Judge.objects.filter(project=self.instance.project, name=name).exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(f"This project already has a judge named {name}.")
        return name


class RulesForm(QualitySettingsForm):
    """Custom rules as JSON, validated as in the admin (quality.evaluators.rules.rules_validate)."""

    class Meta(QualitySettingsForm.Meta):
        model = QualitySettings
        fields = ["rules"]
        labels = {"rules": "Custom rules (JSON)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "rules_%s")
        super().__init__(*args, **kwargs)
        self.fields["rules"].widget.attrs.update(rows=6)
        self.fields["rules"].required = False
