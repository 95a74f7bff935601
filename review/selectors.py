"""Reads of the review app: queue health (backlog, oldest pending age, done per day, throughput,
left out by the cap), an item with everything a reviewer needs, agreement, dataset pages."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from review.models import OPEN_STATUSES, Dataset, DatasetItem, DatasetVersion, Item, Queue, RoutingRule, Verdict
from review.rubric import Agreement, agreement
from telemetry.models import Call

HEALTH_DAYS = 7
AGREEMENT_ITEMS = 500  # the latest completed items with several verdicts that agreement is computed over


@dataclass
class QueueHealth:
    queue: Queue
    backlog: int = 0
    oldest_pending: datetime | None = None
    done_total: int = 0
    done_per_day: list[tuple[date, int]] = field(default_factory=list)
    reviewers: list[tuple[str, int]] = field(default_factory=list)  # verdicts per reviewer, last HEALTH_DAYS
    left_out_today: int = 0
    left_out_days: int = 0  # over HEALTH_DAYS
    escalated: int = 0

    @property
    def oldest_age(self) -> timedelta | None:
        return timezone.now() - self.oldest_pending if self.oldest_pending else None

    @property
    def done_days(self) -> int:
        return sum(n for _, n in self.done_per_day)


def queues_health(*, project_id: int, queue_id: int | None = None) -> list[QueueHealth]:
    """Health of every queue of the project (or one), in five grouped queries whatever the count."""
    queues = list(Queue.objects.filter(project_id=project_id, **({"pk": queue_id} if queue_id else {}))
                  .order_by("name"))
    if not queues:
        return []
    ids = [q.id for q in queues]
    out = {q.id: QueueHealth(queue=q) for q in queues}
    today = timezone.now().date()
    since = timezone.now() - timedelta(days=HEALTH_DAYS)
    with connection.cursor() as cur:
        # Backlog and oldest: the open-items partial index, per queue.
        cur.execute("SELECT queue_id, count(*), min(created_at) FROM review_item WHERE queue_id = ANY(%s)"
                    " AND status IN ('pending', 'in_review') GROUP BY queue_id", [ids])
        for queue_id, backlog, oldest in cur.fetchall():
            out[queue_id].backlog, out[queue_id].oldest_pending = backlog, oldest
        cur.execute("SELECT queue_id, count(*), count(*) FILTER (WHERE status = 'escalated') FROM review_item"
                    " WHERE queue_id = ANY(%s) AND done_at IS NOT NULL GROUP BY queue_id", [ids])
        for queue_id, done, escalated in cur.fetchall():
            out[queue_id].done_total, out[queue_id].escalated = done, escalated
        cur.execute("SELECT queue_id, (done_at AT TIME ZONE 'UTC')::date AS day, count(*) FROM review_item"
                    " WHERE queue_id = ANY(%s) AND done_at >= %s GROUP BY 1, 2 ORDER BY 1, 2", [ids, since])
        for queue_id, day, n in cur.fetchall():
            out[queue_id].done_per_day.append((day, n))
        cur.execute("SELECT v.queue_id, COALESCE(u.username, '(deleted)'), count(*) FROM review_verdict v"
                    " LEFT JOIN auth_user u ON u.id = v.reviewer_id WHERE v.queue_id = ANY(%s) AND v.created_at >= %s"
                    " GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2", [ids, since])
        for queue_id, reviewer, n in cur.fetchall():
            out[queue_id].reviewers.append((reviewer, n))
        cur.execute("SELECT queue_id, sum(left_out) FILTER (WHERE day = %s), sum(left_out) FROM review_queueday"
                    " WHERE queue_id = ANY(%s) AND day >= %s GROUP BY queue_id", [today, ids, since.date()])
        for queue_id, left_today, left_days in cur.fetchall():
            out[queue_id].left_out_today, out[queue_id].left_out_days = left_today or 0, left_days or 0
    return [out[q.id] for q in queues]


def reviewer_counts(*, queue: Queue, user: Any) -> dict[str, int]:
    """This reviewer's verdicts in the queue: today and all time."""
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Verdict.objects.filter(queue=queue, reviewer=user)
    return {"today": mine.filter(created_at__gte=start).count(), "total": mine.count()}


def queue_agreement(*, queue: Queue) -> list[Agreement]:
    items = list(Item.objects.filter(queue=queue, done_at__isnull=False, submissions__gte=2)
                 .order_by("-done_at")[:AGREEMENT_ITEMS].values_list("id", flat=True))
    answers: dict[int, dict[int, dict[str, Any]]] = {}
    for item_id, reviewer_id, given in Verdict.objects.filter(item_id__in=items).values_list(
            "item_id", "reviewer_id", "answers"):
        answers.setdefault(item_id, {})[reviewer_id or 0] = given
    out = []
    for question in queue.rubric:
        per_item = [{r: a[question["name"]] for r, a in by_reviewer.items() if question["name"] in a}
                    for by_reviewer in answers.values()]
        out.append(agreement(question, per_item))
    return out


