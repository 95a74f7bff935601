"""Review pages: the queues with their health, a queue (rules, agreement, export), the queue form,
and the focused one-item-at-a-time review page. LLM text is shaped by dashboards' call detail code
and escaped by the templates; nothing from a call is ever marked safe."""
from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from dashboards.context import Page, project_page
from dashboards.views.call_detail import shape
from dashboards.views.calls import link
from dashboards.views.common import render_page
from review import datasets, reviewing, selectors, services
from review.access import can_manage, can_review
from review.errors import ReviewError
from review.models import Assignment, Dataset, Item, Queue, RuleKind
from review.rubric import options
from review.text import instructions_html
from tenancy.models import Membership

_PROTECTED = ("in_review", "pending")


def _refuse_nul(request: HttpRequest) -> None:
    """PostgreSQL refuses NUL characters in text: a 400 here rather than a 500 at the write."""
    if request.method == "POST" and any("\x00" in v for values in request.POST.lists() for v in values[1]):
        raise BadRequest("NUL characters are not accepted.")


def _queue(page: Page, queue_id: int) -> Queue:
    queue = Queue.objects.filter(project=page.project, pk=queue_id).first()
    if queue is None:
        raise Http404("No such queue in this project.")
    return queue


def _render(request: HttpRequest, page: Page, template: str, context: dict[str, Any], title: str,
            status: int = 200) -> HttpResponse:
    return render_page(request, page, template, {"can_manage": can_manage(page.role),
                                                 "can_review": can_review(page.role), **context},
                       active="review", title=title, toolbar=False, charts=False, status=status)


@project_page()
def queues(request: HttpRequest, page: Page) -> HttpResponse:
    health = selectors.queues_health(project_id=page.project.id)
    sets = Dataset.objects.filter(project=page.project).prefetch_related("versions").order_by("name")
    return _render(request, page, "review/queues.html", {"health": health, "datasets": sets}, "Review")


@project_page()
def queue_page(request: HttpRequest, page: Page, queue_id: int) -> HttpResponse:
    queue = _queue(page, queue_id)
    health = selectors.queues_health(project_id=page.project.id, queue_id=queue.id)[0]
    rules = [{"rule": r, "text": selectors.rule_describe(r)} for r in queue.rules.order_by("id")]
    recent = selectors.items_page(queue=queue, status=None, after=None, limit=20)
    context = {
        "queue": queue, "health": health, "rules": rules, "recent": recent,
        "agreement": selectors.queue_agreement(queue=queue) if queue.reviewers_per_item > 1 else [],
        "instructions": mark_safe(instructions_html(queue.instructions)),  # markdown-it (no HTML) + nh3
        "progress": selectors.progress(queue=queue), "kinds": RuleKind.choices,
        "alert_rules": selectors.alert_rules(project_id=page.project.id),
        "datasets": Dataset.objects.filter(project=page.project, queue=queue).prefetch_related("versions"),
        "score_names": [reviewing.score_name(queue, q["name"]) for q in queue.rubric if q["kind"] != "text"],
    }
    return _render(request, page, "review/queue.html", context, queue.name)


def _form_data(request: HttpRequest) -> tuple[dict[str, Any], dict[str, str]]:
    post = request.POST
    data: dict[str, Any] = {"name": post.get("name", ""), "instructions": post.get("instructions", ""),
                            "assignment": post.get("assignment", Assignment.POOL), "active": "active" in post}
    errors: dict[str, str] = {}
    try:
        data["rubric"] = json.loads(post.get("rubric") or "null")
    except json.JSONDecodeError as exc:
        errors["rubric"] = f"not valid JSON: {exc}"
    for name in ("reviewers_per_item", "lock_minutes", "daily_cap"):
        raw = post.get(name, "").strip()
        if not raw and name == "daily_cap":
            data[name] = None
            continue
        try:
            data[name] = int(raw)
        except ValueError:
            errors[name] = "a whole number"
    try:
        data["members"] = [int(m) for m in post.getlist("members")]
    except ValueError:
        errors["members"] = "user ids"
    return data, errors


