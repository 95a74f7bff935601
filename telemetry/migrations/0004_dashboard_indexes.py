"""Indexes for the dashboards: feedback by project and time (overview's thumbs-down tile), calls by
latency (latency page's slowest calls), and the function that makes a payload's full-text vector
(its index comes in 0005, on a stored column the background indexer fills).

Operators of big installs: plain CREATE INDEX blocks writes to its table while it builds (measured
on a busy 2-core machine: call_project_latency 34 s over 10M calls; feedback_project_time 0.3 s per
100k feedback rows). To avoid the pause, create them by hand before `migrate`; both statements say
IF NOT EXISTS, so the migration then only records them:

    CREATE INDEX CONCURRENTLY feedback_project_time ON telemetry_feedback (project_id, created_at);
    CREATE INDEX CONCURRENTLY call_project_latency ON telemetry_call (project_id, latency_ms DESC);
"""
from __future__ import annotations

from django.db import migrations, models

# The search vector of a payload: the string values of input and output (JSON keys and numbers
# are not words anyone searches for), 'simple' configuration (no stemming, no stop words: prompts
# are in every language). A tsvector may not exceed 1 MB, and an index expression that raises
# would make the ingest INSERT fail, so payloads past 100 kB of JSON are indexed from their first
# 100k characters instead (worst cases measured at ~0.5 MB of tsvector). A function, not an inline
# expression, so the query (dashboards/selectors/calls.py) cannot drift from the index: both say
# obs_payload_search(input, output). LANGUAGE sql bodies name only pg_catalog objects, so a
# restore under an empty search_path still finds them.
SEARCH_FUNCTION = r"""
CREATE OR REPLACE FUNCTION obs_payload_search(input jsonb, output jsonb) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
  WHEN octet_length(coalesce(input::text, '')) + octet_length(coalesce(output::text, '')) <= 100000
  THEN jsonb_to_tsvector('simple'::regconfig, coalesce(input, 'null'::jsonb), '["string"]'::jsonb)
       || jsonb_to_tsvector('simple'::regconfig, coalesce(output, 'null'::jsonb), '["string"]'::jsonb)
  ELSE to_tsvector('simple'::regconfig, left(coalesce(input::text, '') || ' ' || coalesce(output::text, ''), 100000))
END
$$
"""
DROP_SEARCH = "DROP FUNCTION IF EXISTS obs_payload_search(jsonb, jsonb)"

FEEDBACK_INDEX = "CREATE INDEX IF NOT EXISTS feedback_project_time ON telemetry_feedback (project_id, created_at)"
LATENCY_INDEX = "CREATE INDEX IF NOT EXISTS call_project_latency ON telemetry_call (project_id, latency_ms DESC)"


class Migration(migrations.Migration):

    dependencies = [
        ('telemetry', '0003_callpayload_redaction'),
    ]

    operations = [
        # Only the function: an expression index here made every ingest compute the vector (see 0005).
        migrations.RunSQL([SEARCH_FUNCTION], DROP_SEARCH),
        # Raw SQL with IF NOT EXISTS (see the docstring), and the same indexes as Django state.
        migrations.RunSQL(
            FEEDBACK_INDEX, "DROP INDEX IF EXISTS feedback_project_time",
            state_operations=[migrations.AddIndex(
                model_name='feedback',
                index=models.Index(fields=['project', 'created_at'], name='feedback_project_time'),
            )],
        ),
        migrations.RunSQL(
            LATENCY_INDEX, "DROP INDEX IF EXISTS call_project_latency",
            state_operations=[migrations.AddIndex(
                model_name='call',
                index=models.Index(fields=['project', '-latency_ms'], name='call_project_latency'),
            )],
        ),
    ]
