"""Late feedback: a statement-level trigger on telemetry_feedback queues new and changed feedback
(inserted, linked to its call, edited) in review_pendingfeedback, but only for projects with an
enabled feedback rule, so ingest pays nothing where review is not used. review.routing drains it."""
from django.db import migrations

SQL = """
CREATE FUNCTION review_feedback_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO review_pendingfeedback (feedback_id, project_id)
    SELECT n.id, n.project_id FROM new_rows n
    WHERE EXISTS (SELECT 1 FROM review_queue q JOIN review_routingrule r ON r.queue_id = q.id
                  WHERE q.project_id = n.project_id AND q.active AND r.enabled AND r.kind = 'feedback')
    ON CONFLICT (feedback_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER review_feedback_insert AFTER INSERT ON telemetry_feedback
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION review_feedback_queue();
CREATE TRIGGER review_feedback_update AFTER UPDATE ON telemetry_feedback
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION review_feedback_queue();
"""
REVERSE = """
DROP TRIGGER IF EXISTS review_feedback_update ON telemetry_feedback;
DROP TRIGGER IF EXISTS review_feedback_insert ON telemetry_feedback;
DROP FUNCTION IF EXISTS review_feedback_queue();
"""


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial"), ("telemetry", "0005_payload_search_vector")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
