"""Full-text search off the ingest path: a stored `search` vector per payload, filled by the
background indexer (telemetry.tasks.index_payloads). An expression index on obs_payload_search
made every ingested payload compute its vector in the request's transaction (~0.3 ms each, ingest
~9k -> ~5k events/s). Existing payloads start NULL and the worker indexes them after the upgrade,
a batch at a time; searches check unindexed rows directly meanwhile, so nothing goes missing."""
import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('telemetry', '0004_dashboard_indexes'),
    ]

    operations = [
        # Databases that applied an early draft of 0004 have an expression index of this name.
        migrations.RunSQL("DROP INDEX IF EXISTS callpayload_search", migrations.RunSQL.noop),
        migrations.AddField(
            model_name='callpayload',
            name='search',
            field=django.contrib.postgres.search.SearchVectorField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='callpayload',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search'], name='callpayload_search'),
        ),
        migrations.AddIndex(
            model_name='callpayload',
            index=models.Index(condition=models.Q(('search__isnull', True)), fields=['call'],
                               name='callpayload_unindexed'),
        ),
    ]
