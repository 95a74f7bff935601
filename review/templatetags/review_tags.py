"""{% review_call_actions page call payload as actions %}: what call detail offers about review
(add to a queue for reviewers, add to a dataset for admins and owners), as a template tag, so
dashboards' views need not know about review; templates/review/_call_detail_actions.html draws it."""
from __future__ import annotations

import json
from typing import Any

from django import template

from review.access import can_manage, can_review
from review.models import Dataset, Queue

register = template.Library()


def output_text(output: Any) -> str:
    """A call's output as the text a person edits: itself when text, else indented JSON."""
    if output is None:
        return ""
    return output if isinstance(output, str) else json.dumps(output, indent=2, ensure_ascii=False, default=str)


@register.simple_tag
def review_call_actions(page: Any, call: Any, payload: Any) -> dict[str, Any]:
    role = getattr(page, "role", None)
    out: dict[str, Any] = {"queues": [], "datasets": None, "expected": ""}
    if can_review(role):
        out["queues"] = list(Queue.objects.filter(project_id=call.project_id, active=True).order_by("name")
                             .only("id", "name"))
    if can_manage(role):
        out["datasets"] = list(Dataset.objects.filter(project_id=call.project_id).order_by("name")
                               .values_list("name", flat=True))
        out["expected"] = output_text(payload.output if payload else None)
    return out
