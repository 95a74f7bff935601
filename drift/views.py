"""The drift page ("what changed most", from the newest stored run: instant, whatever the data), a
finding's drill-down (both distributions overlaid from the sketches, the statistic over past runs)
and "Run now" for owners and admins. Everything shown of a group is escaped by the templates."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboards.context import FILTER_DIMENSIONS, Page, project_page
from dashboards.templatetags.obs import duration
from dashboards.views.common import LABELS, render_page
from drift import charts, selectors, services
from drift.forms import DriftSettingsForm
from drift.models import Baseline, DriftSettings, Finding, Verdict
from drift.stats import key_values

METHODS = {
    "wasserstein": "Wasserstein distance over the baseline's spread (W1/σ), with a Kolmogorov–Smirnov interval",
    "two_proportion_z": "Change in rate (Cohen's h), checked with a two-proportion z-test",
    "jensen_shannon": "Jensen–Shannon distance between the shares, with PSI",
    "domain_classifier": "How well a TF-IDF classifier tells baseline inputs from current ones (ROC AUC, "
                         "cross-validated); topics by k-means",
}
STATISTIC_NAMES = {"wasserstein": "W1/σ", "two_proportion_z": "h", "jensen_shannon": "JS", "domain_classifier": "AUC"}
VERDICTS = {"drift": "drift", "no_drift": "no drift", "not_enough_data": "not enough data"}
SHOWN = 50  # findings listed per verdict section


def signal_label(signal: str) -> str:
    kind, _, name = signal.partition(":")
    if kind == "score":
        return f"Score {name}"
    if kind == "flag":
        return f"Flag rate {name}"
    return {"latency": "Latency", "ttft": "Time to first token", "error_rate": "Error rate",
            "thumbs_down_rate": "Thumbs-down rate", "model_mix": "Model mix",
            "error_type_mix": "Error-type mix", "topics": "Topics of inputs",
            "input_tokens": "Input tokens per call", "output_tokens": "Output tokens per call",
            "cost": "Cost per call", "input_chars": "Input length (characters)",
            "output_chars": "Output length (characters)", "finish_reason_mix": "Finish-reason mix",
            "language_mix": "Language mix of inputs",
            "truncation_rate": "Truncation rate (finish reason length)"}.get(signal, signal)


def group_label(group: dict[str, str]) -> str:
    if not group:
        return "whole project"
    return ", ".join(f"{LABELS.get(dim, dim)} {value or '(none)'}" for dim, value in group.items())


def _value(finding: Finding, value: float | None) -> str:
    if value is None:
        return "–"
    if finding.method == "wasserstein":
        if finding.signal in ("latency", "ttft"):
            return duration(value)
        if finding.signal == "cost":  # stored in micro-dollars (rollups/dists.py)
            return f"${value / 1e6:.6f}"
        return f"{value:,.0f}" if finding.signal in services.DIST_SIGNALS else f"{value:.3f}"
    return f"{value:.1%}"


def _statistic(finding: Finding) -> str:
    if finding.statistic is None:
        return "–" if finding.verdict == Verdict.NOT_ENOUGH_DATA else "unbounded"
    text = f"{STATISTIC_NAMES.get(finding.method, '')} {finding.statistic:.3f}"
    if finding.low is not None and finding.high is not None:
        text += f" [{finding.low:.3f}, {finding.high:.3f}]"
    return text


def calls_url(page: Page, finding: Finding, *, baseline: bool = False) -> str:
    """The calls explorer filtered to the finding's group and window (and to errors or the flag it is about)."""
    zone = ZoneInfo(page.tz)
    start, end = (finding.baseline_start, finding.baseline_end) if baseline else (finding.current_start,
                                                                                 finding.current_end)
    pairs = [("range", "custom"), ("from", f"{start.astimezone(zone):%Y-%m-%dT%H:%M}"),
             ("to", f"{end.astimezone(zone):%Y-%m-%dT%H:%M}")]
    pairs += [(dim, value) for dim, value in finding.group.items() if dim in FILTER_DIMENSIONS]
    if finding.signal == "error_rate":
        pairs.append(("status", "error"))
    elif finding.signal.startswith("flag:"):
        pairs.append(("flag", finding.signal.removeprefix("flag:")))
    elif finding.signal == "thumbs_down_rate":
        pairs.append(("feedback", "down"))
    return reverse("calls", args=[page.project.id]) + "?" + urlencode(pairs)


