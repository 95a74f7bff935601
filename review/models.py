"""Review queues: queues with a rubric, the rules that route calls into them, items (one per queue and
call), reviewers' verdicts, the daily-cap ledger, and golden datasets (immutable versions)."""
from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from telemetry.models import Call
from tenancy.models import Project


class Assignment(models.TextChoices):
    POOL = "pool", "Open pool: anyone claims the next item"
    ROUND_ROBIN = "round_robin", "Round-robin over chosen members"


class Queue(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)  # names the scores: review.<slug>.<question>
    instructions = models.TextField(blank=True, default="")  # markdown, rendered without HTML (review.text)
    # [{"name", "label", "kind": numeric|categorical|boolean|text, ...}]: review.rubric.rubric_validate
    rubric = models.JSONField(default=list)
    reviewers_per_item = models.PositiveSmallIntegerField(default=1)
    assignment = models.CharField(max_length=12, choices=Assignment.choices, default=Assignment.POOL)
    # Round-robin: who takes turns (item id modulo the sorted member ids decides whose turn it is).
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    daily_cap = models.PositiveIntegerField(null=True, blank=True)  # routed items per UTC day; NULL = no cap
    lock_minutes = models.PositiveSmallIntegerField(default=10)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Queues are addressed by slug in score names; also the project's queue list (by slug).
            models.UniqueConstraint(fields=["project", "slug"], name="review_queue_project_slug"),
            models.CheckConstraint(condition=Q(reviewers_per_item__gte=1, reviewers_per_item__lte=5),
                                   name="review_queue_reviewers_1_5"),
            models.CheckConstraint(condition=Q(lock_minutes__gte=1), name="review_queue_lock_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class RuleKind(models.TextChoices):
    FLAG = "flag", "Flag raised"
    SCORE = "score", "Score above or below a value"
    FEEDBACK = "feedback", "End-user feedback"
    ERROR = "error", "Error status"
    SAMPLE = "sample", "Random sample"
    INCIDENT = "incident", "Calls behind an alert incident"


class FeedbackKind(models.TextChoices):
    THUMBS_DOWN = "thumbs_down", "Thumbs down"
    RATING = "rating", "Rating at most N"
    COMMENT = "comment", "A comment"


class RoutingRule(models.Model):
    """One way a call enters a queue. The filters (model, feature, prompt version, environment;
    empty = any) narrow every kind, not only samples."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=10, choices=RuleKind.choices)
    enabled = models.BooleanField(default=True)
    flag_names = ArrayField(models.CharField(max_length=120), default=list, blank=True)  # empty = any flag
    min_severity = models.CharField(max_length=8, default="low")  # quality.evaluators.base.SEVERITIES
    score_name = models.CharField(max_length=100, blank=True, default="")
    direction = models.CharField(max_length=5, blank=True, default="")  # above | below
    threshold = models.FloatField(null=True, blank=True)
    feedback = models.CharField(max_length=12, choices=FeedbackKind.choices, blank=True, default="")
    rating_max = models.PositiveSmallIntegerField(null=True, blank=True)
    sample_rate = models.FloatField(null=True, blank=True)  # 0 < rate <= 1
    # Incident rules (review.incidents): the alert rule whose incidents they sample, N calls or
    # sample_rate of the breaching group's calls in the incident window. No foreign key: the
    # alerts app is optional, and a deleted alert rule just leaves the rule idle.
    alert_rule_id = models.BigIntegerField(null=True, blank=True)
    sample_count = models.PositiveIntegerField(null=True, blank=True)
    models_filter = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    features = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    prompt_versions = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    environments = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The sample_into_queue action: the incident rules naming the alert rule that fired.
            models.Index(fields=["alert_rule_id"], name="review_rule_alert_rule",
                         condition=Q(kind="incident")),
        ]

    def __str__(self) -> str:
        return f"{self.kind} rule {self.pk} of {self.queue_id}"


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_REVIEW = "in_review", "In review"
    DONE = "done", "Done"
    ESCALATED = "escalated", "Done, reviewers disagree"


OPEN_STATUSES = (ItemStatus.PENDING, ItemStatus.IN_REVIEW)


class Item(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, db_index=False, related_name="items")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, db_index=False, related_name="+")
    # Why it is here: {"rules": [{"rule", "kind", "flags" | "scores" | "feedback" | ...}]} or {"manual": user}
    reason = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    locked_until = models.DateTimeField(null=True, blank=True)
    submissions = models.PositiveSmallIntegerField(default=0)
    # An admin's final verdict on an escalated item: {"answers", "corrected_output", "comment", "by", "at"};
    # datasets take it over the reviewers' answers. The reviewers' verdicts and scores stay as given.
    resolution = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Once only: routing inserts ON CONFLICT (queue_id, call_id) DO NOTHING, whatever rule,
            # re-score or late feedback matches again.
            models.UniqueConstraint(fields=["queue", "call"], name="review_item_queue_call"),
        ]
        indexes = [
            # The next-item claim (review.services.item_claim_next): a queue's open items, oldest
            # first; also the backlog count and oldest pending age on the queue page.
            models.Index(fields=["queue", "created_at", "id"], name="review_item_open",
                         condition=Q(status__in=["pending", "in_review"])),
            # Items done per day and the dataset export: a queue's finished items by completion time.
            models.Index(fields=["queue", "done_at"], name="review_item_done",
                         condition=Q(done_at__isnull=False)),
            # "In review queues" on call detail, and the retention cascade from telemetry_call.
            models.Index(fields=["call"], name="review_item_call"),
            # The claim's first look: the item this reviewer already holds (a reload resumes it).
            models.Index(fields=["locked_by"], name="review_item_locked_by", condition=Q(locked_by__isnull=False)),
        ]


class Verdict(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, db_index=False, related_name="verdicts")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, db_index=False, related_name="+")  # for stats
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    answers = models.JSONField(default=dict)  # {question name: value}, checked against the rubric
    corrected_output = models.TextField(blank=True, default="")
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One verdict per reviewer and item; the claim's "not already reviewed by me" probe.
            models.UniqueConstraint(fields=["item", "reviewer"], name="review_verdict_item_reviewer"),
        ]
        indexes = [
            # Queue page: done per day and per-reviewer throughput over the last days.
            models.Index(fields=["queue", "created_at"], name="review_verdict_queue_time"),
        ]


class Skip(models.Model):
    """A reviewer passed on an item: it goes back to the pool for the others, not to them."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, db_index=False, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The claim's "not skipped by me" probe; a second skip is ON CONFLICT DO NOTHING.
            models.UniqueConstraint(fields=["item", "reviewer"], name="review_skip_item_reviewer"),
        ]


