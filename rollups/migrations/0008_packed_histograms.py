"""Histograms from int[] / bigint[] to packed big-endian bytea (see Rollup.latency_keys)."""
from django.db import migrations, models

PACK = """
CREATE FUNCTION pg_temp.obs_pack4(a int[]) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(string_agg(int4send(x), ''::bytea ORDER BY i), ''::bytea) FROM unnest(a) WITH ORDINALITY AS u(x, i)
$$;
CREATE FUNCTION pg_temp.obs_pack8(a bigint[]) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(string_agg(int8send(x), ''::bytea ORDER BY i), ''::bytea) FROM unnest(a) WITH ORDINALITY AS u(x, i)
$$;
ALTER TABLE rollups_rollup
    ALTER COLUMN latency_keys TYPE bytea USING pg_temp.obs_pack4(latency_keys),
    ALTER COLUMN latency_counts TYPE bytea USING pg_temp.obs_pack8(latency_counts),
    ALTER COLUMN ttft_keys TYPE bytea USING pg_temp.obs_pack4(ttft_keys),
    ALTER COLUMN ttft_counts TYPE bytea USING pg_temp.obs_pack8(ttft_counts);
"""


class Migration(migrations.Migration):
    dependencies = [("rollups", "0007_parts")]

    operations = [
        migrations.RunSQL(PACK, reverse_sql=migrations.RunSQL.noop, state_operations=[
            migrations.AlterField(model_name="rollup", name=name, field=models.BinaryField(default=bytes))
            for name in ("latency_keys", "latency_counts", "ttft_keys", "ttft_counts")
        ]),
    ]
