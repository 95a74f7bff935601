"""One whole trace, laid out as people know it from Langfuse: the trace's totals (tokens, cost,
errors, duration) on top, the span tree on the left and the selected span's detail on the right,
all above the fold. ?span=<id> selects a span (the root by default); htmx swaps both panes when
another is picked, and the URL keeps the choice."""
from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse

from dashboards.context import Page, project_page
from dashboards.views.call_detail import _related, shape, waterfall
from dashboards.views.calls import link
from dashboards.views.common import render_page
from telemetry.models import Call
from telemetry.selectors import call_detail, trace_tree


def _walk(nodes: list[dict[str, Any]]) -> Any:
    for node in nodes:
        yield node
        yield from _walk(node["children"])


def _totals(tree: dict[str, Any]) -> dict[str, Any]:
    """What the trace cost over every span (the tree holds each span, MAX_SPANS or not)."""
    spans: list[Call] = [node["call"] for node in _walk(tree["roots"])]
    priced = [s.cost_total_usd for s in spans if s.cost_total_usd is not None]
    return {"spans": len(spans), "llm_calls": sum(1 for s in spans if s.kind == "llm"),
            "tokens": sum(s.total_tokens or 0 for s in spans),
            "input_tokens": sum(s.input_tokens or 0 for s in spans),
            "output_tokens": sum(s.output_tokens or 0 for s in spans),
            "cost": sum(priced, Decimal(0)) if priced else None,
            "unpriced": sum(1 for s in spans if s.cost_source == "unknown" and s.model),
            "errors": sum(1 for s in spans if s.status == "error")}


@project_page()
def trace(request: HttpRequest, page: Page, trace_id: str) -> HttpResponse:
    tree = trace_tree(project_id=page.project.id, trace_id=trace_id)
    if tree is None:
        raise Http404("No such trace in this project.")
    pid = page.project.id
    roots = tree["roots"]
    wanted = request.GET.get("span", "")
    selected_id = wanted if wanted and any(n["call"].external_id == wanted for n in _walk(roots)) \
        else roots[0]["call"].external_id
    drawn = waterfall(tree, project_id=pid, current=selected_id)
    base = [(k, v) for k, v in (page.params.lists() if page.params is not None else []) if k != "span"]
    for node in _walk(drawn["roots"]):
        node["select_url"] = "?" + urlencode([*((k, v) for k, values in base for v in values),
                                              ("span", node["call"].external_id)])
    call = call_detail(project_id=pid, external_id=selected_id)
    payload = _related(call, "payload") if call else None
    context = {
        "tree": drawn, "totals": _totals(tree), "span": call, "payload": payload,
        "input": shape(payload.input if payload else None), "output": shape(payload.output if payload else None),
        "scores": list(call.scores.all()) if call else [], "flags": list(call.flags.all()) if call else [],
        "feedback": list(call.feedback.all()) if call else [],
        "span_url": link("call-detail", pid, selected_id),
    }
    return render_page(request, page, "dashboards/trace.html", context, active="calls",
                       title=f"Trace {tree['name'] or trace_id}", toolbar=False, charts=False)