def finding_row(page: Page, finding: Finding) -> dict[str, Any]:
    change = f"{_value(finding, finding.baseline_value)} → {_value(finding, finding.current_value)}"
    moved = finding.details.get("moved") or []
    if finding.method == "jensen_shannon" and moved:
        change = f"{moved[0]['category'] or '(none)'}: {change}"
    topics = finding.details.get("topics") or []
    if finding.method == "domain_classifier" and topics:
        change = f"topic {topics[0]['name']}: {change}"
    return {"finding": finding, "signal": signal_label(finding.signal), "group": group_label(finding.group),
            "change": change, "statistic": _statistic(finding), "method": METHODS.get(finding.method, finding.method),
            "verdict": VERDICTS.get(finding.verdict, finding.verdict), "calls_url": calls_url(page, finding),
            "url": reverse("drift-finding", args=[page.project.id, finding.id])}


def drift_context(page: Page, request: HttpRequest) -> dict[str, Any]:
    run = selectors.latest_run(project_id=page.project.id)
    context: dict[str, Any] = {"run": run, "pending": selectors.pending_run(project_id=page.project.id)}
    if run is None:
        return context
    findings = list(selectors.findings_ranked(run=run))
    comparisons = [w["name"] for w in run.windows]
    chosen = request.GET.get("comparison", "")
    if chosen in comparisons:
        findings = [f for f in findings if f.comparison == chosen]
    rows = [finding_row(page, f) for f in findings]
    context["topics"] = [r for r in rows if r["finding"].signal == "topics"
                         and r["finding"].verdict != Verdict.NOT_ENOUGH_DATA]
    windows = [{**w, **{key: datetime.fromisoformat(w[key]) for key in ("baseline_start", "baseline_end",
                                                                          "current_start", "current_end")},
                "baseline_label": Baseline(w["baseline"]).label if w["baseline"] in Baseline.values else w["baseline"]}
               for w in run.windows]
    context.update(
        comparisons=comparisons, chosen=chosen, windows=windows,
        drifted=[r for r in rows if r["finding"].verdict == Verdict.DRIFT][:SHOWN],
        thin=[r for r in rows if r["finding"].verdict == Verdict.NOT_ENOUGH_DATA][:SHOWN],
        steady=sum(1 for f in findings if f.verdict == Verdict.NO_DRIFT),
        thin_count=sum(1 for f in findings if f.verdict == Verdict.NOT_ENOUGH_DATA))
    return context


def overview_findings(page: Page, limit: int = 5) -> dict[str, Any]:
    """The newest run's top drift findings, for the overview (templates/drift/_overview_findings.html)."""
    run = selectors.latest_run(project_id=page.project.id)
    if run is None:
        return {"run": None, "rows": []}
    rows = [finding_row(page, f) for f in selectors.findings_ranked(run=run).filter(verdict=Verdict.DRIFT)[:limit]]
    return {"run": run, "rows": rows}


@project_page()
def drift_page(request: HttpRequest, page: Page) -> HttpResponse:
    return render_page(request, page, "drift/drift.html", drift_context(page, request), active="drift",
                       title="Drift", toolbar=False, charts=False)


@require_POST
@project_page()
def run_now(request: HttpRequest, page: Page) -> HttpResponse:
    if not page.can_manage:
        raise PermissionDenied("Only owners and admins can start a drift run.")
    services.drift_run_request(project=page.project, user=request.user)
    messages.success(request, "Drift run queued: this page shows it when it is done.")
    return redirect("drift", page.project.id)


