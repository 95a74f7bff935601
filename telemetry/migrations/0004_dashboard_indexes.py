"""Indexes for the dashboards: full-text search over call payloads (calls explorer), feedback by
project and time (overview's thumbs-down tile), calls by latency (latency page's slowest calls).

Operators of big installs:
- Plain CREATE INDEX blocks writes to its table while it builds, so ingestion waits for the whole
  build. Measured on a busy 2-core machine with the default maintenance_work_mem (64MB):
  call_project_latency took 34 s over 10M calls; callpayload_search 14 s per 200k payloads
  (~15k payloads a second: ~11 min for 10M); feedback_project_time 0.3 s per 100k feedback rows.
  To avoid the pause, create them by hand before `migrate`, each statement on its own (outside a
  transaction); every statement here says IF NOT EXISTS, so the migration then only records them:

      <the CREATE FUNCTION statement in SEARCH_FUNCTION below>
      SET maintenance_work_mem = '1GB';  -- GIN builds much faster with more memory
      CREATE INDEX CONCURRENTLY callpayload_search ON telemetry_callpayload USING gin (obs_payload_search(input, output));
      CREATE INDEX CONCURRENTLY feedback_project_time ON telemetry_feedback (project_id, created_at);
      CREATE INDEX CONCURRENTLY call_project_latency ON telemetry_call (project_id, latency_ms DESC);

- From then on every payload insert computes its search vector in the ingest transaction:
  ~0.3-0.45 ms of database CPU for 1.5 kB of chat JSON on that machine (inserting 20k such
  payloads took 7.6 s instead of 1.5 s). GIN's pending list (fastupdate, on by default) keeps the
  index update itself cheap; autovacuum merges the list later.
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
SEARCH_INDEX = ("CREATE INDEX IF NOT EXISTS callpayload_search ON telemetry_callpayload"
                " USING gin (obs_payload_search(input, output))")
DROP_SEARCH = "DROP INDEX IF EXISTS callpayload_search; DROP FUNCTION IF EXISTS obs_payload_search(jsonb, jsonb)"

FEEDBACK_INDEX = "CREATE INDEX IF NOT EXISTS feedback_project_time ON telemetry_feedback (project_id, created_at)"
LATENCY_INDEX = "CREATE INDEX IF NOT EXISTS call_project_latency ON telemetry_call (project_id, latency_ms DESC)"


class Migration(migrations.Migration):

    dependencies = [
        ('telemetry', '0003_callpayload_redaction'),
    ]

    operations = [
        migrations.RunSQL([SEARCH_FUNCTION, SEARCH_INDEX], DROP_SEARCH),
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
