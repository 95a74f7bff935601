"""Reads of the prompt registry: fetch by label, version or experiment unit, lists, diffs, and
per-version metrics from the rollups (always filtered by prompt name *and* version: a version
number means nothing without its prompt)."""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Prefetch, QuerySet

from prompts.assignment import assign
from prompts.models import LATEST, PRODUCTION, Arm, Experiment, ExperimentStatus, Label, Prompt, PromptVersion
from prompts.services import PromptError
from prompts.templating import prompt_variables
from tenancy.models import Project


def prompt_get(*, project: Project | int, name: str) -> Prompt:
    prompt = Prompt.objects.select_related("project").filter(project=project, name=name).first()
    if prompt is None:
        raise PromptError(404, "not_found", f"No prompt named '{name}' in this project.", {"name": "not found"})
    return prompt


def prompt_list(*, project: Project | int) -> QuerySet[Prompt]:
    return (Prompt.objects.filter(project=project).order_by("name")
            .annotate(latest_version=Max("versions__version"), version_count=Count("versions", distinct=True))
            .prefetch_related(Prefetch("labels", queryset=Label.objects.select_related("version").order_by("name"))))


def labels_by_version(prompt: Prompt) -> dict[int, list[str]]:
    """{version number: label names}, `latest` included on the newest version."""
    out: dict[int, list[str]] = {}
    for name, number in Label.objects.filter(prompt=prompt).order_by("name").values_list("name", "version__version"):
        out.setdefault(number, []).append(name)
    newest = PromptVersion.objects.filter(prompt=prompt).aggregate(n=Max("version"))["n"]
    if newest is not None:
        out.setdefault(newest, []).append(LATEST)
    return out


def running_experiment(prompt: Prompt, label: str) -> Experiment | None:
    return (Experiment.objects.filter(prompt=prompt, label=label, status=ExperimentStatus.RUNNING)
            .prefetch_related(Prefetch("arms", queryset=Arm.objects.select_related("version"))).first())


@dataclass
class Resolved:
    prompt: Prompt
    version: PromptVersion
    labels: list[str]
    experiment: Experiment | None = None
    arm: int | None = None  # the arm's position
    via: str = ""  # "label", "version", "latest" or "experiment"
    extra: dict[str, Any] = field(default_factory=dict)


def resolve(*, project: Project | int, name: str, label: str | None = None, version: int | None = None,
            unit: str | None = None) -> Resolved:
    """The version a fetch gets: by number, or by label (default production), or, when a running
    experiment splits that label and a unit is given, the unit's arm."""
    if label is not None and version is not None:
        raise PromptError(400, "invalid", "Give a label or a version, not both.", {"label": "with version"})
    prompt = prompt_get(project=project, name=name)
    labels = labels_by_version(prompt)
    experiment = None
    arm = None
    if version is not None:
        found = PromptVersion.objects.filter(prompt=prompt, version=version).first()
        if found is None:
            raise PromptError(404, "not_found", f"Prompt '{name}' has no version {version}.", {"version": "not found"})
        via = "version"
    else:
        label = label or PRODUCTION
        if label == LATEST:
            found = PromptVersion.objects.filter(prompt=prompt).order_by("-version").first()
            via = "latest"
        else:
            row = Label.objects.select_related("version").filter(prompt=prompt, name=label).first()
            found = row.version if row is not None else None
            via = "label"
            if row is not None and unit:
                experiment = running_experiment(prompt, label)
                if experiment is not None:
                    arms = list(experiment.arms.all())
                    arm = assign(experiment.salt, unit, [a.weight for a in arms])
                    found = arms[arm].version
                    via = "experiment"
        if found is None:
            raise PromptError(404, "not_found", f"Prompt '{name}' has no label '{label}'.", {"label": "not found"})
    return Resolved(prompt=prompt, version=found, labels=labels.get(found.version, []), experiment=experiment,
                    arm=arm, via=via)


def versions_list(prompt: Prompt, *, limit: int | None = None) -> list[tuple[PromptVersion, list[str]]]:
    labels = labels_by_version(prompt)
    rows = PromptVersion.objects.filter(prompt=prompt).select_related("author").order_by("-version")
    if limit:
        rows = rows[:limit]
    return [(v, labels.get(v.version, [])) for v in rows]


