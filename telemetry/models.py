"""The telemetry data model: calls (spans of every kind), their payloads, traces, scores, feedback.

`Call` is the narrow row that lists, filters and rollups scan; the large text lives in
`CallPayload` so that metric scans never read megabytes of prompts.
"""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q

from tenancy.models import Project


class Kind(models.TextChoices):
    LLM = "llm", "LLM call"
    EMBEDDING = "embedding", "Embedding"
    RETRIEVAL = "retrieval", "Retrieval"
    TOOL = "tool", "Tool"
    CHAIN = "chain", "Chain"
    AGENT = "agent", "Agent"
    OTHER = "other", "Other"


class Status(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class CostSource(models.TextChoices):
    PROVIDED = "provided", "Provided by the client"
    COMPUTED = "computed", "Computed from the price table"
    UNKNOWN = "unknown", "Unpriced"


class Call(models.Model):
    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    external_id = models.CharField(max_length=255)  # the client's id: idempotency key
    trace_id = models.CharField(max_length=128, blank=True, default="")
    parent_id = models.CharField(max_length=255, blank=True, default="")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.LLM)
    name = models.CharField(max_length=255, blank=True, default="")

    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)

    provider = models.CharField(max_length=100, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    operation = models.CharField(max_length=64, blank=True, default="")

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OK)
    error_type = models.CharField(max_length=255, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    # input_tokens includes cached_input_tokens and output_tokens includes reasoning_tokens,
    # as in the OpenTelemetry GenAI conventions.
    input_tokens = models.IntegerField(null=True, blank=True)
    output_tokens = models.IntegerField(null=True, blank=True)
    cached_input_tokens = models.IntegerField(null=True, blank=True)
    reasoning_tokens = models.IntegerField(null=True, blank=True)
    total_tokens = models.IntegerField(null=True, blank=True)

    cost_input_usd = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    cost_output_usd = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    cost_total_usd = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    cost_source = models.CharField(max_length=10, choices=CostSource.choices, default=CostSource.UNKNOWN)

    prompt_name = models.CharField(max_length=200, blank=True, default="")
    prompt_version = models.CharField(max_length=64, blank=True, default="")
    user_id = models.CharField(max_length=255, blank=True, default="")
    session_id = models.CharField(max_length=255, blank=True, default="")
    feature = models.CharField(max_length=100, blank=True, default="")
    team = models.CharField(max_length=100, blank=True, default="")
    environment = models.CharField(max_length=64, blank=True, default="")
    release = models.CharField(max_length=100, blank=True, default="")

    params = models.JSONField(default=dict, blank=True)
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Ingest: ON CONFLICT (project_id, external_id) DO NOTHING makes re-sends duplicates;
            # also GET /api/v1/calls/<id> and feedback linking by the client's id.
            models.UniqueConstraint(fields=["project", "external_id"], name="call_project_external_id_unique"),
        ]
        indexes = [
            # GET /api/v1/calls: newest first within a time range, keyset pagination on (start_time, id).
            models.Index(fields=["project", "-start_time", "-id"], name="call_project_time"),
            # GET /api/v1/traces/<trace_id>: every span of one trace. Also the worker's reads of the
            # calls of a batch's traces (telemetry.services: _TRACE_SQL, _ATTRIBUTES_SQL).
            models.Index(fields=["project", "trace_id"], name="call_project_trace"),
            # Calls filtered by model, user or session over time (explorer filters, user and session pages).
            models.Index(fields=["project", "model", "-start_time"], name="call_project_model_time"),
            models.Index(fields=["project", "user_id", "-start_time"], name="call_project_user_time",
                         condition=~Q(user_id="")),
            models.Index(fields=["project", "session_id", "-start_time"], name="call_project_session_time",
                         condition=~Q(session_id="")),
            # ?tag=...: array containment.
            GinIndex(fields=["tags"], name="call_tags_gin"),
            # The latency page's slowest calls of a project (highest latency first).
            models.Index(fields=["project", "-latency_ms"], name="call_project_latency"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model or self.name} {self.external_id}"


class PendingCall(models.Model):
    """A call the workers have not processed yet: the work queue. A statement-level trigger on
    telemetry_call (migration 0002) adds a row for every inserted call, whoever inserts it; the
    worker deletes rows as it claims them, in the transaction that processes them.

    A queue table instead of a processed_at column on the call: marking a call processed rewrote
    the whole wide row and every one of its eight indexes (a third of the worker's time), and left
    the calls table with a dead row version per call for vacuum. No foreign key: the retention
    purge may delete a call first, and the worker simply finds nothing to fold for that id."""

    call_id = models.BigIntegerField(primary_key=True)
    project_id = models.BigIntegerField()
    received_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The worker's claim: a project's pending calls, oldest id first.
            models.Index(fields=["project_id", "call_id"], name="pending_project_call"),
        ]


