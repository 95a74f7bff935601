"""The drift settings form: up to three comparisons (window, baseline), a pinned range, minimum
samples per side. The model's clean() has the last word on what is valid."""
from __future__ import annotations

from typing import Any

from django import forms

from drift import stats
from drift.models import Baseline, DriftSettings, default_comparisons

SLOTS = 3
MAX_HOURS = 24 * 90


class DriftSettingsForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Run drift for this project")
    # In the viewer's time zone (dashboards.middleware activates it), as datetime-local inputs expect.
    pinned_start = forms.DateTimeField(required=False, label="Pinned baseline from",
                                       widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                  format="%Y-%m-%dT%H:%M"))
    pinned_end = forms.DateTimeField(required=False, label="Pinned baseline to",
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                format="%Y-%m-%dT%H:%M"))
    pinned_release = forms.CharField(
        required=False, max_length=100, label="…or pin a release",
        help_text="a release value your calls carry: the pinned range becomes its first to last call (hours)")
    min_numeric = forms.IntegerField(min_value=10, max_value=1_000_000, label="Minimum values per side (distributions)")
    min_rate = forms.IntegerField(min_value=10, max_value=1_000_000, label="Minimum calls per side (rates)")
    min_mix = forms.IntegerField(min_value=10, max_value=1_000_000, label="Minimum values per side (mixes)")

    def __init__(self, *args: Any, project_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project_id = project_id
        for i in range(SLOTS):
            self.fields[f"c{i}_name"] = forms.CharField(required=False, max_length=32, label=f"Comparison {i + 1} name")
            self.fields[f"c{i}_current_hours"] = forms.IntegerField(
                required=False, min_value=1, max_value=MAX_HOURS, label=f"Comparison {i + 1}: current window (hours)")
            self.fields[f"c{i}_baseline"] = forms.ChoiceField(
                required=False, choices=Baseline.choices, label=f"Comparison {i + 1}: baseline")
            self.fields[f"c{i}_baseline_hours"] = forms.IntegerField(
                required=False, min_value=1, max_value=MAX_HOURS,
                label=f"Comparison {i + 1}: baseline length (hours, for “the window just before”)")
            self.fields[f"c{i}_prompt_name"] = forms.CharField(
                required=False, max_length=200, label=f"Comparison {i + 1}: pinned prompt (for a pinned prompt version)")
            self.fields[f"c{i}_prompt_version"] = forms.CharField(
                required=False, max_length=64, label=f"Comparison {i + 1}: pinned prompt version")

    @classmethod
    def initial_for(cls, row: DriftSettings | None) -> dict[str, Any]:
        comparisons = row.comparisons if row else default_comparisons()
        minimums = {**stats.MIN_SAMPLES, **((row.min_samples if row else {}) or {})}
        initial: dict[str, Any] = {"enabled": row.enabled if row else True,
                                   "pinned_start": row.pinned_start if row else None,
                                   "pinned_end": row.pinned_end if row else None,
                                   "pinned_release": row.pinned_release if row else "",
                                   **{f"min_{k}": v for k, v in minimums.items()}}
        for i, item in enumerate(comparisons[:SLOTS]):
            initial.update({f"c{i}_name": item.get("name"), f"c{i}_current_hours": item.get("current_hours"),
                            f"c{i}_baseline": item.get("baseline", Baseline.PREVIOUS),
                            f"c{i}_baseline_hours": item.get("baseline_hours"),
                            f"c{i}_prompt_name": item.get("prompt_name", ""),
                            f"c{i}_prompt_version": item.get("prompt_version", "")})
        return initial

    def comparisons(self) -> list[dict[str, Any]]:
        out = []
        for i in range(SLOTS):
            name = (self.cleaned_data.get(f"c{i}_name") or "").strip()
            if not name:
                continue  # an empty slot
            item = {"name": name, "current_hours": self.cleaned_data.get(f"c{i}_current_hours"),
                    "baseline": self.cleaned_data.get(f"c{i}_baseline") or Baseline.PREVIOUS.value}
            if self.cleaned_data.get(f"c{i}_baseline_hours"):
                item["baseline_hours"] = self.cleaned_data[f"c{i}_baseline_hours"]
            if item["baseline"] == Baseline.PROMPT_VERSION:
                item["prompt_name"] = (self.cleaned_data.get(f"c{i}_prompt_name") or "").strip()
                item["prompt_version"] = (self.cleaned_data.get(f"c{i}_prompt_version") or "").strip()
            out.append(item)
        return out

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        comparisons = self.comparisons()
        names = [c["name"] for c in comparisons]
        if not comparisons:
            raise forms.ValidationError("Keep at least one comparison.")
        if len(set(names)) != len(names):
            raise forms.ValidationError("Each comparison needs a name of its own.")
        for i, item in enumerate(comparisons):
            if not item["current_hours"]:
                self.add_error(f"c{i}_current_hours", "How many hours the current window covers.")
        release = (data.get("pinned_release") or "").strip()
        if release:
            # The release's calls give the range (drift.selectors.release_span), replacing typed dates.
            from django.db.utils import OperationalError

            from drift.selectors import release_span

            try:
                span = release_span(project_id=self.project_id, release=release)
            except OperationalError:
                self.add_error("pinned_release", "Finding this release's calls took too long: pin its dates instead.")
                return data
            if span is None:
                self.add_error("pinned_release", f"No call carries the release “{release}”.")
                return data
            data["pinned_start"], data["pinned_end"] = span
        data["pinned_release"] = release
        row = DriftSettings(comparisons=comparisons, pinned_start=data.get("pinned_start"),
                            pinned_end=data.get("pinned_end"))
        if not self.errors:
            try:
                row.clean()
            except forms.ValidationError as exc:
                raise forms.ValidationError(list(exc.message_dict.values())[0]) from None
        return data