def _figures(finding: Finding) -> dict[str, Any]:
    """The drill-down's comparison figure: histograms re-read from the rollups for numeric signals,
    the stored counts for rates and mixes."""
    title = f"{signal_label(finding.signal)}: baseline and current"
    if finding.method == "wasserstein":
        kind, _, score = finding.signal.partition(":")
        if finding.signal in services.DIST_SIGNALS:
            kind, score = "score", services.DIST_SIGNALS[finding.signal]
        filters = {dim: [value] for dim, value in finding.group.items()}
        sides = []
        for window in ((finding.baseline_start, finding.baseline_end), (finding.current_start, finding.current_end)):
            keys, counts = selectors.histogram(finding.project_id, window, kind, filters, score=score)
            sides.append((key_values(keys).tolist(), counts.tolist()))
        unit = "ms" if kind in ("latency", "ttft") else ("count" if score.startswith("dist:") else "score")
        bins = charts.shared_bins(sides[0], sides[1], unit=unit)
        return {"comparison": charts.distribution_overlay(title, bins, unit=unit) if bins else None}
    if finding.method == "two_proportion_z":
        return {"comparison": charts.share_bars(title, [signal_label(finding.signal)],
                                                [finding.baseline_value or 0], [finding.current_value or 0])}
    if finding.method == "domain_classifier":
        topics = finding.details.get("topics") or []
        return {"comparison": charts.share_bars("Topic shares: baseline and current", [t["name"] for t in topics],
                                                [t["baseline_share"] for t in topics],
                                                [t["current_share"] for t in topics]) if topics else None}
    moved = finding.details.get("moved") or []
    return {"comparison": charts.share_bars(title, [m["category"] for m in moved],
                                            [m["baseline_share"] for m in moved],
                                            [m["current_share"] for m in moved]) if moved else None}


@project_page()
def finding_detail(request: HttpRequest, page: Page, finding_id: int) -> HttpResponse:
    finding = get_object_or_404(Finding.objects.select_related("run"), pk=finding_id, project=page.project)
    history = selectors.finding_history(finding=finding)
    points = [{"t": f.run.ends_at or f.run.created_at, "value": f.statistic} for f in history]
    figures = _figures(finding)
    figures["history"] = charts.statistic_history(f"{STATISTIC_NAMES.get(finding.method, 'statistic')} over past runs",
                                                  points, threshold=finding.threshold)
    context = {"row": finding_row(page, finding), "figures": figures, "history": history[::-1],
               "baseline_calls_url": calls_url(page, finding, baseline=True), "details": finding.details}
    return render_page(request, page, "drift/finding.html", context, active="drift",
                       title=f"{signal_label(finding.signal)} · Drift", toolbar=False, charts=True)



@project_page()
def settings_page(request: HttpRequest, page: Page) -> HttpResponse:
    """The project's comparisons, pinned baseline and minimum samples: owners and admins change them,
    everyone else reads them."""
    row = DriftSettings.objects.filter(project=page.project).first()
    if request.method == "POST":
        if not page.can_manage:
            raise PermissionDenied("Only owners and admins can change drift settings.")
        form = DriftSettingsForm(request.POST, project_id=page.project.id)
        if form.is_valid():
            data = form.cleaned_data
            services.drift_settings_update(
                project=page.project, user=request.user, enabled=data["enabled"], comparisons=form.comparisons(),
                pinned_start=data.get("pinned_start"), pinned_end=data.get("pinned_end"),
                pinned_release=data.get("pinned_release", ""),
                min_samples={k: data[f"min_{k}"] for k in ("numeric", "rate", "mix")})
            messages.success(request, "Drift settings saved: the next run uses them.")
            return redirect("drift-settings", page.project.id)
        status = 400
    else:
        form = DriftSettingsForm(initial=DriftSettingsForm.initial_for(row))
        status = 200
    if not page.can_manage:
        for field in form.fields.values():
            field.disabled = True
    return render_page(request, page, "drift/settings.html", {"form": form}, active="drift",
                       title="Drift settings", toolbar=False, charts=False, status=status)
