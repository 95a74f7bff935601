"""The prompt pages: the list, a prompt with its versions, labels, history, experiments and
per-version metrics; the new-version and label forms; a diff between two versions; a rendering
preview. Viewers read; members create versions and move unprotected labels; owners and admins
move protected labels too (the same rules as the API). Prompt text is untrusted: templates
autoescape it, and nothing here marks it safe."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboards.context import Page, project_page
from dashboards.views.common import render_page
from prompts import selectors, services
from prompts.forms import GuardForm, LabelMoveForm, VersionForm
from prompts.models import LATEST, Prompt, PromptType
from prompts.services import Actor, PromptError
from prompts.templating import RenderError, TemplateError, parse_prompt, prompt_variables, render_prompt
from tenancy.models import Role

WRITE_ROLES = {Role.OWNER, Role.ADMIN, Role.MEMBER}
METRIC_VERSIONS = 10  # newest versions with metrics on the prompt page
RANGE_LINKS = [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")]


def _actor(request: HttpRequest, page: Page) -> Actor:
    return Actor(user=request.user, label=request.user.get_username(), can_protect=page.can_manage,
                 audit_actor=request.user)


def _can_write(page: Page) -> bool:
    return page.role in WRITE_ROLES


def _render(request: HttpRequest, page: Page, template: str, context: dict[str, Any], *, title: str,
            status: int = 200) -> HttpResponse:
    context = {"can_write": _can_write(page), "can_protect": page.can_manage, **context}
    return render_page(request, page, template, context, active="prompts", title=title, toolbar=False, charts=False,
                       status=status)


def _prompt(page: Page, prompt_id: int) -> Prompt:
    return get_object_or_404(Prompt.objects.select_related("project"), pk=prompt_id, project=page.project)


def _forbid(page: Page) -> None:
    from django.core.exceptions import PermissionDenied

    if not _can_write(page):
        raise PermissionDenied("Viewers cannot change prompts.")


@project_page()
def prompt_list_page(request: HttpRequest, page: Page) -> HttpResponse:
    from prompts.events import subscribable_channels

    return _render(request, page, "prompts/list.html", {"prompts": selectors.prompt_list(project=page.project),
                                                        "channels": subscribable_channels(page.project.id)},
                   title="Prompts")


@require_POST
@project_page()
def subscriptions_view(request: HttpRequest, page: Page) -> HttpResponse:
    """The change-events form: which webhook and Slack channels hear of prompt changes (owners and
    admins, as the API)."""
    from django.core.exceptions import PermissionDenied

    from prompts.events import subscribable_channels, subscriptions_set

    if not page.can_manage:
        raise PermissionDenied("Only owners and admins choose where prompt events go.")
    known = {c["id"] for c in subscribable_channels(page.project.id)}
    chosen = [int(v) for v in request.POST.getlist("channel") if v.isdigit() and int(v) in known]
    subscriptions_set(project_id=page.project.id, channel_ids=chosen, kinds=[], actor_label=_actor(request, page).label)
    messages.success(request, f"Prompt change events go to {len(chosen)} channel{'s' if len(chosen) != 1 else ''}.")
    return redirect(reverse("prompts", args=[page.project.id]) + "#events")


def _template_text(version: Any) -> str:
    import json

    if version is None:
        return ""
    return version.template if version.type == PromptType.TEXT else json.dumps(version.template, indent=2,
                                                                             ensure_ascii=False)


def _version_form_page(request: HttpRequest, page: Page, prompt: Prompt | None) -> HttpResponse:
    _forbid(page)
    latest = prompt.versions.order_by("-version").first() if prompt else None
    if request.method == "POST":
        form = VersionForm(request.POST)
        if form.is_valid():
            template = form.template_value()
            if template is not None:
                name = prompt.name if prompt else form.cleaned_data["name"]
                try:
                    version = services.prompt_version_create(
                        project=page.project, name=name, kind=form.cleaned_data["type"], template=template,
                        config=form.cleaned_data["config"], commit_message=form.cleaned_data["commit_message"],
                        labels=form.cleaned_data["labels"], actor=_actor(request, page))
                except PromptError as exc:
                    field = next(iter(exc.details or {}), "")
                    target = {"prompt": "template", "name": "name", "type": "type", "label": "labels",
                              "commitMessage": "commit_message"}.get(field.split(".")[0].split("[")[0], None)
                    form.add_error(target if target in form.fields else None, exc.message)
                else:
                    messages.success(request, f"Version {version.version} of {version.prompt.name} created.")
                    return redirect("prompts-detail", page.project.id, version.prompt_id)
        status = 400
    else:
        import json

        form = VersionForm(initial={
            "type": latest.type if latest else PromptType.TEXT, "template": _template_text(latest),
            "config": json.dumps(latest.config, indent=2) if latest and latest.config else ""})
        status = 200
    return _render(request, page, "prompts/version_form.html", {"form": form, "prompt": prompt, "latest": latest},
                   title=f"New version of {prompt.name}" if prompt else "New prompt", status=status)


@project_page()
def prompt_new(request: HttpRequest, page: Page) -> HttpResponse:
    return _version_form_page(request, page, None)


@project_page()
def version_new(request: HttpRequest, page: Page, prompt_id: int) -> HttpResponse:
    return _version_form_page(request, page, _prompt(page, prompt_id))


def _detail_context(page: Page, prompt: Prompt) -> dict[str, Any]:
    versions = selectors.versions_list(prompt)
    numbers = [v.version for v, _ in versions[:METRIC_VERSIONS]]
    metrics = selectors.version_metrics(project_id=page.project.id, name=prompt.name, versions=numbers,
                                        start=page.start, end=page.end, tz=page.tz)
    labels = list(prompt.labels.select_related("version").order_by("name"))
    newest = versions[0][0] if versions else None
    return {
        "prompt": prompt, "versions": versions, "newest": newest,
        "metrics": [(v, metrics[v.version]) for v, _ in versions[:METRIC_VERSIONS]],
        "labels": labels, "events": prompt.events.order_by("-at", "-id")[:50],
        "experiments": prompt.experiments.prefetch_related("arms__version").order_by("-started_at")[:20],
        "guards": prompt.guards.order_by("label", "id"),
        "range_links": RANGE_LINKS, "latest_name": LATEST,
        "label_form": LabelMoveForm(initial={"version": newest.version if newest else None}),
        "guard_form": GuardForm(auto_id="guard-%s"),
    }


@project_page()
def prompt_page(request: HttpRequest, page: Page, prompt_id: int) -> HttpResponse:
    prompt = _prompt(page, prompt_id)
    return _render(request, page, "prompts/detail.html", _detail_context(page, prompt), title=prompt.name)


@require_POST
@project_page()
def label_move_view(request: HttpRequest, page: Page, prompt_id: int) -> HttpResponse:
    _forbid(page)
    prompt = _prompt(page, prompt_id)
    form = LabelMoveForm(request.POST)
    if form.is_valid():
        try:
            version = selectors.version_get(prompt, form.cleaned_data["version"])
            moved = services.label_move(prompt=prompt, label=form.cleaned_data["label"].strip(), version=version,
                                        actor=_actor(request, page), reason=form.cleaned_data["reason"])
        except PromptError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"'{form.cleaned_data['label']}' now points at version {version.version}."
                             if moved else f"'{form.cleaned_data['label']}' already pointed at version "
                                           f"{version.version}.")
            return redirect(reverse("prompts-detail", args=[page.project.id, prompt.id]) + "#labels")
    context = _detail_context(page, prompt)
    context["label_form"] = form
    return _render(request, page, "prompts/detail.html", context, title=prompt.name, status=400)


def _version_param(request: HttpRequest, prompt: Prompt, name: str, default: int | None) -> Any:
    raw = request.GET.get(name)
    try:
        number = int(raw) if raw else default
    except ValueError:
        number = default
    return selectors.version_get(prompt, number) if number else None


@project_page()
def diff_page(request: HttpRequest, page: Page, prompt_id: int) -> HttpResponse:
    prompt = _prompt(page, prompt_id)
    numbers = list(prompt.versions.order_by("-version").values_list("version", flat=True))
    context: dict[str, Any] = {"prompt": prompt, "numbers": numbers, "lines": None, "error": ""}
    try:
        b = _version_param(request, prompt, "to", numbers[0] if numbers else None)
        a = _version_param(request, prompt, "from", numbers[1] if len(numbers) > 1 else (numbers[0] if numbers else None))
    except PromptError as exc:
        context["error"] = exc.message
        return _render(request, page, "prompts/diff.html", context, title=f"Diff · {prompt.name}", status=404)
    if a is not None and b is not None:
        context.update({"a": a, "b": b, "lines": selectors.diff(a, b)})
    return _render(request, page, "prompts/diff.html", context, title=f"Diff · {prompt.name}")


@project_page()
def preview(request: HttpRequest, page: Page, prompt_id: int) -> HttpResponse:
    """Render a version with sample variables (`var_<name>` parameters); an htmx request gets only
    the result fragment."""
    prompt = _prompt(page, prompt_id)
    newest = prompt.versions.order_by("-version").first()
    context: dict[str, Any] = {"prompt": prompt, "result": None, "error": "",
                               "numbers": list(prompt.versions.order_by("-version").values_list("version", flat=True))}
    status = 200
    try:
        version = _version_param(request, prompt, "version", newest.version if newest else None)
    except PromptError as exc:
        version, context["error"], status = None, exc.message, 404
    if version is not None:
        try:
            names = prompt_variables(version.type, version.template)
            parse_prompt(version.type, version.template)
        except TemplateError as exc:
            names, context["error"] = [], str(exc)
        values = {n: request.GET.get(f"var_{n}", "") for n in names}
        context.update({"version": version, "variables": [(n, values[n]) for n in names]})
        if not context["error"]:
            try:
                context["result"] = render_prompt(version.type, version.template, values)
            except RenderError as exc:
                context["error"] = str(exc)
    if getattr(request, "htmx", False):
        return render(request, "prompts/_preview_result.html", context, status=status)
    return _render(request, page, "prompts/preview.html", context, title=f"Preview · {prompt.name}", status=status)


def _experiment(prompt: Prompt, experiment_id: int) -> Any:
    return get_object_or_404(prompt.experiments.all(), pk=experiment_id)


@project_page()
def experiment_page(request: HttpRequest, page: Page, prompt_id: int, experiment_id: int) -> HttpResponse:
    prompt = _prompt(page, prompt_id)
    experiment = _experiment(prompt, experiment_id)
    label = prompt.labels.filter(name=experiment.label).first()
    may_end = _can_write(page) and (page.can_manage or not (label and label.protected))
    return _render(request, page, "prompts/experiment.html",
                   {"prompt": prompt, "experiment": experiment, "results": selectors.experiment_results(experiment),
                    "may_end": may_end and experiment.status == "running"},
                   title=f"Experiment · {prompt.name}")


@require_POST
@project_page()
def experiment_end(request: HttpRequest, page: Page, prompt_id: int, experiment_id: int) -> HttpResponse:
    _forbid(page)
    prompt = _prompt(page, prompt_id)
    experiment = _experiment(prompt, experiment_id)
    try:
        if request.POST.get("action") == "ship":
            number = request.POST.get("version", "")
            if not number.isdigit():
                raise PromptError(400, "invalid", "Choose the version to ship: a version number.")
            version = selectors.version_get(prompt, int(number))
            services.experiment_ship(experiment=experiment, version=version, actor=_actor(request, page),
                                     reason=request.POST.get("reason", "")[:500])
            messages.success(request, f"Shipped: '{experiment.label}' now points at version {version.version}.")
        else:
            services.experiment_stop(experiment=experiment, actor=_actor(request, page),
                                     reason=request.POST.get("reason", "")[:500])
            messages.success(request, "Experiment stopped.")
    except (PromptError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    return redirect("prompts-experiment", page.project.id, prompt.id, experiment.id)


@require_POST
@project_page()
def guard_rearm_view(request: HttpRequest, page: Page, prompt_id: int, guard_id: int) -> HttpResponse:
    from prompts.guards import guard_rearm

    _forbid(page)
    prompt = _prompt(page, prompt_id)
    guard = get_object_or_404(prompt.guards.all(), pk=guard_id)
    try:
        guard_rearm(guard=guard, actor=_actor(request, page))
        messages.success(request, "Guard re-armed.")
    except PromptError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("prompts-detail", args=[page.project.id, prompt.id]) + "#guards")


@require_POST
@project_page()
def experiment_new(request: HttpRequest, page: Page, prompt_id: int) -> HttpResponse:
    from prompts.forms import ExperimentForm

    _forbid(page)
    prompt = _prompt(page, prompt_id)
    form = ExperimentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        label = prompt.labels.select_related("version").filter(name=data["label"]).first()
        try:
            if label is None:
                raise PromptError(404, "not_found", f"No label '{data['label']}' to experiment on.")
            if label.version.version == data["version"]:
                raise PromptError(400, "invalid", "The treatment must be another version than the label's.")
            experiment = services.experiment_start(
                prompt=prompt, label=label.name, name=data["name"], actor=_actor(request, page),
                arms=[(label.version.version, 100 - data["percent"]), (data["version"], data["percent"])])
        except PromptError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Experiment started on '{label.name}'.")
            return redirect("prompts-experiment", page.project.id, prompt.id, experiment.id)
    else:
        messages.error(request, "Check the experiment's fields: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect(reverse("prompts-detail", args=[page.project.id, prompt.id]) + "#experiments")


@project_page()
def dataset_run_page(request: HttpRequest, page: Page, prompt_id: int, run_id: int) -> HttpResponse:
    """A dataset run's progress (the body reloads itself through htmx while it runs) and results."""
    from prompts import datasets

    prompt = _prompt(page, prompt_id)
    run = get_object_or_404(prompt.runs, pk=run_id)
    return _render(request, page, "prompts/dataset_run.html",
                   {"prompt": prompt, "run": run, "rows": datasets.table(run) if run.status == "done" else [],
                    "passed": datasets.passed(run), "running": run.status in ("pending", "running")},
                   title=f"Dataset run {run.pk} · {prompt.name}")


@require_POST
@project_page()
def guard_new(request: HttpRequest, page: Page, prompt_id: int) -> HttpResponse:
    from prompts.guards import guard_create

    _forbid(page)
    prompt = _prompt(page, prompt_id)
    form = GuardForm(request.POST)
    if form.is_valid():
        try:
            guard_create(prompt=prompt, actor=_actor(request, page), **form.cleaned_data)
            messages.success(request, f"Guard on '{form.cleaned_data['label']}' armed.")
        except PromptError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, "Check the guard's fields: " + "; ".join(
            f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect(reverse("prompts-detail", args=[page.project.id, prompt.id]) + "#guards")
