"""Quality: per-project evaluator settings, the evaluation queue and state, and flags.
Scores themselves are telemetry.Score rows (source "heuristic" or "judge")."""
from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
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
    # Evaluation lag (age of the oldest queued call, seconds) past which new calls are sampled
    # down and the rest marked skipped with the reason; NULL = never shed load.
    max_lag_seconds = models.PositiveIntegerField(null=True, blank=True)
    # {score name: "higher" | "lower"}: which way is better for custom scores (API, human, judge,
    # rules). Built-in evaluators declare their own (Evaluator.score_directions).
    score_directions = models.JSONField(default=dict, blank=True)
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
    # Why a call was skipped ("sampled out at rate 0.25", "evaluation lag 340 s over 120 s ...").
    reason = models.CharField(max_length=200, blank=True, default="", db_default="")


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


# --- LLM-as-judge (quality.judge) ---------------------------------------------------------------

JUDGE_KEY_PREFIX = "OBSERVATORY_JUDGE_KEY_"  # the only environment variables a judge may read its key from
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,99}$")


def validate_base_url(value: str) -> None:
    """http(s) with a host; no credentials, query or fragment. Django's URLValidator would refuse
    bare service names (http://ollama:11434/v1), which self-hosted judges commonly use."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise ValidationError(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise ValidationError("the scheme must be http or https")
    if not parts.hostname:
        raise ValidationError("a host is required")
    if parts.username or parts.password:
        raise ValidationError("no credentials in the URL: put the key in an environment variable")
    if parts.query or parts.fragment:
        raise ValidationError("no query string or fragment: the base URL ends before /chat/completions")
    del port


def validate_key_env(value: str) -> None:
    # A prefix, so a judge pointed at an outside server can never be made to send it DATABASE_URL
    # or SECRET_KEY: only variables meant for judges are ever read.
    if value and not (_ENV_NAME.match(value) and value.startswith(JUDGE_KEY_PREFIX) and value != JUDGE_KEY_PREFIX):
        raise ValidationError(f"an environment variable name starting with {JUDGE_KEY_PREFIX}, e.g. "
                              f"{JUDGE_KEY_PREFIX}OPENAI (upper case, digits and _)")


class JudgeTemplate(models.TextChoices):
    HALLUCINATION = "hallucination", "Hallucination (1 = faithful to the context, 0 = made up)"
    RELEVANCE = "relevance", "Relevance (1 = answers the question, 0 = off topic)"
    HELPFULNESS = "helpfulness", "Helpfulness (1 = fully helpful, 0 = useless)"
    CUSTOM = "custom", "Custom criterion (1 = fully meets it, 0 = fails it)"


class Judge(models.Model):
    """An LLM-as-judge evaluator of a project: a template, an OpenAI-compatible endpoint, and
    which calls it judges. Its API key is never stored: `api_key_env` names the environment
    variable (of the workers) that holds it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="judges")
    # Evaluator, score and flag name: judge.<name> (Evaluation.evaluators holds 40 characters).
    name = models.SlugField(max_length=34)
    enabled = models.BooleanField(default=True)
    template = models.CharField(max_length=16, choices=JudgeTemplate.choices, default=JudgeTemplate.HELPFULNESS)
    criterion = models.TextField(blank=True, default="",
                                 help_text="Custom template only: what a good answer does, in your words.")
    base_url = models.CharField(max_length=500, validators=[validate_base_url],
                                help_text="OpenAI-compatible API root, e.g. https://api.openai.com/v1 "
                                          "or http://ollama:11434/v1 (the judge POSTs to <base_url>/chat/completions).")
    api_key_env = models.CharField(max_length=100, blank=True, default="", validators=[validate_key_env],
                                   help_text=f"Name of the environment variable with the key ({JUDGE_KEY_PREFIX}...; "
                                             "a _FILE variant works). Empty: no Authorization header.")
    model = models.CharField(max_length=200)
    # Empty: not sent (for models that only accept their default temperature).
    temperature = models.FloatField(default=0.0, null=True, blank=True)
    # Score below which the flag judge.<name> (medium) is raised.
    threshold = models.FloatField(default=0.5)
    # Share of the evaluated calls this judge sees; deterministic per call, like QualitySettings.sample_rate.
    sample_rate = models.FloatField(default=1.0)
    # Only calls of these models / features / prompt names (exact match); empty means all.
    only_models = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    only_features = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    only_prompt_names = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    # Null: no cap. Checked before each judge call against today's (UTC) JudgeUsage.cost_usd.
    daily_budget_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    timeout_s = models.FloatField(default=20.0)
    max_retries = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Names are the evaluator names; also serves judge_evaluators' "a project's judges".
            models.UniqueConstraint(fields=["project", "name"], name="judge_project_name_unique"),
        ]

    def __str__(self) -> str:
        return f"judge.{self.name}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.template == JudgeTemplate.CUSTOM and not self.criterion.strip():
            errors["criterion"] = "the custom template needs a criterion"
        for field, low, high in (("temperature", 0, 2), ("threshold", 0, 1), ("sample_rate", 0, 1),
                                 ("timeout_s", 1, 120)):
            value = getattr(self, field)
            if value is not None and not low <= value <= high:
                errors[field] = f"between {low} and {high}"
        if self.max_retries is not None and self.max_retries > 5:
            errors["max_retries"] = "at most 5"
        if self.daily_budget_usd is not None and self.daily_budget_usd < 0:
            errors["daily_budget_usd"] = "zero or more (empty for no cap)"
        if errors:
            raise ValidationError(errors)


class JudgeUsage(models.Model):
    """What a judge used on one day (UTC): upserted after every judge call, read by the budget cap."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, db_index=False, related_name="usage")
    day = models.DateField()
    calls = models.PositiveIntegerField(default=0)  # calls judged (one per evaluated call, retries aside)
    failures = models.PositiveIntegerField(default=0)  # of which no valid verdict (endpoint error or bad verdict)
    retries = models.PositiveIntegerField(default=0)  # extra HTTP attempts
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    # Priced with pricing.catalog; calls of a model without a price add nothing here and count in unpriced_calls.
    cost_usd = models.DecimalField(max_digits=20, decimal_places=12, default=Decimal(0))
    unpriced_calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # The upsert key, and the budget check's lookup (judge, today).
            models.UniqueConstraint(fields=["judge", "day"], name="judgeusage_judge_day_unique"),
        ]
