"""Pre-aggregated telemetry: what dashboards, alerts and the metrics API read instead of raw calls."""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from tenancy.models import Project


class Grain(models.TextChoices):
    MINUTE = "m", "Minute"
    HOUR = "h", "Hour"
    DAY = "d", "Day"


class Rollup(models.Model):
    """Aggregates of the calls in one time bucket with one combination of a cube's dimensions.
    Dimensions outside the cube are stored as ''. A combination may have several rows ("parts")
    until the compactor merges them: readers always sum, so parts are invisible to them.
    Dimension columns use the "C" collation: they are matched exactly, never sorted for people,
    and byte comparison keeps grouping on the 13-column key cheap.

    Quality scores share the table: a row whose `score` is set holds the distribution of one
    score (or, for "flag:<name>", the number of flagged calls) for its bucket and dimensions, and
    its call measures are zero; rows of calls have score ''. A score name is one more dimension,
    its values one more histogram."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    grain = models.CharField(max_length=1, choices=Grain.choices)
    cube = models.CharField(max_length=16)
    bucket = models.DateTimeField()
    kind = models.CharField(max_length=16, default="", db_collation="C")
    provider = models.CharField(max_length=100, default="", db_collation="C")
    model = models.CharField(max_length=200, default="", db_collation="C")
    prompt_name = models.CharField(max_length=200, default="", db_collation="C")
    prompt_version = models.CharField(max_length=64, default="", db_collation="C")
    feature = models.CharField(max_length=100, default="", db_collation="C")
    team = models.CharField(max_length=100, default="", db_collation="C")
    environment = models.CharField(max_length=64, default="", db_collation="C")
    status = models.CharField(max_length=8, default="", db_collation="C")
    score = models.CharField(max_length=120, default="", db_default="", db_collation="C")

    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=28, decimal_places=12, default=0)
    unpriced = models.BigIntegerField(default=0)
    latency_count = models.BigIntegerField(default=0)
    latency_sum = models.FloatField(default=0)
    latency_max = models.FloatField(null=True)
    # Sparse histograms: ascending sketch keys as big-endian int32 and their counts as big-endian
    # int64, packed in bytea. numpy reads and writes them in one call (int[] went through Python
    # per element, on the way in and out); big-endian is what PostgreSQL's int4send/int8send write.
    latency_keys = models.BinaryField(default=bytes)
    latency_counts = models.BinaryField(default=bytes)
    ttft_count = models.BigIntegerField(default=0)
    ttft_sum = models.FloatField(default=0)
    ttft_max = models.FloatField(null=True)
    ttft_keys = models.BinaryField(default=bytes)
    ttft_counts = models.BinaryField(default=bytes)
    score_count = models.BigIntegerField(default=0, db_default=0)
    score_sum = models.FloatField(default=0, db_default=0)
    # Sums of squares, so a mean's variance can be read back (prompts' Welch t-tests): of the score
    # values on score rows, of each call's cost in USD on call rows. Floats: a variance needs no
    # cent-exact total, and cost_usd keeps the exact sum.
    score_sumsq = models.FloatField(default=0, db_default=0)
    cost_sumsq = models.FloatField(default=0, db_default=0)
    score_keys = models.BinaryField(default=bytes, db_default=b"")
    score_counts = models.BinaryField(default=bytes, db_default=b"")
    # False for a part just written by a fold; the compactor merges a bucket's parts into one row
    # per dimension combination and marks it True (see rollups/compact.py).
    compacted = models.BooleanField(default=False, db_default=False)

    class Meta:
        indexes = [
            # Every metrics query and the retention purge: one project, one grain, one cube, a bucket range.
            models.Index(fields=["project", "grain", "cube", "bucket"], name="rollup_read"),
            # The same reads of call measures (score = ''): every chart, tile and alert on calls, errors,
            # tokens, cost and latency. Score rows (per-call distributions "dist:*", feedback, evaluator
            # scores) share the cubes' buckets, three to five times the call rows in the model cube's
            # hours; through rollup_read such a read fetched and dropped them all (the overview with a
            # model filter in a non-UTC time zone reads 30 days of hours: 415 ms at 10M calls, 105 ms
            # with this index).
            models.Index(fields=["project", "grain", "cube", "bucket"], name="rollup_read_calls",
                         condition=models.Q(score="")),
            # The compactor's "buckets of project P with parts still to merge".
            models.Index(fields=["project", "grain", "bucket"], name="rollup_parts",
                         condition=models.Q(compacted=False)),
        ]


class Entity(models.TextChoices):
    USER = "user", "User"
    SESSION = "session", "Session"


class EntityRollup(models.Model):
    """Daily calls, errors, tokens and cost per user or per session (top-N views)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    entity = models.CharField(max_length=8, choices=Entity.choices)
    bucket = models.DateTimeField()
    key = models.CharField(max_length=255, db_collation="C")
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=28, decimal_places=12, default=0)

    class Meta:
        # Upserted, not appended like Rollup: a user or session per day is rarely in two batches
        # at once, and the fold runs this upsert last, so row locks are held only until commit.
        constraints = [
            # Upsert key; its prefix serves "top users/sessions of project P between two days".
            models.UniqueConstraint(fields=["project", "entity", "bucket", "key"], name="entityrollup_key"),
        ]


class ErrorRollup(models.Model):
    """Errors per type and model, hourly and daily."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, db_index=False, related_name="+")
    grain = models.CharField(max_length=1, choices=Grain.choices)
    bucket = models.DateTimeField()
    model = models.CharField(max_length=200, default="", db_collation="C")
    error_type = models.CharField(max_length=255, default="", db_collation="C")
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Upsert key; its prefix serves "errors by type for project P over a range".
            models.UniqueConstraint(fields=["project", "grain", "bucket", "model", "error_type"],
                                    name="errorrollup_key"),
        ]


class SignalKind(models.TextChoices):
    FEEDBACK = "f", "Feedback"
    SCORE = "s", "Score"


class PendingSignal(models.Model):
    """A feedback or client score whose place in the rollups may have changed: the work queue of
    rollups/signals.py. Triggers on telemetry_feedback and telemetry_score (migration 0010) add a
    row for every insert, relevant update and delete, whoever writes. A signal may be queued more
    than once; the worker reconciles it with its ledger row (SignalFold), so repeats are harmless.
    No foreign keys: deleting a project deletes its feedback, whose triggers queue rows for it."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=1, choices=SignalKind.choices)
    row_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    enqueued_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [
            # The worker's claim: a project's queued signals, oldest first.
            models.Index(fields=["project_id", "id"], name="pendingsignal_claim"),
        ]


class SignalFold(models.Model):
    """The ledger: what one signal is folded into the rollups as right now (its call's dimension
    values in rollups.cubes.DIMENSIONS order and start time, and the rollup score names and values).
    A change folds this out with weight -1 and the new state in with +1, so a signal is counted
    once however often it changes or is queued."""

    kind = models.CharField(max_length=1, choices=SignalKind.choices)
    row_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    start_time = models.DateTimeField(null=True)
    dims = ArrayField(models.TextField(), default=list)
    names = ArrayField(models.TextField(), default=list)
    vals = ArrayField(models.FloatField(), default=list)

    class Meta:
        constraints = [
            # The worker locks a signal's row (inserting it first if new) before reading the signal.
            models.UniqueConstraint(fields=["kind", "row_id"], name="signalfold_key"),
        ]
        indexes = [
            # rollups_rebuild: the signals folded into a project's rebuilt range.
            models.Index(fields=["project_id", "start_time"], name="signalfold_range"),
        ]