@project_page(manage=True)
def queue_edit(request: HttpRequest, page: Page, queue_id: int | None = None) -> HttpResponse:
    _refuse_nul(request)
    queue = _queue(page, queue_id) if queue_id else None
    people = (Membership.objects.filter(organization_id=page.project.organization_id).exclude(role="viewer")
              .select_related("user").order_by("user__username"))
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "name": queue.name if queue else "", "instructions": queue.instructions if queue else "",
        "rubric": json.dumps(queue.rubric if queue else _EXAMPLE_RUBRIC, indent=2),
        "reviewers_per_item": queue.reviewers_per_item if queue else 1,
        "assignment": queue.assignment if queue else Assignment.POOL,
        "daily_cap": queue.daily_cap if queue and queue.daily_cap else "",
        "lock_minutes": queue.lock_minutes if queue else 10, "active": queue.active if queue else True,
        "members": set(queue.members.values_list("id", flat=True)) if queue else set()}
    if request.method == "POST":
        data, errors = _form_data(request)
        values.update({k: request.POST.get(k, "") for k in ("name", "instructions", "rubric", "reviewers_per_item",
                                                            "assignment", "daily_cap", "lock_minutes")},
                      active=data["active"], members=set(data.get("members", [])))
        if not errors:
            try:
                if queue:
                    services.queue_update(queue=queue, actor=request.user, data=data)
                else:
                    queue = services.queue_create(project=page.project, actor=request.user, data=data)
                return redirect("review-queue", page.project.id, queue.id)
            except ReviewError as exc:
                errors[exc.field] = exc.message
    return _render(request, page, "review/queue_form.html", {
        "queue": queue, "values": values, "errors": errors, "people": people, "assignments": Assignment.choices,
        # The rubric editor (review/static/review/rubric.js) shows this one on the question's input.
        "rubric_error": next(((f, m) for f, m in errors.items() if f.startswith("rubric")), None),
    }, f"Edit {queue.name}" if queue else "New queue", status=400 if errors else 200)


_EXAMPLE_RUBRIC = [
    {"name": "correct", "label": "Is the answer correct?", "kind": "categorical",
     "labels": ["correct", "partially correct", "wrong"], "approve": ["correct"]},
    {"name": "helpfulness", "label": "Helpfulness", "kind": "numeric", "min": 1, "max": 5},
    {"name": "hallucination", "label": "Hallucination?", "kind": "boolean"},
]


def _names(raw: str) -> list[str]:
    return [n.strip() for n in raw.split(",") if n.strip()]


def _number(raw: str) -> Any:
    try:
        return float(raw) if "." in raw or "e" in raw.lower() else int(raw)
    except ValueError:
        return raw or None


@require_POST
@project_page(manage=True)
def rule_add(request: HttpRequest, page: Page, queue_id: int) -> HttpResponse:
    _refuse_nul(request)
    queue = _queue(page, queue_id)
    post = request.POST
    data: dict[str, Any] = {"kind": post.get("kind", "")}
    for name in ("models", "features", "prompt_versions", "environments", "flags"):
        if post.get(name, "").strip():
            data[name] = _names(post[name])
    for name in ("min_severity", "score", "direction", "feedback"):
        if post.get(name):
            data[name] = post[name]
    for name in ("threshold", "rating_max", "alert_rule", "count"):
        if post.get(name, "").strip():
            data[name] = _number(post[name].strip())
    if post.get("rate_percent", "").strip():
        value = _number(post["rate_percent"].strip())
        data["rate"] = value / 100 if isinstance(value, (int, float)) else value
    try:
        services.rule_create(queue=queue, actor=request.user, data=data)
        messages.success(request, "Rule added. New calls are routed from now on; backfill to apply it to past calls.")
    except ReviewError as exc:
        messages.error(request, f"Rule not added: {exc.field}: {exc.message}")
    return redirect("review-queue", page.project.id, queue.id)


@require_POST
@project_page(manage=True)
def rule_change(request: HttpRequest, page: Page, queue_id: int, rule_id: int) -> HttpResponse:
    _refuse_nul(request)
    queue = _queue(page, queue_id)
    rule = queue.rules.filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule.")
    action = request.POST.get("action")
    try:
        if action == "delete":
            services.rule_delete(rule=rule, actor=request.user)
            messages.success(request, "Rule deleted.")
        elif action == "backfill":
            days = _number(request.POST.get("days", "").strip())
            services.backfill_start(rule=rule, days=days, actor=request.user)
            messages.success(request, f"Backfill of the last {days} days started.")
    except ReviewError as exc:
        messages.error(request, f"{exc.field}: {exc.message}")
    return redirect("review-queue", page.project.id, queue.id)


