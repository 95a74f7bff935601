"""obs_hist_from_keys: turns an array of sketch keys (one per call) into sparse (keys, counts)."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION obs_hist_from_keys(raw int[], OUT keys int[], OUT counts bigint[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_agg(k ORDER BY k), '{}'), COALESCE(array_agg(n ORDER BY k), '{}')
    FROM (SELECT k, count(*) AS n FROM unnest(raw) AS k WHERE k IS NOT NULL GROUP BY k) AS s
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("rollups", "0004_c_collation")]
    operations = [migrations.RunSQL(CREATE, "DROP FUNCTION IF EXISTS obs_hist_from_keys(int[]);")]