def version_get(prompt: Prompt, number: int) -> PromptVersion:
    found = PromptVersion.objects.filter(prompt=prompt, version=number).first()
    if found is None:
        raise PromptError(404, "not_found", f"Prompt '{prompt.name}' has no version {number}.",
                          {"version": "not found"})
    return found


# --- serialisation ------------------------------------------------------------------------------


def native_dict(resolved: Resolved) -> dict[str, Any]:
    v = resolved.version
    out: dict[str, Any] = {
        "name": resolved.prompt.name, "version": v.version, "type": v.type, "prompt": v.template,
        "config": v.config, "labels": resolved.labels, "tags": resolved.prompt.tags,
        "variables": prompt_variables(v.type, v.template), "commit_message": v.commit_message,
        "author": v.author_label, "created_at": v.created_at.isoformat(), "experiment": None,
    }
    if resolved.experiment is not None:
        arms = list(resolved.experiment.arms.all())
        out["experiment"] = {"id": resolved.experiment.pk, "name": resolved.experiment.name,
                             "label": resolved.experiment.label, "salt": resolved.experiment.salt,
                             "arm": resolved.arm,
                             "arms": [{"position": a.position, "version": a.version.version, "weight": a.weight}
                                      for a in arms]}
    return out


def langfuse_dict(resolved: Resolved) -> dict[str, Any]:
    """Langfuse's Prompt (api/prompts/types/prompt.py of the SDK)."""
    v = resolved.version
    return {"id": str(v.pk), "name": resolved.prompt.name, "version": v.version, "type": v.type,
            "prompt": v.template, "config": v.config, "labels": resolved.labels, "tags": resolved.prompt.tags,
            "commitMessage": v.commit_message or None, "createdBy": v.author_label,
            "createdAt": v.created_at.isoformat(), "updatedAt": v.created_at.isoformat(),
            "projectId": str(resolved.prompt.project_id), "isActive": None, "resolutionGraph": None}


# --- diff ---------------------------------------------------------------------------------------


def version_text(v: PromptVersion) -> list[str]:
    """A version as lines for a diff: the template (chat messages as `[role]` headers), then its config."""
    if v.type == "text":
        lines = str(v.template).splitlines()
    else:
        lines = []
        for message in v.template:
            if message.get("type") == "placeholder":
                lines.append(f"[placeholder: {message.get('name')}]")
            else:
                lines.append(f"[{message.get('role')}]")
                lines.extend(str(message.get("content", "")).splitlines())
    lines.append("")
    lines.append("--- config ---")
    lines.extend(json.dumps(v.config, indent=2, sort_keys=True, ensure_ascii=False).splitlines())
    return lines


def diff(a: PromptVersion, b: PromptVersion, *, context: int = 3) -> list[dict[str, str]]:
    """A unified diff from `a` to `b`: [{"op": " "|"+"|"-"|"@", "text"}]."""
    out = []
    for line in difflib.unified_diff(version_text(a), version_text(b), f"v{a.version}", f"v{b.version}",
                                     lineterm="", n=context):
        if line.startswith(("---", "+++")) and not out:
            continue
        if line.startswith("+++"):
            continue
        op = line[:1] if line[:1] in "+-@" else " "
        out.append({"op": op, "text": line[1:] if op in "+- " else line})
    return out


# --- per-version metrics from the rollups -------------------------------------------------------


CALL_MEASURES = ["count", "cost", "error_rate", "latency_p50", "latency_p95"]


