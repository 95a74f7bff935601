"""Forms of the prompt pages. They check shapes only; the services validate the rest and their
PromptError lands on the form as an error."""
from __future__ import annotations

import json
from typing import Any

from django import forms

from prompts.models import PromptType


class VersionForm(forms.Form):
    name = forms.CharField(max_length=255, required=False)  # only when creating a prompt
    type = forms.ChoiceField(choices=PromptType.choices, initial=PromptType.TEXT)
    template = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
                               help_text="Text with {{variables}}; for chat, a JSON list of {\"role\", \"content\"}")
    config = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}), required=False,
                             help_text="JSON: model, temperature, max_tokens, top_p, response_format, ...")
    commit_message = forms.CharField(max_length=500, required=False)
    labels = forms.CharField(max_length=300, required=False, help_text="Comma-separated labels to point at it")

    def clean_config(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("config") or ""
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("a JSON object")
        return value

    def clean_labels(self) -> list[str]:
        return [label.strip() for label in (self.cleaned_data.get("labels") or "").split(",") if label.strip()]

    def template_value(self) -> Any:
        """The template as stored: the text, or the parsed chat messages (a form error otherwise)."""
        raw = self.cleaned_data["template"]
        if self.cleaned_data["type"] != PromptType.CHAT:
            return raw
        try:
            return json.loads(raw)
        except ValueError as exc:
            self.add_error("template", f"a chat prompt is a JSON list of messages: {exc}")
            return None


class LabelMoveForm(forms.Form):
    label = forms.CharField(max_length=64)
    version = forms.IntegerField(min_value=1)
    reason = forms.CharField(max_length=500, required=False)


class ExperimentForm(forms.Form):
    """A canary: the label's current version (the control) against one other version."""

    label = forms.CharField(max_length=64)
    version = forms.IntegerField(min_value=1, label="Treatment version")
    percent = forms.FloatField(min_value=0.1, max_value=99.9, initial=10, label="Treatment share (%)")
    name = forms.CharField(max_length=200, required=False)


class GuardForm(forms.Form):
    """A guard on a label (prompts/guards.py checks the combination and answers what is wrong)."""

    label = forms.CharField(max_length=64, initial="production")
    metric = forms.ChoiceField(choices=[("flag_rate", "Flag rate"), ("error_rate", "Error rate"),
                                        ("thumbs_down_rate", "Thumbs-down rate"), ("score_avg", "Score average"),
                                        ("cost_per_call", "Cost per call (USD)"), ("latency_p95", "p95 latency (ms)")])
    flag = forms.CharField(max_length=115, required=False, help_text="flag rate: the flag, e.g. pii.email")
    score = forms.CharField(max_length=120, required=False, help_text="score average: e.g. judge.helpful")
    compare = forms.ChoiceField(choices=[("threshold", "Beyond a threshold (on its 95% bound)"),
                                         ("previous", "Worse than the previous version (by more than a margin)")],
                                label="Trips when")
    threshold = forms.FloatField(min_value=0, label="Threshold or margin")
    min_sample = forms.IntegerField(min_value=1, initial=100, label="Minimum sample")
    window_minutes = forms.IntegerField(min_value=1, max_value=10080, initial=60, label="Window (minutes)")
