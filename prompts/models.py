"""The prompt registry: prompts, their immutable versions, labels pointing at versions, the
append-only history of label moves, and experiments splitting a label's traffic between versions.

`latest` is not a row: it is computed as the newest version wherever labels are read, so it can
never lag behind. Versions and label events are never updated (a trigger, migration 0001, refuses
UPDATE in the database too); they go only with their prompt.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

LATEST = "latest"  # computed, never stored
PRODUCTION = "production"
# Labels protected when first created: only owners and admins (or a key with the prompts scope,
# which only they can create) may move them.
DEFAULT_PROTECTED = frozenset({PRODUCTION})


class PromptType(models.TextChoices):
    TEXT = "text", "Text"
    CHAT = "chat", "Chat"


class Prompt(models.Model):
    project = models.ForeignKey("tenancy.Project", on_delete=models.CASCADE, related_name="prompts")
    name = models.CharField(max_length=255)
    # Langfuse's tags: the same across versions of a prompt.
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Every read and write finds a prompt by (project, name); also the list's order by name.
            models.UniqueConstraint(fields=["project", "name"], name="prompt_project_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    type = models.CharField(max_length=8, choices=PromptType.choices)
    # A string for text prompts; a list of {"role", "content"} (or placeholder) messages for chat.
    template = models.JSONField()
    # model, temperature, max_tokens, top_p, response_format and any extra keys.
    config = models.JSONField(default=dict, blank=True)
    commit_message = models.TextField(blank=True, default="")
    # No constraint, nothing done on delete: the row is immutable; author_label keeps the name.
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                               related_name="+", db_constraint=False)
    author_label = models.CharField(max_length=255, blank=True, default="")  # "ana", "key obs_AbCd…"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Versions are numbered per prompt; "version N of prompt P" and newest-first lists
            # (latest = the highest) read this index.
            models.UniqueConstraint(fields=["prompt", "version"], name="promptversion_prompt_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="promptversion_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.version}"


class Label(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=64)
    version = models.ForeignKey(PromptVersion, on_delete=models.RESTRICT, related_name="labels")
    protected = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One label of a name per prompt: the fetch by (prompt, label) reads this index.
            models.UniqueConstraint(fields=["prompt", "name"], name="label_prompt_name_unique"),
        ]
        indexes = [
            # "Which labels point at version V" (a version's labels in every answer; PROTECT checks).
            models.Index(fields=["version"], name="label_version_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.name}"


class EventKind(models.TextChoices):
    VERSION_CREATED = "version_created", "New version"
    LABEL_MOVED = "label_moved", "Label moved"
    LABEL_REMOVED = "label_removed", "Label removed"
    LABEL_PROTECTION = "label_protection", "Protection changed"
    EXPERIMENT_STARTED = "experiment_started", "Experiment started"
    EXPERIMENT_SHIPPED = "experiment_shipped", "Experiment shipped"
    EXPERIMENT_STOPPED = "experiment_stopped", "Experiment stopped"
    ROLLBACK = "rollback", "Rolled back"


class LabelEvent(models.Model):
    """Append-only: every new version, label move and experiment change, with who or what did it
    (a person, a key, or "system:<action>" for automatic rollbacks) and why."""

    id = models.BigAutoField(primary_key=True)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    label = models.CharField(max_length=64, blank=True, default="")
    from_version = models.PositiveIntegerField(null=True, blank=True)
    to_version = models.PositiveIntegerField(null=True, blank=True)
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                                   related_name="+", db_constraint=False)
    actor_label = models.CharField(max_length=255)
    reason = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)  # figures of a tripped guard, experiment arms...
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # A prompt's history, newest first (the prompt page).
            models.Index(fields=["prompt", "-at"], name="labelevent_prompt_at_idx"),
        ]


class ExperimentStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SHIPPED = "shipped", "Shipped"
    STOPPED = "stopped", "Stopped"


class Experiment(models.Model):
    """Splits the traffic of a label between versions (arms) by weight, stickily per unit (see
    prompts.assignment). The label itself keeps pointing at its version until the experiment ships."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="experiments")
    label = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True, default="")
    salt = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=ExperimentStatus.choices, default=ExperimentStatus.RUNNING)
    started_by = models.CharField(max_length=255)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")

    class Meta:
        constraints = [
            # At most one running experiment per label; the fetch looks it up by (prompt, label).
            models.UniqueConstraint(fields=["prompt", "label"], condition=Q(status="running"),
                                    name="experiment_one_running_per_label"),
        ]
        indexes = [
            # The prompt page lists a prompt's experiments, newest first.
            models.Index(fields=["prompt", "-started_at"], name="experiment_prompt_started_idx"),
        ]


