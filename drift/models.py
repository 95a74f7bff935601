"""Drift: per-project settings (which windows are compared with which baselines), runs (one per
project per interval, or on demand) and their findings (one per signal × group × comparison)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from tenancy.models import Project


class Baseline(models.TextChoices):
    PREVIOUS = "previous", "the window just before"
    WEEK_AGO = "week_ago", "the same window a week earlier"
    TRAILING_4W = "trailing_4w", "the 4 weeks before"
    PINNED = "pinned", "a pinned range"
    # The calls of one prompt version (over baseline_hours before the current window's end) against the
    # current window's calls of the same prompt. Release is not a rollup dimension: no baseline by release.
    PROMPT_VERSION = "prompt_version", "a pinned prompt version"


def default_comparisons() -> list[dict[str, Any]]:
    """Issue 15's defaults: the last 24 h against the 7 days before, the last 7 days against the 4 weeks before."""
    return [
        {"name": "24h", "current_hours": 24, "baseline": Baseline.PREVIOUS.value, "baseline_hours": 24 * 7},
        {"name": "7d", "current_hours": 24 * 7, "baseline": Baseline.TRAILING_4W.value, "baseline_hours": 24 * 28},
    ]


class DriftSettings(models.Model):
    """A project's overrides; a project without a row runs with the defaults."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="drift_settings")
    enabled = models.BooleanField(default=True)
    # [{"name", "current_hours", "baseline" (Baseline), "baseline_hours"}]; "pinned" uses the range below;
    # "prompt_version" names its "prompt_name" and "prompt_version" in the item.
    comparisons = models.JSONField(default=default_comparisons)
    pinned_start = models.DateTimeField(null=True, blank=True)
    pinned_end = models.DateTimeField(null=True, blank=True)
    # Set when the pinned range was taken from a release's calls (the settings form's "release"):
    # the range is that release's first to last call, rounded out to hours; shown beside the range.
    pinned_release = models.CharField(max_length=100, blank=True, default="")
    # {"numeric": n, "rate": n, "mix": n}: minimum samples per side (drift.stats.MIN_SAMPLES otherwise).
    min_samples = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not isinstance(self.comparisons, list) or not all(
                isinstance(c, dict) and str(c.get("name", "")).strip() and len(str(c["name"])) <= 32
                and isinstance(c.get("current_hours"), int) and 1 <= c["current_hours"] <= 24 * 90
                and c.get("baseline", Baseline.PREVIOUS) in Baseline.values
                and isinstance(c.get("baseline_hours", 1), int) and 1 <= c.get("baseline_hours", 1) <= 24 * 90
                for c in self.comparisons):
            raise ValidationError({"comparisons": "a list of {name (≤ 32 characters), current_hours (1-2160), "
                                                  f"baseline ({', '.join(Baseline.values)}), baseline_hours}}"})
        if any(c.get("baseline") == Baseline.PINNED for c in self.comparisons) and not (
                self.pinned_start and self.pinned_end and self.pinned_start < self.pinned_end):
            raise ValidationError({"pinned_start": "a pinned baseline needs a start before its end"})
        for c in self.comparisons:
            if c.get("baseline") == Baseline.PROMPT_VERSION and not (
                    isinstance(c.get("prompt_name"), str) and c["prompt_name"].strip() and len(c["prompt_name"]) <= 200
                    and isinstance(c.get("prompt_version"), str) and c["prompt_version"].strip()
                    and len(c["prompt_version"]) <= 64):
                raise ValidationError({"comparisons": "a pinned prompt version names its prompt and version"})


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DriftRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    # Scheduled runs: the interval number (epoch seconds // interval). Unique per project, so a second
    # beat tick (or a second beat) in the same interval inserts nothing. NULL for "Run now".
    slot = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)  # the windows end at this instant (hour floor)
    windows = models.JSONField(default=list)  # [{"name", "baseline", "baseline_start", ..., "current_end"}]
    counts = models.JSONField(default=dict)  # {"findings", "drift", "not_enough_data", "no_drift", "groups"}
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "slot"], condition=Q(slot__isnull=False),
                                    name="drift_run_slot"),
        ]
        indexes = [
            # The drift page's latest run and the API's run list: a project's runs, newest first.
            models.Index(fields=["project", "-created_at"], name="drift_run_project_recent"),
            # The sweeper: runs queued or running for too long (lost message, dead worker).
            models.Index(fields=["created_at"], name="drift_run_unfinished",
                         condition=Q(status__in=["queued", "running"])),
        ]


class Verdict(models.TextChoices):
    DRIFT = "drift", "Drift"
    NO_DRIFT = "no_drift", "No drift"
    NOT_ENOUGH_DATA = "not_enough_data", "Not enough data"


class Severity(models.TextChoices):
    NONE = "none", "None"
    MODERATE = "moderate", "Moderate"
    MAJOR = "major", "Major"


class Finding(models.Model):
    """One signal of one group compared over one comparison's windows."""

    run = models.ForeignKey(DriftRun, on_delete=models.CASCADE, related_name="findings")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    comparison = models.CharField(max_length=32)  # DriftSettings comparison name ("24h", "7d")
    signal = models.CharField(max_length=140)  # "latency", "score:groundedness", "flag:refusal", "model_mix"...
    group = models.JSONField(default=dict)  # {dimension: value}; {} for the whole project
    group_key = models.CharField(max_length=600, default="")  # canonical JSON of `group`, for history
    method = models.CharField(max_length=32)  # drift.stats: wasserstein, two_proportion_z, jensen_shannon
    statistic = models.FloatField(null=True)
    low = models.FloatField(null=True)  # the statistic's interval when estimated from sketches
    high = models.FloatField(null=True)
    threshold = models.FloatField(default=0)
    baseline_value = models.FloatField(null=True)
    current_value = models.FloatField(null=True)
    n_baseline = models.BigIntegerField(default=0)
    n_current = models.BigIntegerField(default=0)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.NONE)
    score = models.FloatField(default=0)  # statistic / threshold for drift, 0 otherwise: the ranking
    baseline_start = models.DateTimeField()
    baseline_end = models.DateTimeField()
    current_start = models.DateTimeField()
    current_end = models.DateTimeField()
    details = models.JSONField(default=dict)  # method's extras: bounds, p-values, categories that moved

    class Meta:
        indexes = [
            # The drift page and GET /runs/{id}/findings: a run's findings, most severe first.
            models.Index(fields=["run", "-score"], name="drift_finding_run_rank"),
            # The drill-down's history: one signal × group × comparison over a project's past runs.
            models.Index(fields=["project", "signal", "comparison", "group_key", "-run"],
                         name="drift_finding_history"),
            # GET /api/v1/drift/findings?signal=&severity=: a project's findings, newest first.
            models.Index(fields=["project", "-id"], name="drift_finding_project_recent"),
        ]
