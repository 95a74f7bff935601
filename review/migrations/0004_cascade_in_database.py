"""Deleting a call in SQL (the retention purge, an end user's erasure) takes its review items, and
deleting an item its verdicts and skips: the foreign keys cascade in the database, not only in
Django's ORM, so those raw deletes never fail on review rows they do not know about."""
from django.db import migrations

SQL = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.conname, c.conrelid::regclass AS tbl, pg_get_constraintdef(c.oid) AS def
             FROM pg_constraint c
             WHERE c.contype = 'f' AND c.confdeltype <> 'c'
               AND ((c.conrelid = 'review_item'::regclass AND c.confrelid = 'telemetry_call'::regclass)
                 OR (c.conrelid IN ('review_verdict'::regclass, 'review_skip'::regclass)
                     AND c.confrelid = 'review_item'::regclass))
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.tbl, r.conname,
                       CASE WHEN position(' DEFERRABLE' IN r.def) > 0
                            THEN replace(r.def, ' DEFERRABLE', ' ON DELETE CASCADE DEFERRABLE')
                            ELSE r.def || ' ON DELETE CASCADE' END);
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("review", "0003_item_resolution")]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