class Arm(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    position = models.PositiveSmallIntegerField()  # the order of the cumulative weights
    version = models.ForeignKey(PromptVersion, on_delete=models.RESTRICT, related_name="+")
    weight = models.FloatField()

    class Meta:
        ordering = ["position"]
        constraints = [
            # Arms are read in position order, by experiment.
            models.UniqueConstraint(fields=["experiment", "position"], name="arm_experiment_position_unique"),
            models.UniqueConstraint(fields=["experiment", "version"], name="arm_experiment_version_unique"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="arm_weight_positive"),
        ]


class GuardMetric(models.TextChoices):
    ERROR_RATE = "error_rate", "Error rate"
    FLAG_RATE = "flag_rate", "Flag rate"
    THUMBS_DOWN_RATE = "thumbs_down_rate", "Thumbs-down rate"
    LATENCY_P95 = "latency_p95", "p95 latency (ms)"
    COST_PER_CALL = "cost_per_call", "Cost per call (USD)"
    SCORE_AVG = "score_avg", "Score average"


class GuardCompare(models.TextChoices):
    THRESHOLD = "threshold", "Above a threshold"
    PREVIOUS = "previous", "Worse than the previous version"


class GuardState(models.TextChoices):
    ARMED = "armed", "Armed"
    TRIPPED = "tripped", "Tripped"


class Guard(models.Model):
    """A limit on a metric of the calls of the version behind a label (since the label moved
    there, over a trailing window). Rates trip when the lower 95% confidence bound (Wilson) is
    above the limit; latency and cost on the value. A tripped guard rolls the label back once and
    stays tripped until someone re-arms it (it never flaps)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="guards")
    label = models.CharField(max_length=64)
    metric = models.CharField(max_length=24, choices=GuardMetric.choices)
    flag = models.CharField(max_length=115, blank=True, default="")  # for flag_rate
    score = models.CharField(max_length=120, blank=True, default="")  # for score_avg (a rollup score name)
    # threshold: trip when the metric's confidence bound passes `threshold`. previous: trip when the
    # one-sided always-valid bound says the version is worse than the one the label pointed at
    # before by more than `threshold` (a margin, in the metric's unit; 0 for "any worse").
    compare = models.CharField(max_length=16, choices=GuardCompare.choices, default=GuardCompare.THRESHOLD,
                               db_default=GuardCompare.THRESHOLD)
    threshold = models.FloatField()
    min_sample = models.PositiveIntegerField(default=100)
    window_minutes = models.PositiveIntegerField(default=60)
    state = models.CharField(max_length=8, choices=GuardState.choices, default=GuardState.ARMED)
    created_by = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    tripped_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_value = models.JSONField(default=dict, blank=True)  # the figures of the last check

    class Meta:
        indexes = [
            # The evaluation task reads armed guards (all projects) each minute.
            models.Index(fields=["state"], name="guard_state_idx", condition=Q(state="armed")),
            # The prompt page lists a prompt's guards.
            models.Index(fields=["prompt", "label"], name="guard_prompt_label_idx"),
        ]


class EventSubscription(models.Model):
    """An alerts channel (webhook or Slack) that receives a project's prompt change events: new
    versions, label moves and removals, rollbacks, experiments started, shipped or stopped. The
    channel is kept by id, not a foreign key, so prompts' schema does not depend on the alerts app;
    alerts ignores ids that are gone or disabled (alerts.registry.publish_event)."""

    project = models.ForeignKey("tenancy.Project", on_delete=models.CASCADE, related_name="+")
    channel_id = models.BigIntegerField()
    kinds = ArrayField(models.CharField(max_length=24, choices=EventKind.choices), default=list, blank=True)  # [] every
    created_by = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One subscription per channel; its prefix serves "the subscriptions of project P" (each event).
            models.UniqueConstraint(fields=["project", "channel_id"], name="prompt_eventsub_unique"),
        ]


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DatasetRun(models.Model):
    """A prompt version run over a dataset (a review golden dataset, or uploaded JSONL items) through
    an OpenAI-compatible endpoint, each answer recorded as telemetry (environment `experiment`,
    feature `dataset-run-<id>-v<version>`) and scored by the project's evaluators and judges, then
    compared with the production-labelled version and checked against gates (prompts/datasets.py).
    The endpoint's key is read from the environment variable named here, never stored."""

    project = models.ForeignKey("tenancy.Project", on_delete=models.CASCADE, related_name="+")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="runs")
    version = models.PositiveIntegerField()
    baseline_version = models.PositiveIntegerField(null=True, blank=True)  # production's, when another
    dataset = models.CharField(max_length=100)  # a review dataset's name, or "upload"
    dataset_version = models.PositiveIntegerField(null=True, blank=True)
    items = models.JSONField(default=list, blank=True)  # uploaded items only ({input, expected_output})
    base_url = models.CharField(max_length=500)
    model = models.CharField(max_length=200, blank=True, default="")  # default: the version's config model
    api_key_env = models.CharField(max_length=100, blank=True, default="")
    concurrency = models.PositiveIntegerField(default=4)
    max_cost_usd = models.FloatField(default=1.0)
    gates = models.JSONField(default=list, blank=True)  # ["score_avg:helpfulness>=0.8", ...]
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.PENDING)
    total = models.PositiveIntegerField(default=0)  # answers to get (items × versions)
    done = models.PositiveIntegerField(default=0)
    cost_usd = models.FloatField(default=0)
    capped = models.BooleanField(default=False)  # stopped early at max_cost_usd
    results = models.JSONField(default=dict, blank=True)  # {"<version>": {metric: value}, "gates": [...]}
    error = models.TextField(blank=True, default="")
    created_by = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # A prompt's runs, newest first (the prompt page and the API list).
            models.Index(fields=["prompt", "-created_at"], name="datasetrun_prompt_idx"),
        ]
