"""obs_sketch_key: DDSketch's LogarithmicMapping(relative_accuracy=0.01).key() in SQL, so the fold
bins latencies where the rows are. The constants are the ddsketch package's for that accuracy
(rollups.sketch.MAPPING._multiplier, offset 0) and are frozen here because stored keys depend on
them; tests/rollups check that SQL and ddsketch agree."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION obs_sketch_key(value double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ceil(ln(greatest(value, 0.001)) / ln(2.0) * 34.65620375188817)::integer
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("rollups", "0002_hist_merge")]
    operations = [migrations.RunSQL(CREATE, "DROP FUNCTION IF EXISTS obs_sketch_key(double precision);")]
