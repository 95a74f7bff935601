"""Writes of the review app: queues, rules, backfills, manual adds (reviewing and datasets are in
review.reviewing and review.datasets). Keyword-only, validated here; APIs and views stay thin."""
from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from quality.evaluators.base import SEVERITIES
from quality.registry import evaluator_for_flag
from review.errors import Invalid
from review.models import Assignment, Backfill, FeedbackKind, Queue, RoutingRule, RuleKind
from review.rubric import RubricError, rubric_validate
from tenancy.models import Membership, Project

MAX_BACKFILL_DAYS = 90
QUEUE_FIELDS = ("name", "instructions", "rubric", "reviewers_per_item", "assignment", "daily_cap", "lock_minutes",
                "active")


def _audit(*, actor: Any, action: str, project: Project, target: Any, before: dict[str, Any] | None,
           after: dict[str, Any] | None) -> None:
    """The audit trail, where the audit app is installed (it is being built beside this one)."""
    if not apps.is_installed("audit"):
        return
    try:
        from audit.services import audit_record
    except ImportError:  # pragma: no cover - an installation without it
        return
    audit_record(actor=actor, action=action, organization=project.organization_id, project=project,
                 target_type=type(target).__name__.lower(), target_id=target.pk, target_label=str(target)[:255],
                 before=before, after=after)


def _snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}


def _queue_values(project: Project, data: dict[str, Any], current: Queue | None) -> dict[str, Any]:
    values = {f: getattr(current, f) for f in QUEUE_FIELDS} if current else {
        "instructions": "", "reviewers_per_item": 1, "assignment": Assignment.POOL, "daily_cap": None,
        "lock_minutes": 10, "active": True}
    values.update({k: v for k, v in data.items() if k in QUEUE_FIELDS})
    name = values.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise Invalid("name", "a name of 1-100 characters")
    values["name"] = name.strip()
    if not isinstance(values["instructions"], str) or len(values["instructions"]) > 20_000:
        raise Invalid("instructions", "markdown text of at most 20,000 characters")
    try:
        values["rubric"] = rubric_validate(values.get("rubric"))
    except RubricError as exc:
        raise Invalid(exc.field, str(exc)) from None
    per = values["reviewers_per_item"]
    if not isinstance(per, int) or isinstance(per, bool) or not 1 <= per <= 5:
        raise Invalid("reviewers_per_item", "a whole number from 1 to 5")
    if values["assignment"] not in Assignment.values:
        raise Invalid("assignment", f"one of {', '.join(Assignment.values)}")
    cap = values["daily_cap"]
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= 1_000_000):
        raise Invalid("daily_cap", "empty (no cap) or a whole number from 1 to 1,000,000")
    lock = values["lock_minutes"]
    if not isinstance(lock, int) or isinstance(lock, bool) or not 1 <= lock <= 24 * 60:
        raise Invalid("lock_minutes", "a whole number of minutes from 1 to 1440")
    if not isinstance(values["active"], bool):
        raise Invalid("active", "true or false")
    return values


def _members(project: Project, member_ids: Any, assignment: str, per: int) -> list[int] | None:
    if member_ids is None:
        return None
    if not isinstance(member_ids, list) or len(member_ids) > 500 or not all(
            isinstance(m, int) and not isinstance(m, bool) and 0 < m < 2**63 for m in member_ids):
        raise Invalid("members", "a list of user ids")
    allowed = set(Membership.objects.filter(organization_id=project.organization_id, user_id__in=member_ids)
                  .exclude(role="viewer").values_list("user_id", flat=True))
    if missing := [m for m in member_ids if m not in allowed]:
        raise Invalid("members", f"user {missing[0]} is not a reviewing member (member, admin or owner) of the "
                                 "organization")
    if assignment == Assignment.ROUND_ROBIN and len(set(member_ids)) < per:
        raise Invalid("members", f"round-robin needs at least {per} chosen members (the reviewers per item)")
    return sorted(set(member_ids))


