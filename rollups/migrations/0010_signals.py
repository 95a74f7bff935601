"""Feedback and client scores in the rollups (rollups/signals.py): the signal queue and ledger,
the triggers that queue every insert, relevant update and delete of telemetry_feedback and
telemetry_score (evaluator scores, external id "eval:...", are folded by quality/ and left out),
and the existing signals queued once so upgrading folds them too."""

import django.contrib.postgres.fields
import django.db.models.functions.datetime
from django.db import migrations, models

# Statement-level with transition tables, like telemetry_call_pending: one INSERT ... SELECT per
# statement whatever the number of rows. Updates are compared column by column because a
# statement-level trigger with transition tables cannot name columns (UPDATE OF ...): only a
# change to what is rolled up queues the signal. A signal without a call is not queued: linking
# it (UPDATE ... SET call_id) does.
TRIGGERS = """
CREATE FUNCTION obs_feedback_signal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollups_pendingsignal (kind, row_id, project_id, enqueued_at)
        SELECT 'f', id, project_id, now() FROM new_rows WHERE call_id IS NOT NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO rollups_pendingsignal (kind, row_id, project_id, enqueued_at)
        SELECT 'f', n.id, n.project_id, now() FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.call_id, n.thumbs, n.rating, n.project_id) IS DISTINCT FROM (o.call_id, o.thumbs, o.rating, o.project_id);
    ELSE
        INSERT INTO rollups_pendingsignal (kind, row_id, project_id, enqueued_at)
        SELECT 'f', id, project_id, now() FROM old_rows WHERE call_id IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION obs_score_signal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollups_pendingsignal (kind, row_id, project_id, enqueued_at)
        SELECT 's', id, project_id, now() FROM new_rows WHERE call_id IS NOT NULL AND external_id NOT LIKE 'eval:%';
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO rollups_pendingsignal (kind, row_id, project_id, enqueued_at)
        SELECT 's', n.id, n.project_id, now() FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.external_id NOT LIKE 'eval:%' OR o.external_id NOT LIKE 'eval:%')
          AND (n.call_id, n.name, n.value, n.source, n.external_id, n.project_id)
              IS DISTINCT FROM (o.call_id, o.name, o.value, o.source, o.external_id, o.project_id);
    ELSE
        INSERT INTO rollups_pendingsignal (kind, row_id, project_id, enqueued_at)
        SELECT 's', id, project_id, now() FROM old_rows WHERE call_id IS NOT NULL AND external_id NOT LIKE 'eval:%';
    END IF;
    RETURN NULL;
END $$;
"""
_TABLES = {"telemetry_feedback": "obs_feedback_signal", "telemetry_score": "obs_score_signal"}
_EVENTS = {"insert": "NEW TABLE AS new_rows", "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
           "delete": "OLD TABLE AS old_rows"}
TRIGGERS += "".join(
    f"CREATE TRIGGER {table}_signal_{event} AFTER {event.upper()} ON {table} REFERENCING {tables}"
    f" FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n"
    for table, function in _TABLES.items() for event, tables in _EVENTS.items())
DROP_TRIGGERS = "".join(f"DROP TRIGGER IF EXISTS {table}_signal_{event} ON {table};\n"
                        for table in _TABLES for event in _EVENTS) + "".join(
    f"DROP FUNCTION IF EXISTS {function}();\n" for function in _TABLES.values())
# Feedback and client scores stored before this migration were never rolled up: queue them once.
# The workers fold them in the background (after each processing run and from beat).
BACKFILL = """
INSERT INTO rollups_pendingsignal (kind, row_id, project_id, enqueued_at)
SELECT 'f', id, project_id, now() FROM telemetry_feedback WHERE call_id IS NOT NULL;
INSERT INTO rollups_pendingsignal (kind, row_id, project_id, enqueued_at)
SELECT 's', id, project_id, now() FROM telemetry_score WHERE call_id IS NOT NULL AND external_id NOT LIKE 'eval:%';
"""


class Migration(migrations.Migration):

    dependencies = [
        ('rollups', '0009_score_dimension'),
        ('telemetry', '0005_payload_search_vector'),
    ]

    operations = [
        migrations.CreateModel(
            name='PendingSignal',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('f', 'Feedback'), ('s', 'Score')], max_length=1)),
                ('row_id', models.BigIntegerField()),
                ('project_id', models.BigIntegerField()),
                ('enqueued_at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
            ],
            options={
                'indexes': [models.Index(fields=['project_id', 'id'], name='pendingsignal_claim')],
            },
        ),
        migrations.CreateModel(
            name='SignalFold',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('f', 'Feedback'), ('s', 'Score')], max_length=1)),
                ('row_id', models.BigIntegerField()),
                ('project_id', models.BigIntegerField()),
                ('start_time', models.DateTimeField(null=True)),
                ('dims', django.contrib.postgres.fields.ArrayField(base_field=models.TextField(), default=list, size=None)),
                ('names', django.contrib.postgres.fields.ArrayField(base_field=models.TextField(), default=list, size=None)),
                ('vals', django.contrib.postgres.fields.ArrayField(base_field=models.FloatField(), default=list, size=None)),
            ],
            options={
                'indexes': [models.Index(fields=['project_id', 'start_time'], name='signalfold_range')],
                'constraints': [models.UniqueConstraint(fields=('kind', 'row_id'), name='signalfold_key')],
            },
        ),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