class CallPayload(models.Model):
    """Input, output and retrieved context of a call: JSON (a string or chat messages).

    `search` is the full-text vector of input and output (SQL function obs_payload_search,
    migration 0004), filled in the background by telemetry.tasks.index_payloads rather than at
    ingest: computing it in the ingest transaction cost ~0.3 ms per payload and took ingest from
    ~9k to ~5k events/s. Until it is filled, searches check the unindexed rows directly."""

    call = models.OneToOneField(Call, on_delete=models.CASCADE, primary_key=True, related_name="payload")
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    context = models.JSONField(null=True, blank=True)
    # The PII redaction mode in force when the call was ingested (quality.models.Redaction).
    redaction = models.CharField(max_length=8, default="off", db_default="off")
    search = SearchVectorField(null=True, blank=True)

    class Meta:
        indexes = [
            # The calls explorer's full-text search (?q=): `search @@ websearch_to_tsquery(...)`.
            GinIndex(fields=["search"], name="callpayload_search"),
            # The search indexer's work list, and the searches' check of rows not indexed yet.
            models.Index(fields=["call"], name="callpayload_unindexed", condition=Q(search__isnull=True)),
        ]


class Trace(models.Model):
    """A group of calls sharing a trace id, derived by the worker from the calls themselves."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    trace_id = models.CharField(max_length=128)
    name = models.CharField(max_length=255, blank=True, default="")
    user_id = models.CharField(max_length=255, blank=True, default="")
    session_id = models.CharField(max_length=255, blank=True, default="")
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    call_count = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The worker upserts traces ON CONFLICT (project_id, trace_id).
            models.UniqueConstraint(fields=["project", "trace_id"], name="trace_project_trace_id_unique"),
        ]
        indexes = [
            # Trace lists, newest first.
            models.Index(fields=["project", "-start_time"], name="trace_project_time"),
        ]


class ScoreSource(models.TextChoices):
    HEURISTIC = "heuristic", "Heuristic"
    MODEL = "model", "Model"
    JUDGE = "judge", "LLM judge"
    HUMAN = "human", "Human reviewer"
    USER = "user", "End user"
    API = "api", "API"


class Score(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    external_id = models.CharField(max_length=255)
    # Null until the call arrives: scores may be sent before their call.
    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.CASCADE, related_name="scores")
    call_external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=100)
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True, default="")
    source = models.CharField(max_length=16, choices=ScoreSource.choices, default=ScoreSource.API)
    comment = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Idempotent ingest of scores.
            models.UniqueConstraint(fields=["project", "external_id"], name="score_project_external_id_unique"),
        ]
        indexes = [
            # A call's scores (call detail).
            models.Index(fields=["call", "name"], name="score_call_name"),
            # The worker links early scores once their call lands.
            models.Index(fields=["project", "call_external_id"], name="score_orphans",
                         condition=Q(call__isnull=True)),
        ]


class Feedback(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    external_id = models.CharField(max_length=255)
    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.CASCADE, related_name="feedback")
    call_external_id = models.CharField(max_length=255)
    thumbs = models.SmallIntegerField(null=True, blank=True)  # +1 up, -1 down
    rating = models.SmallIntegerField(null=True, blank=True)  # 1..5
    comment = models.TextField(blank=True, default="")
    end_user_id = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Idempotent ingest of feedback.
            models.UniqueConstraint(fields=["project", "external_id"], name="feedback_project_external_id_unique"),
            models.CheckConstraint(condition=Q(thumbs__in=[-1, 1]) | Q(thumbs__isnull=True), name="feedback_thumbs"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5) | Q(rating__isnull=True),
                                   name="feedback_rating"),
        ]
        indexes = [
            # A call's feedback (call detail).
            models.Index(fields=["call"], name="feedback_call"),
            # The worker links early feedback once its call lands.
            models.Index(fields=["project", "call_external_id"], name="feedback_orphans",
                         condition=Q(call__isnull=True)),
            # Feedback given in a range (overview's thumbs-down tile: dashboards.selectors.feedback_totals).
            models.Index(fields=["project", "created_at"], name="feedback_project_time"),
        ]
