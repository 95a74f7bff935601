"""obs_hist_merge: adds two sparse histograms (keys, counts) key by key; used by the fold's upsert."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION obs_hist_merge(k1 int[], c1 bigint[], k2 int[], c2 bigint[],
                                          OUT keys int[], OUT counts bigint[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_agg(k ORDER BY k), '{}'), COALESCE(array_agg(c ORDER BY k), '{}')
    FROM (SELECT k, sum(c)::bigint AS c
          FROM (SELECT * FROM unnest(k1, c1) UNION ALL SELECT * FROM unnest(k2, c2)) AS u(k, c)
          GROUP BY k) AS s
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("rollups", "0001_initial")]
    operations = [migrations.RunSQL(CREATE, "DROP FUNCTION IF EXISTS obs_hist_merge(int[], bigint[], int[], bigint[]);")]
