"""{% review_queues project_id as queues %}: the project's active queues, for "Add to queue" on
call detail (a template tag, so dashboards' views need not know about review)."""
from __future__ import annotations

from typing import Any

from django import template

from review.models import Queue

register = template.Library()


@register.simple_tag
def review_queues(project_id: int) -> list[Any]:
    return list(Queue.objects.filter(project_id=project_id, active=True).order_by("name").only("id", "name"))
