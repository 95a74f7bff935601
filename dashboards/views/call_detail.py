"""One call (payloads readable, usage, cost, quality, feedback, its trace as a waterfall); the whole
trace's page is dashboards.views.trace. Call data is only ever shaped here, never marked safe: templates escape all of it."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from dashboards.context import Page, project_page
from dashboards.views.calls import link
from dashboards.views.common import render_page
from telemetry.models import Call
from telemetry.selectors import call_detail, trace_tree

LONG_CHARS = 1200  # text past this (or LONG_LINES lines) folds into <details> after a preview
LONG_LINES = 24
MAX_SPANS = 1000  # a waterfall of more rows is unreadable and slow to send; the rest is summarized


def _text(value: str) -> dict[str, Any]:
    """Text, split into what shows and what folds away when it is long."""
    long = len(value) > LONG_CHARS or value.count("\n") > LONG_LINES
    cut = len("\n".join(value[:LONG_CHARS].split("\n")[:LONG_LINES])) if long else len(value)
    rest = value[cut + 1:] if value[cut:cut + 1] == "\n" else value[cut:]  # the fold starts a new line anyway
    return {"text": value, "long": long, "head": value[:cut], "rest": rest, "more": len(value) - cut}


def _json(value: Any) -> dict[str, Any]:
    return {**_text(json.dumps(value, indent=2, ensure_ascii=False, default=str)), "json": True}


def _content(content: Any) -> dict[str, Any]:
    """A message's content: a string, or OpenAI-style parts whose text parts are joined."""
    if isinstance(content, str):
        return _text(content)
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return _text("\n\n".join(p["text"] for p in content))
    return _json(content)


def _is_message(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("role"), str)


def shape(value: Any) -> dict[str, Any]:
    """How a payload reads best: {"kind": "none" | "chat" | "text" | "json", ...}."""
    if value is None:
        return {"kind": "none"}
    if _is_message(value):
        value = [value]
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        messages = []
        for message in value:
            extra = {k: v for k, v in message.items() if k not in ("role", "content")}
            messages.append({"role": message["role"], "body": _content(message.get("content")),
                             "extra": _json(extra) if extra else None})
        return {"kind": "chat", "messages": messages}
    if isinstance(value, str):
        return {"kind": "text", **_text(value)}
    return {"kind": "json", **_json(value)}


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def waterfall(tree: dict[str, Any], *, project_id: int, current: str = "") -> dict[str, Any]:
    """The trace tree with each span's bar placed on the trace's time axis (percentages)."""
    start: datetime = tree["start_time"]
    total = max(_ms(tree["end_time"] - start), 1.0)
    shown = 0

    def node(item: dict[str, Any], depth: int) -> dict[str, Any] | None:
        nonlocal shown
        if shown >= MAX_SPANS:
            return None
        shown += 1
        call: Call = item["call"]
        duration = call.latency_ms if call.latency_ms is not None else (
            _ms(call.end_time - call.start_time) if call.end_time else 0.0)
        offset = min(max(_ms(call.start_time - start) / total * 100, 0.0), 99.5)
        width = min(max(duration / total * 100, 0.5), 100 - offset)
        children = [n for n in (node(child, depth + 1) for child in item["children"]) if n is not None]
        # Strings, not floats: a localized "1,5" would break the inline CSS.
        return {"call": call, "depth": depth, "indent": f"{depth * 1.1:.1f}", "offset": f"{offset:.2f}",
                "start_offset_ms": _ms(call.start_time - start),
                "width": f"{width:.2f}", "duration": duration, "current": call.external_id == current,
                "url": link("call-detail", project_id, call.external_id), "children": children}

    roots = [n for n in (node(root, 0) for root in tree["roots"]) if n is not None]
    return {**tree, "roots": roots, "duration": total, "hidden": tree["span_count"] - shown}


@project_page()
def detail(request: HttpRequest, page: Page, external_id: str) -> HttpResponse:
    call = call_detail(project_id=page.project.id, external_id=external_id)
    if call is None:
        raise Http404("No such call in this project.")
    payload = _related(call, "payload")
    tree = trace_tree(project_id=page.project.id, trace_id=call.trace_id) if call.trace_id else None
    pid = page.project.id
    context = {
        "call": call, "payload": payload,
        "input": shape(payload.input if payload else None), "output": shape(payload.output if payload else None),
        "context_data": shape(payload.context if payload else None),
        "params_json": _json(call.params) if call.params else None,
        "metadata_json": _json(call.metadata) if call.metadata else None,
        "scores": list(call.scores.all()), "flags": list(call.flags.all()), "feedback": list(call.feedback.all()),
        "evaluation": _related(call, "evaluation"),
        "tree": waterfall(tree, project_id=pid, current=call.external_id) if tree else None,
        "user_url": link("user-detail", pid, call.user_id) if call.user_id else None,
        "session_url": link("session-detail", pid, call.session_id) if call.session_id else None,
        "trace_url": link("trace", pid, call.trace_id) if call.trace_id else None,
        "prices_url": f"{reverse('settings', args=[pid])}?price_model={quote(call.model, safe='')}#prices",
    }
    return render_page(request, page, "dashboards/call_detail.html", context, active="calls",
                       title=f"Call {call.name or call.model or call.external_id}", toolbar=False, charts=False)


def _related(call: Call, relation: str) -> Any:
    """A reverse one-to-one row (payload, evaluation) or None: calls may have neither."""
    try:
        return getattr(call, relation)
    except ObjectDoesNotExist:
        return None