def version_metrics(*, project_id: int, name: str, versions: list[int], start: datetime, end: datetime,
                    tz: str = "UTC") -> dict[int, dict[str, Any]]:
    """{version: {calls, cost_per_call, error_rate, latency_p50, latency_p95, thumbs_down_rate,
    scores: {name: avg}, flags: {name: rate}}} for the versions of prompt `name` over [start, end).
    Calls are grouped by prompt_version under a prompt_name filter; scores and flags are read per
    version with both filters."""
    from rollups.selectors import Query, aggregate, flag_totals, score_totals

    if not versions:
        return {}
    wanted = [str(v) for v in versions]
    base = Query(project_id=project_id, start=start, end=end, tz=tz,
                 filters={"prompt_name": [name], "prompt_version": wanted}, group_by=("prompt_version",))
    out: dict[int, dict[str, Any]] = {v: {"calls": 0, "cost_per_call": None, "error_rate": None, "latency_p50": None,
                                          "latency_p95": None, "thumbs_down_rate": None, "scores": {}, "flags": {}}
                                      for v in versions}

    def number(key: Any) -> int | None:
        try:
            return int(key)
        except (TypeError, ValueError):
            return None

    # Keys are (point, prompt_version); the point is None without an interval.
    for key, row in aggregate(base, CALL_MEASURES).items():
        v = number(key[-1])
        if v not in out:
            continue
        calls = row.get("count") or 0
        out[v]["calls"] = calls
        cost = row.get("cost")
        out[v]["cost_per_call"] = float(cost) / calls if calls and cost is not None else None
        for key in ("error_rate", "latency_p50", "latency_p95"):
            out[v][key] = row.get(key)
    for key, row in aggregate(base, ["thumbs_down_rate"]).items():
        v = number(key[-1])
        if v in out:
            out[v]["thumbs_down_rate"] = row.get("thumbs_down_rate")
    for v in versions:
        if not out[v]["calls"]:
            continue
        one = Query(project_id=project_id, start=start, end=end, tz=tz,
                    filters={"prompt_name": [name], "prompt_version": [str(v)]})
        out[v]["scores"] = {score: row["avg"] for score, row in sorted(score_totals(one).items())}
        out[v]["flags"] = {flag: row["rate"] for flag, row in sorted(flag_totals(one).items())}
    return out


# --- experiment results -------------------------------------------------------------------------