@project_page()
def next_item(request: HttpRequest, page: Page, queue_id: int) -> HttpResponse:
    queue = _queue(page, queue_id)
    if not can_review(page.role):
        raise PermissionDenied("Viewers read queues; members, admins and owners review.")
    item = reviewing.item_claim_next(queue=queue, user=request.user)
    if item is None:
        return _render(request, page, "review/item.html", {"queue": queue, "item": None,
                                                           "progress": selectors.progress(queue=queue),
                                                           "mine": selectors.reviewer_counts(queue=queue,
                                                                                             user=request.user)},
                       f"{queue.name}: nothing left")
    return redirect("review-item", page.project.id, queue.id, item.id)


def _answers(queue: Queue, post: Any) -> dict[str, Any]:
    """Form fields q-<name> to typed answers (validation is the rubric's: review.rubric.answers_validate)."""
    out: dict[str, Any] = {}
    for question in queue.rubric:
        raw = post.get(f"q-{question['name']}", "")
        if raw == "":
            continue
        kind = question["kind"]
        if kind == "boolean":
            out[question["name"]] = {"true": True, "false": False}.get(raw, raw)
        elif kind == "numeric":
            out[question["name"]] = _number(raw)
        else:
            out[question["name"]] = raw
    return out


@project_page()
def item_page(request: HttpRequest, page: Page, queue_id: int, item_id: int) -> HttpResponse:
    _refuse_nul(request)
    queue = _queue(page, queue_id)
    item = selectors.item_for_reviewer(queue=queue, item_id=item_id)
    if item is None:
        raise Http404("No such item in this queue.")
    error: ReviewError | None = None
    if request.method == "POST":
        if not can_review(page.role):
            raise PermissionDenied("Viewers read queues; members, admins and owners review.")
        action = request.POST.get("action", "submit")
        if action == "resolve":
            if not can_manage(page.role):
                raise PermissionDenied("Owners and admins give the final verdict on disputed items.")
            try:
                reviewing.item_resolve(item_id=item.id, queue=queue, user=request.user,
                                       answers=_answers(queue, request.POST),
                                       corrected_output=request.POST.get("corrected_output", ""),
                                       comment=request.POST.get("comment", ""))
                messages.success(request, "Final verdict recorded.")
                return redirect("review-queue", page.project.id, queue.id)
            except ReviewError as exc:
                return _item_render(request, page, queue, item, exc)
        if action == "skip":
            reviewing.item_skip(item=item, user=request.user)
            return redirect("review-next", page.project.id, queue.id)
        try:
            reviewing.verdict_submit(item_id=item.id, queue=queue, user=request.user,
                                     answers=_answers(queue, request.POST),
                                     corrected_output=request.POST.get("corrected_output", ""),
                                     comment=request.POST.get("comment", ""))
            return redirect("review-next", page.project.id, queue.id)
        except ReviewError as exc:
            error = exc
    return _item_render(request, page, queue, item, error)


