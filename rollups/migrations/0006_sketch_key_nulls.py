"""obs_sketch_key returns NULL for NULL: GREATEST() ignores NULLs, so calls without a latency or a
time to first token were binned as 0.001 ms. Rebuild affected ranges with rebuild_rollups."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION obs_sketch_key(value double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN NULL
                ELSE ceil(ln(greatest(value, 0.001)) / ln(2.0) * 34.65620375188817)::integer END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("rollups", "0005_hist_from_keys")]
    operations = [migrations.RunSQL(CREATE, migrations.RunSQL.noop)]