def experiment_results(experiment: Experiment, *, now: datetime | None = None) -> dict[str, Any]:
    """Each arm's figures over the experiment's time (calls recorded with the prompt's name and the
    arm's version, from the rollups): calls, errors, cost per call with its variance, p50/p95
    latency with 95% intervals from the merged sketches, feedback, flags and scores. Then the SRM
    check on the split of calls, and every treatment arm against the first arm (the control):
    rates with the two-proportion z-test, score means and cost per call with Welch's t-test, each
    with its always-valid interval; Benjamini–Hochberg across all of them on the always-valid
    p-values, and a verdict. No verdict while the split fails the SRM check or an arm is under the
    minimum sample."""
    from django.utils import timezone

    from prompts import stats
    from rollups.selectors import Query, aggregate, flag_totals, score_totals
    from rollups.selectors.scores import cost_moments, histograms_of

    arms = list(experiment.arms.select_related("version").order_by("position"))
    project_id = experiment.prompt.project_id
    name = experiment.prompt.name
    start, end = experiment.started_at, experiment.ended_at or now or timezone.now()
    numbers = [str(a.version.version) for a in arms]
    base = Query(project_id=project_id, start=start, end=end, group_by=("prompt_version",),
                 filters={"prompt_name": [name], "prompt_version": numbers})
    calls = {str(k[-1]): row for k, row in aggregate(base, ["count", "errors"]).items()}
    costs = {str(k[-1]): row for k, row in cost_moments(base).items()}
    latency = {str(k[-1]): hist for k, hist in histograms_of(base).items()}
    feedback = {str(k[-1]): row for k, row in aggregate(base, ["thumbs_down", "thumbs_count"]).items()}
    rows = []
    for arm, number in zip(arms, numbers, strict=True):
        c, f, m = calls.get(number, {}), feedback.get(number, {}), costs.get(number, {})
        n = c.get("count") or 0
        one = Query(project_id=project_id, start=start, end=end,
                    filters={"prompt_name": [name], "prompt_version": [number]})
        flags = flag_totals(one) if n else {}
        scores = {}
        for score, row in sorted(score_totals(one).items()) if n else []:
            spread = stats.moments(row["count"], row["sum"], row["sumsq"])
            scores[score] = {"count": row["count"], "mean": row["avg"], "variance": spread[1] if spread else None}
        cost_spread = stats.moments(n, m.get("cost", 0.0), m.get("cost_sumsq", 0.0)) if n else None
        quantiles = {}
        for q in (0.5, 0.95):
            found = stats.quantile_interval(*latency[number], q) if number in latency else None
            quantiles[q] = found or (None, None, None)
        rows.append({"position": arm.position, "version": arm.version.version, "weight": arm.weight, "calls": n,
                     "errors": c.get("errors") or 0, "error_rate": (c.get("errors") or 0) / n if n else None,
                     "cost_per_call": m["cost"] / n if n and m else None,
                     "cost_variance": cost_spread[1] if cost_spread else None,
                     "latency_p50": quantiles[0.5][0], "latency_p50_interval": list(quantiles[0.5][1:]),
                     "latency_p95": quantiles[0.95][0], "latency_p95_interval": list(quantiles[0.95][1:]),
                     "thumbs_down": f.get("thumbs_down") or 0, "thumbs_count": f.get("thumbs_count") or 0,
                     "flags": flags, "scores": scores})
    split = stats.srm([r["calls"] for r in rows], [r["weight"] for r in rows])
    mismatch = bool(split and split.mismatch)
    comparisons: list[dict[str, Any]] = []
    flag_names = sorted({flag for r in rows for flag in r["flags"]})
    score_names = sorted({score for r in rows for score in r["scores"]})
    control = rows[0] if rows else None
    for treatment in rows[1:]:
        pairs = [("error_rate", control["errors"], control["calls"], treatment["errors"], treatment["calls"]),
                 ("thumbs_down_rate", control["thumbs_down"], control["thumbs_count"], treatment["thumbs_down"],
                  treatment["thumbs_count"])]
        for flag in flag_names:
            a, b = control["flags"].get(flag, {}), treatment["flags"].get(flag, {})
            pairs.append((f"flag_rate:{flag}", a.get("count", 0), a.get("evaluated", 0), b.get("count", 0),
                          b.get("evaluated", 0)))
        for metric, x1, n1, x2, n2 in pairs:
            comparisons.append({"metric": metric, "test": "z", "lower_is_better": True, "arm": treatment["position"],
                                "version": treatment["version"], "n_control": int(n1), "n_treatment": int(n2),
                                "result": stats.two_proportions(int(x1), int(n1), int(x2), int(n2))})
        means = [("cost_per_call", True, control["cost_per_call"], control["cost_variance"], control["calls"],
                  treatment["cost_per_call"], treatment["cost_variance"], treatment["calls"])]
        for score in score_names:
            a, b = control["scores"].get(score, {}), treatment["scores"].get(score, {})
            means.append((f"score_avg:{score}", False, a.get("mean"), a.get("variance"), a.get("count", 0),
                          b.get("mean"), b.get("variance"), b.get("count", 0)))
        for metric, lower, m1, v1, n1, m2, v2, n2 in means:
            ready = None not in (m1, v1, m2, v2)
            comparisons.append({"metric": metric, "test": "welch", "lower_is_better": lower,
                                "arm": treatment["position"], "version": treatment["version"],
                                "n_control": int(n1), "n_treatment": int(n2),
                                "result": stats.welch(m1, v1, int(n1), m2, v2, int(n2)) if ready else None})
    judged = stats.judge([(c["result"], c["lower_is_better"], c["n_control"], c["n_treatment"]) for c in comparisons],
                         srm_mismatch=mismatch)
    out = []
    for c, (p_adjusted, verdict) in zip(comparisons, judged, strict=True):
        r = c.pop("result")
        out.append({**c, "control": r.control if r else None, "treatment": r.treatment if r else None,
                    "difference": r.difference if r else None, "z": r.z if r else None, "p": r.p if r else None,
                    "low": r.low if r else None, "high": r.high if r else None,
                    "p_sequential": r.p_sequential if r else None, "p_adjusted": p_adjusted, "verdict": verdict})
    return {"experiment": experiment.pk, "start": start.isoformat(), "end": end.isoformat(), "arms": rows,
            "srm": {"chi2": split.chi2, "p": split.p, "mismatch": split.mismatch} if split else None,
            "comparisons": out, "min_sample": stats.MIN_SAMPLE, "alpha": stats.ALPHA, "srm_alpha": stats.SRM_ALPHA,
            "sequential_tuning": stats.SEQUENTIAL_TUNING}
