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