def queue_create(*, project: Project, actor: Any, data: dict[str, Any]) -> Queue:
    values = _queue_values(project, data, None)
    members = _members(project, data.get("members", []), values["assignment"], values["reviewers_per_item"])
    base = slugify(values["name"])[:50] or "queue"
    with transaction.atomic():
        slug, n = base, 1
        while Queue.objects.filter(project=project, slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        queue = Queue.objects.create(project=project, slug=slug, created_by=actor if actor and actor.pk else None,
                                     **values)
        if members:
            queue.members.set(members)
        _audit(actor=actor, action="review.queue.create", project=project, target=queue, before=None,
               after=_snapshot(queue, QUEUE_FIELDS))
    return queue


def queue_update(*, queue: Queue, actor: Any, data: dict[str, Any]) -> Queue:
    values = _queue_values(queue.project, data, queue)
    current = sorted(queue.members.values_list("id", flat=True))
    members = _members(queue.project, data.get("members", current), values["assignment"],
                       values["reviewers_per_item"])
    with transaction.atomic():
        before = _snapshot(queue, QUEUE_FIELDS)
        for name, value in values.items():
            setattr(queue, name, value)
        queue.save()
        if members is not None:
            queue.members.set(members)
        _audit(actor=actor, action="review.queue.update", project=queue.project, target=queue, before=before,
               after=_snapshot(queue, QUEUE_FIELDS))
    return queue


def queue_delete(*, queue: Queue, actor: Any) -> None:
    with transaction.atomic():
        _audit(actor=actor, action="review.queue.delete", project=queue.project, target=queue,
               before=_snapshot(queue, QUEUE_FIELDS), after=None)
        queue.delete()


# --- rules --------------------------------------------------------------------------------------

RULE_FIELDS = ("kind", "enabled", "flag_names", "min_severity", "score_name", "direction", "threshold", "feedback",
               "rating_max", "sample_rate", "alert_rule_id", "sample_count", "models_filter", "features",
               "prompt_versions", "environments")
MAX_INCIDENT_COUNT = 1000
_FILTERS = {"models": "models_filter", "features": "features", "prompt_versions": "prompt_versions",
            "environments": "environments"}


def _texts(field: str, value: Any, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v and len(v) <= limit for v in value):
        raise Invalid(field, f"a list of names (each 1-{limit} characters)")
    if len(value) > 50:
        raise Invalid(field, "at most 50 names")
    return sorted(set(value))


def _known_flag(project_id: int, name: str) -> bool:
    """A flag the project can raise: a built-in one (pii.<type> of the detectors, the leakage pair,
    the fixed names), rule.<name> of its custom rules, judge.<name> of its judges, or any flag
    already raised in the project (a plugin's)."""
    from quality.evaluators.pii import PII_TYPES
    from quality.models import Flag, Judge, QualitySettings

    if name.startswith("pii."):
        known = name[4:] in PII_TYPES
    elif name.startswith("leakage."):
        known = name in ("leakage.system_prompt", "leakage.secret")
    elif name.startswith("rule."):
        settings_row = QualitySettings.objects.filter(project_id=project_id).first()
        known = any(isinstance(r, dict) and r.get("name") == name[5:] for r in (settings_row.rules if settings_row
                                                                                 else []))
    elif name.startswith("judge."):
        known = Judge.objects.filter(project_id=project_id, name=name[6:]).exists()
    else:
        known = bool(evaluator_for_flag(name))
    return known or Flag.objects.filter(project_id=project_id, name=name).exists()


def rule_values(*, project: Project, data: dict[str, Any]) -> dict[str, Any]:
    """A rule's columns from API/form input ({"kind", "flags", "min_severity", "score", "direction",
    "threshold", "feedback", "rating_max", "rate", "alert_rule", "count", "models", "features",
    "prompt_versions", "environments", "enabled"}); Invalid names the field."""
    known = {"kind", "flags", "min_severity", "score", "direction", "threshold", "feedback", "rating_max", "rate",
             "alert_rule", "count", "enabled", *_FILTERS}
    if unknown := sorted(set(data) - known):
        raise Invalid(unknown[0], f"unknown field; use {', '.join(sorted(known))}")
    kind = data.get("kind")
    if kind not in RuleKind.values:
        raise Invalid("kind", f"one of {', '.join(RuleKind.values)}")
    values: dict[str, Any] = {"kind": kind, "enabled": data.get("enabled", True)}
    if not isinstance(values["enabled"], bool):
        raise Invalid("enabled", "true or false")
    for name, column in _FILTERS.items():
        values[column] = _texts(name, data.get(name), 200)
    if kind == RuleKind.FLAG:
        flags = _texts("flags", data.get("flags"), 120)
        if unknown_flags := [f for f in flags if not _known_flag(project.id, f)]:
            raise Invalid("flags", f"unknown flag '{unknown_flags[0]}': built-in flags (pii.email, toxicity, "
                                   "output.truncated, ...), rule.<name>, judge.<name>, or one raised in this project")
        severity = data.get("min_severity", "low")
        if severity not in SEVERITIES:
            raise Invalid("min_severity", f"one of {', '.join(SEVERITIES)}")
        values.update(flag_names=flags, min_severity=severity)
    elif kind == RuleKind.SCORE:
        score, direction, threshold = data.get("score"), data.get("direction"), data.get("threshold")
        if not isinstance(score, str) or not score or len(score) > 100:
            raise Invalid("score", "the score's name (an evaluator's, a judge's judge.<name>, or your own)")
        if direction not in ("above", "below"):
            raise Invalid("direction", "above or below")
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
            raise Invalid("threshold", "a number")
        values.update(score_name=score, direction=direction, threshold=float(threshold))
    elif kind == RuleKind.FEEDBACK:
        feedback = data.get("feedback")
        if feedback not in FeedbackKind.values:
            raise Invalid("feedback", f"one of {', '.join(FeedbackKind.values)}")
        values["feedback"] = feedback
        if feedback == FeedbackKind.RATING:
            rating = data.get("rating_max")
            if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
                raise Invalid("rating_max", "a rating from 1 to 5: ratings at most this route the call")
            values["rating_max"] = rating
    elif kind == RuleKind.SAMPLE:
        rate = data.get("rate")
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1:
            raise Invalid("rate", "a share above 0 and at most 1 (0.02 = 2% of the matching calls)")
        values["sample_rate"] = float(rate)
    elif kind == RuleKind.INCIDENT:
        values.update(_incident_values(project, data))
    return values


def _incident_values(project: Project, data: dict[str, Any]) -> dict[str, Any]:
    """An incident rule: the alert rule (of this project, over calls) and N calls or a share."""
    from review.incidents import COLUMNS, SOURCES

    alert_rule, rate, count = data.get("alert_rule"), data.get("rate"), data.get("count")
    if not apps.is_installed("alerts"):
        raise Invalid("kind", "incident rules need the alerts app")
    from alerts.models import Rule

    found = (Rule.objects.filter(project=project, pk=alert_rule).first()
             if isinstance(alert_rule, int) and not isinstance(alert_rule, bool) and 0 < alert_rule < 2**63 else None)
    if found is None:
        raise Invalid("alert_rule", "the id of an alert rule of this project")
    if found.source not in SOURCES or set(found.group_by) - set(COLUMNS) or set(found.filters or {}) - set(COLUMNS):
        raise Invalid("alert_rule", f"alert rule '{found.name}' watches {found.source} figures, not calls: "
                                    f"choose a rule over the {' or '.join(SOURCES)} source")
    if (rate is None) == (count is None):
        raise Invalid("count", "give either count (calls per incident) or rate (a share of its calls)")
    if rate is not None:
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1:
            raise Invalid("rate", "a share above 0 and at most 1 (0.1 = 10% of the incident's calls)")
        return {"alert_rule_id": found.id, "sample_rate": float(rate)}
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_INCIDENT_COUNT:
        raise Invalid("count", f"a whole number of calls from 1 to {MAX_INCIDENT_COUNT}")
    return {"alert_rule_id": found.id, "sample_count": count}


def rule_create(*, queue: Queue, actor: Any, data: dict[str, Any]) -> RoutingRule:
    values = rule_values(project=queue.project, data=data)
    with transaction.atomic():
        rule = RoutingRule.objects.create(queue=queue, **values)
        _audit(actor=actor, action="review.rule.create", project=queue.project, target=rule, before=None,
               after=_snapshot(rule, RULE_FIELDS))
    return rule


def rule_update(*, rule: RoutingRule, actor: Any, data: dict[str, Any]) -> RoutingRule:
    values = rule_values(project=rule.queue.project, data=data)
    with transaction.atomic():
        before = _snapshot(rule, RULE_FIELDS)
        for column in RULE_FIELDS:  # a rule's fields are replaced whole: a kind change clears the others
            setattr(rule, column, values.get(column, RoutingRule._meta.get_field(column).get_default()))
        rule.save()
        _audit(actor=actor, action="review.rule.update", project=rule.queue.project, target=rule, before=before,
               after=_snapshot(rule, RULE_FIELDS))
    return rule


def rule_delete(*, rule: RoutingRule, actor: Any) -> None:
    with transaction.atomic():
        _audit(actor=actor, action="review.rule.delete", project=rule.queue.project, target=rule,
               before=_snapshot(rule, RULE_FIELDS), after=None)
        rule.delete()


def backfill_start(*, rule: RoutingRule, days: Any, actor: Any) -> Backfill:
    """Apply `rule` to the calls of the last `days` days, in batches by a task (the daily cap applies);
    an incident rule to the incidents its alert rule opened in those days."""
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_BACKFILL_DAYS:
        raise Invalid("days", f"a whole number of days from 1 to {MAX_BACKFILL_DAYS}")
    now = timezone.now()
    with transaction.atomic():
        backfill = Backfill.objects.create(rule=rule, start=now - timedelta(days=days), end=now + timedelta(minutes=1))
        _audit(actor=actor, action="review.rule.backfill", project=rule.queue.project, target=rule, before=None,
               after={"days": days})

        def enqueue() -> None:
            from review.tasks import backfill_run

            try:
                backfill_run.delay(backfill.id)
            except Exception:  # noqa: BLE001 - beat's review.tasks.sweep picks unfinished backfills up
                pass

        transaction.on_commit(enqueue)
    return backfill


_MANUAL_SQL = """
INSERT INTO review_item (queue_id, call_id, reason, status, submissions, created_at)
SELECT %(queue)s, c.id, %(reason)s::jsonb, 'pending', 0, %(now)s
FROM telemetry_call c WHERE c.project_id = %(project)s AND c.external_id = ANY(%(ids)s)
ORDER BY c.id
ON CONFLICT (queue_id, call_id) DO NOTHING
"""


def items_add(*, queue: Queue, call_ids: Any, actor: Any) -> int:
    """Add calls (the client's ids) by hand; the daily cap does not apply. Returns the items added."""
    import json

    if not isinstance(call_ids, list) or not call_ids or len(call_ids) > 1000 \
            or not all(isinstance(c, str) and c for c in call_ids):
        raise Invalid("call_ids", "a list of 1-1000 call ids (the ids your app sent)")
    reason = {"manual": getattr(actor, "username", "") or "api"}
    with transaction.atomic(), connection.cursor() as cur:
        try:
            cur.execute(_MANUAL_SQL, {"queue": queue.id, "reason": json.dumps(reason), "now": timezone.now(),
                                      "project": queue.project_id, "ids": call_ids})
        except IntegrityError:  # pragma: no cover - the queue went away meanwhile
            raise Invalid("queue", "the queue no longer exists") from None
        return cur.rowcount