def _alert_rule_text(rule_id: int | None) -> str:
    """The alert rule's name, and a warning while it does not run the action that feeds the queue."""
    from django.apps import apps

    if rule_id is None or not apps.is_installed("alerts"):
        return "(none)"
    from alerts.models import Rule

    found = Rule.objects.filter(pk=rule_id).values_list("name", "actions").first()
    if found is None:
        return f"{rule_id} (deleted)"
    name, actions = found
    idle = "" if "sample_into_queue" in actions else " (idle: add sample_into_queue to the alert rule's actions)"
    return f"'{name}'{idle}"


def rule_describe(rule: RoutingRule) -> str:
    """A rule in words, for the queue page and an item's "why it is here"."""
    if rule.kind == "flag":
        what = ", ".join(rule.flag_names) or "any flag"
        text = f"{what} at severity {rule.min_severity} or more"
    elif rule.kind == "score":
        text = f"score {rule.score_name} {rule.direction} {rule.threshold:g}"
    elif rule.kind == "feedback":
        text = {"thumbs_down": "thumbs down", "comment": "a user comment"}.get(
            rule.feedback, f"rating {rule.rating_max} or less")
    elif rule.kind == "error":
        text = "error status"
    elif rule.kind == "incident":
        take = f"{rule.sample_rate * 100:g}% of the calls" if rule.sample_rate else f"{rule.sample_count} calls"
        text = f"{take} behind each incident of alert rule {_alert_rule_text(rule.alert_rule_id)}"
    else:
        text = f"random {rule.sample_rate * 100:g}%" if rule.sample_rate else "random sample"
    filters = [f"{name} {', '.join(values)}" for name, values in (
        ("model", rule.models_filter), ("feature", rule.features), ("prompt version", rule.prompt_versions),
        ("environment", rule.environments)) if values]
    return text + (f" (only {'; '.join(filters)})" if filters else "")


def alert_rules(*, project_id: int) -> list[tuple[int, str]]:
    """(id, name) of the project's alert rules over calls, for the incident rule form."""
    from django.apps import apps

    if not apps.is_installed("alerts"):
        return []
    from alerts.models import Rule
    from review.incidents import SOURCES

    return list(Rule.objects.filter(project_id=project_id, source__in=SOURCES).order_by("name")
                .values_list("id", "name"))


def item_reasons(item: Item) -> list[str]:
    """Why an item is here, in words: each rule that routed it and what it saw."""
    if "manual" in item.reason:
        return [f"added by hand by {item.reason['manual']}"]
    rules = {r.id: r for r in RoutingRule.objects.filter(queue_id=item.queue_id)}
    out = []
    for why in item.reason.get("rules", []):
        rule = rules.get(why.get("rule"))
        head = rule_describe(rule) if rule else f"{why.get('kind', 'a')} rule (since deleted)"
        if why.get("kind") == "flag":
            seen = ", ".join(f"{f['name']} ({f['severity']})" for f in why.get("flags", []))
        elif why.get("kind") == "score":
            seen = ", ".join(f"{k} = {v:.3g}" for k, v in why.get("scores", {}).items() if isinstance(v, (int, float)))
        elif why.get("kind") == "error":
            seen = why.get("error_type") or "error"
        elif why.get("kind") == "incident":
            group = ", ".join(f"{k}={v}" for k, v in (why.get("group") or {}).items()) or "all"
            seen = f"incident {why.get('incident')} of '{why.get('alert', '')}' ({group})"
        else:
            seen = ""
        out.append(f"{head}: {seen}" if seen else head)
    return out


def item_for_reviewer(*, queue: Queue, item_id: int) -> Item | None:
    return (Item.objects.filter(queue=queue, pk=item_id).select_related("call", "call__payload", "locked_by")
            .first())


def items_page(*, queue: Queue, status: str | None, after: int | None, limit: int) -> list[Item]:
    """A queue's items, newest first (id keyset)."""
    rows = Item.objects.filter(queue=queue).select_related("call").order_by("-id")
    if status == "open":
        rows = rows.filter(status__in=OPEN_STATUSES)
    elif status:
        rows = rows.filter(status=status)
    if after is not None:
        rows = rows.filter(pk__lt=after)
    return list(rows[:limit])


def progress(*, queue: Queue) -> dict[str, int]:
    done = Item.objects.filter(queue=queue, done_at__isnull=False).count()
    remaining = Item.objects.filter(queue=queue).filter(Q(status__in=OPEN_STATUSES)).count()
    total = done + remaining
    return {"done": done, "remaining": remaining, "percent": round(done * 100 / total) if total else 0}


def call_by_external_id(*, project_id: int, external_id: str) -> Call | None:
    return Call.objects.filter(project_id=project_id, external_id=external_id).first() if external_id else None


def dataset_by_name(*, project_id: int, name: str) -> Dataset | None:
    return Dataset.objects.filter(project_id=project_id, name=name).first()


def dataset_version(*, dataset: Dataset, version: int) -> DatasetVersion | None:
    return dataset.versions.filter(version=version).first()


def dataset_items(*, version: DatasetVersion, after: int, limit: int) -> list[DatasetItem]:
    """A page of a version's items in position order (the (version, position) unique index)."""
    return list(version.items.filter(position__gt=after).order_by("position")[:limit])