class QueueDay(models.Model):
    """Per queue and UTC day: items routed, and items left out by the daily cap."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, db_index=False, related_name="+")
    day = models.DateField()
    routed = models.IntegerField(default=0)
    left_out = models.IntegerField(default=0)

    class Meta:
        constraints = [
            # Routing upserts (and row-locks) today's row per queue to apply the cap.
            models.UniqueConstraint(fields=["queue", "day"], name="review_queueday_queue_day"),
        ]


class PendingFeedback(models.Model):
    """Feedback to route (late thumbs-down, ratings, comments): filled by a trigger on
    telemetry_feedback (migration 0002) for projects with a feedback rule, drained by
    review.routing.feedback_route after each telemetry processing run. No foreign key: the
    retention purge may delete the feedback first."""

    feedback_id = models.BigIntegerField(primary_key=True)
    project_id = models.BigIntegerField()

    class Meta:
        indexes = [
            # The drain's claim: a project's waiting feedback, oldest first.
            models.Index(fields=["project_id", "feedback_id"], name="review_pendingfb_project"),
        ]


class Backfill(models.Model):
    """Apply a rule to calls of the past: a cursor over (start_time, id) that a task advances a
    batch per transaction (review.routing.backfill_step)."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="backfills")
    start = models.DateTimeField()
    end = models.DateTimeField()
    cursor_time = models.DateTimeField(null=True, blank=True)
    cursor_id = models.BigIntegerField(null=True, blank=True)
    scanned = models.IntegerField(default=0)
    routed = models.IntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class Dataset(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    name = models.SlugField(max_length=100)
    description = models.TextField(blank=True, default="")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # GET /api/v1/datasets/<name>: a project's dataset by name.
            models.UniqueConstraint(fields=["project", "name"], name="review_dataset_project_name"),
        ]


class DatasetVersion(models.Model):
    """An export: a snapshot that never changes once written (no service updates it)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, db_index=False, related_name="versions")
    version = models.PositiveIntegerField()
    item_count = models.IntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # .../versions/<v>: a dataset's version by number; the next number is max + 1.
            models.UniqueConstraint(fields=["dataset", "version"], name="review_datasetversion_number"),
        ]


class DatasetItem(models.Model):
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, db_index=False, related_name="items")
    position = models.IntegerField()
    # The call it came from, by id and the client's id; no foreign key, so the retention purge of
    # calls never changes a snapshot.
    call_id = models.BigIntegerField(null=True, blank=True)
    call_external_id = models.CharField(max_length=255, blank=True, default="")
    input = models.JSONField(null=True, blank=True)
    expected_output = models.JSONField(null=True, blank=True)
    labels = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)

    class Meta:
        constraints = [
            # Paged reads and downloads in order: (version, position) keyset.
            models.UniqueConstraint(fields=["version", "position"], name="review_datasetitem_position"),
        ]
