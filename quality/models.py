"""Quality: per-project evaluator settings, the evaluation queue and state, and flags.
Scores themselves are telemetry.Score rows (source "heuristic" or "judge")."""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from telemetry.models import Call
from tenancy.models import Project


class Redaction(models.TextChoices):
    OFF = "off", "Off: store payloads as sent"
    MASK = "mask", "Mask: replace PII with typed placeholders before storing"
    DROP = "drop", "Drop: store no payload for calls that contain PII"


class QualitySettings(models.Model):
    """A project's evaluators and PII redaction. No row means the defaults (all built-in
    evaluators on with their default thresholds, no redaction)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, primary_key=True,
                                   related_name="quality_settings")
    # Off: calls are not queued for evaluation at all (redaction still applies).
    evaluate = models.BooleanField(default=True)
    redaction = models.CharField(max_length=8, choices=Redaction.choices, default=Redaction.OFF)
    # PII types to redact (quality.evaluators.pii.PII_TYPES); empty means all.
    redaction_types = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # {evaluator name: {"enabled": bool, ...config overrides}}; see each evaluator's `defaults`.
    evaluators = models.JSONField(default=dict, blank=True)
    # Custom rules for the "rules" evaluator (quality.evaluators.rules.rule_validate).
    rules = models.JSONField(default=list, blank=True)
    # Share of model calls the heuristic evaluators score (1 = every call).
    sample_rate = models.FloatField(default=1.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "quality settings"

    def __str__(self) -> str:
        return f"Quality settings of {self.project}"


class PendingEvaluation(models.Model):
    """Calls waiting for the evaluators: the work queue of quality.tasks.evaluate_project."""

    call_id = models.BigIntegerField(primary_key=True)
    project_id = models.BigIntegerField()
    enqueued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The evaluator's claim: a project's waiting calls, oldest id first.
            models.Index(fields=["project_id", "call_id"], name="pendingeval_project_call"),
        ]


class EvaluationStatus(models.TextChoices):
    DONE = "done", "Done"
    PARTIAL = "partial", "Done, some evaluators failed"
    SKIPPED = "skipped", "Not sampled"


class Evaluation(models.Model):
    """A call's scoring state: when it was evaluated, by which evaluators, and what failed."""

    call = models.OneToOneField(Call, on_delete=models.CASCADE, primary_key=True, related_name="evaluation")
    project_id = models.BigIntegerField()
    status = models.CharField(max_length=8, choices=EvaluationStatus.choices)
    evaluators = ArrayField(models.CharField(max_length=40), default=list)
    errors = models.JSONField(default=dict, blank=True)  # {evaluator: message}
    duration_ms = models.FloatField(default=0)
    evaluated_at = models.DateTimeField()


class Flag(models.Model):
    """A named violation found in a call (PII, injection, toxicity, a custom rule, ...)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="flags")
    name = models.CharField(max_length=120)
    severity = models.CharField(max_length=8)
    evaluator = models.CharField(max_length=40)
    detail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Re-scoring replaces a call's flags: one row per (call, name).
            models.UniqueConstraint(fields=["call", "name"], name="flag_call_name_unique"),
        ]
        indexes = [
            # Review queues and the explorer's "flagged calls" filter: a project's flags, newest first.
            models.Index(fields=["project", "name", "-created_at"], name="flag_project_name_time"),
        ]