def _field_value(value: Any) -> str:
    """An option's form value: true/false for booleans (what _answers reads back), else the text."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _item_render(request: HttpRequest, page: Page, queue: Queue, item: Item, error: ReviewError | None) -> HttpResponse:
    call = item.call
    payload = getattr(call, "payload", None)
    posted = request.POST if error else {}
    questions = [{**q, "options": [{"label": label, "value": _field_value(value)} for label, value in options(q)],
                  "value": posted.get(f"q-{q['name']}", "")} for q in queue.rubric]
    pid = page.project.id
    context = {
        "queue": queue, "item": item, "call": call, "questions": questions, "error": error,
        "input": shape(payload.input if payload else None), "output": shape(payload.output if payload else None),
        "context_data": shape(payload.context if payload else None),
        "reasons": selectors.item_reasons(item), "feedback": list(call.feedback.all()),
        "verdicts": list(item.verdicts.select_related("reviewer")), "progress": selectors.progress(queue=queue),
        "mine": selectors.reviewer_counts(queue=queue, user=request.user),
        "instructions": mark_safe(instructions_html(queue.instructions)),  # markdown-it (no HTML) + nh3
        "call_url": link("call-detail", pid, call.external_id),
        "trace_url": link("trace", pid, call.trace_id) if call.trace_id else None,
        "held_by_other": item.locked_by_id not in (None, request.user.pk) and item.status in _PROTECTED,
        "corrected": posted.get("corrected_output", ""), "comment": posted.get("comment", ""),
        "form_mode": ("review" if item.status in _PROTECTED and can_review(page.role) else
                      "resolve" if item.status == "escalated" and can_manage(page.role) else None),
    }
    return _render(request, page, "review/item.html", context, f"Review: {queue.name}",
                   status=error.status if error else 200)


@require_POST
@project_page(manage=True)
def export(request: HttpRequest, page: Page, queue_id: int) -> HttpResponse:
    _refuse_nul(request)
    queue = _queue(page, queue_id)
    name = request.POST.get("name", "").strip()
    try:
        dataset = Dataset.objects.filter(project=page.project, name=name).first() or datasets.dataset_create(
            project=page.project, actor=request.user, name=name, queue=queue)
        version = datasets.dataset_export(dataset=dataset, actor=request.user, queue=queue)
        messages.success(request, f"Dataset {dataset.name} version {version.version}: {version.item_count} items.")
    except ReviewError as exc:
        messages.error(request, f"Not exported: {exc.field}: {exc.message}")
    return redirect("review-queue", page.project.id, queue.id)


@project_page()
def dataset_download(request: HttpRequest, page: Page, name: str, version: int, fmt: str) -> StreamingHttpResponse:
    dataset = selectors.dataset_by_name(project_id=page.project.id, name=name)
    found = selectors.dataset_version(dataset=dataset, version=version) if dataset else None
    if found is None or fmt not in ("jsonl", "csv"):
        raise Http404("No such dataset version.")
    from review.apis import download

    return download(found, name, fmt)


@require_POST
@project_page()
def add_call(request: HttpRequest, page: Page) -> HttpResponse:
    """"Add to queue" on call detail."""
    _refuse_nul(request)
    if not can_review(page.role):
        raise PermissionDenied("Viewers read queues; members, admins and owners add calls to them.")
    call_id = request.POST.get("call_id", "")
    queue_id = request.POST.get("queue", "")
    queue = Queue.objects.filter(project=page.project, pk=int(queue_id) if queue_id.isdigit() else 0).first()
    if queue is None:
        messages.error(request, "Choose a queue.")
    else:
        try:
            added = services.items_add(queue=queue, call_ids=[call_id], actor=request.user)
            messages.success(request, f"Added to {queue.name}." if added else f"Already in {queue.name}.")
        except ReviewError as exc:
            messages.error(request, f"{exc.field}: {exc.message}")
    back = link("call-detail", page.project.id, call_id)
    return redirect(back) if back else redirect("review-queues", page.project.id)


def _labels(raw: str) -> dict[str, str]:
    """"topic=billing, verdict=correct" to {"topic": "billing", ...}; Invalid names `labels`."""
    from review.errors import Invalid

    labels: dict[str, str] = {}
    for part in raw.replace("\n", ",").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise Invalid("labels", f"'{part.strip()[:40]}' is not name=value")
        labels[name.strip()] = value.strip()
    return labels


@require_POST
@project_page(manage=True)
def add_to_dataset(request: HttpRequest, page: Page) -> HttpResponse:
    """"Add to a dataset" on call detail (owners and admins): the dataset's next version holds the call."""
    _refuse_nul(request)
    call_id = request.POST.get("call_id", "")
    back = link("call-detail", page.project.id, call_id)
    call = selectors.call_by_external_id(project_id=page.project.id, external_id=call_id)
    if call is None:
        raise Http404("No such call in this project.")
    name = request.POST.get("dataset", "").strip()
    try:
        labels = _labels(request.POST.get("labels", ""))
        dataset = selectors.dataset_by_name(project_id=page.project.id, name=name) or datasets.dataset_create(
            project=page.project, actor=request.user, name=name)
        version = datasets.dataset_item_add(dataset=dataset, call=call, actor=request.user, labels=labels,
                                            expected_output=datasets.expected_from_form(
                                                call, request.POST.get("expected_output", "")))
        messages.success(request, f"Added to {dataset.name}: version {version.version}, {version.item_count} "
                                  f"item{'s' if version.item_count != 1 else ''}.")
    except ReviewError as exc:
        field = "dataset" if exc.field == "name" else exc.field  # the form's name for it
        messages.error(request, f"Not added to the dataset: {field}: {exc.message}")
    return redirect(back) if back else redirect("review-queues", page.project.id)
