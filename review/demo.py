"""The demo's review queue (dashboards.demo.demo_seed calls this before its calls are processed),
so `dev.py run --demo` shows a queue with routed items at first sight."""
from __future__ import annotations

from django.contrib.auth import get_user_model

from review.models import Queue
from review.services import queue_create, rule_create
from tenancy.models import Project

DEMO_RUBRIC = [
    {"name": "correct", "label": "Is the answer correct?", "kind": "categorical",
     "labels": ["correct", "partially correct", "wrong"], "approve": ["correct"]},
    {"name": "helpfulness", "label": "Helpfulness", "kind": "numeric", "min": 1, "max": 5},
    {"name": "hallucination", "label": "Does it make something up?", "kind": "boolean", "required": False},
]
DEMO_INSTRUCTIONS = """Review answers our users or our evaluators were unhappy with.

- **Correct**: would a support agent send this answer as it is?
- **Helpfulness**: 1 useless, 5 could not be better.
- Write the ideal answer in *Corrected answer* when you can: it goes to the golden dataset.
"""


def demo_queue(*, project_id: int) -> Queue | None:
    """A queue fed by flags (medium and up), thumbs-down and 2% of production traffic; once per project."""
    project = Project.objects.get(pk=project_id)
    if Queue.objects.filter(project=project).exists():
        return None
    actor = get_user_model().objects.filter(is_superuser=True).order_by("id").first()
    queue = queue_create(project=project, actor=actor, data={
        "name": "Flagged and thumbs-down answers", "instructions": DEMO_INSTRUCTIONS, "rubric": DEMO_RUBRIC,
        "daily_cap": 500})
    rule_create(queue=queue, actor=actor, data={"kind": "flag", "min_severity": "medium"})
    rule_create(queue=queue, actor=actor, data={"kind": "feedback", "feedback": "thumbs_down"})
    rule_create(queue=queue, actor=actor, data={"kind": "sample", "rate": 0.02, "environments": ["production"]})
    return queue
