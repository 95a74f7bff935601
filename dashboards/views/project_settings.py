"""Project settings: API keys, members and roles, quality, retention and price overrides, on one page
of anchored panels. Owners and admins see and change everything; members and viewers get a read-only
summary without keys. Every change is a POST that redirects back to its panel (PRG); invalid input
re-renders the page with the errors, status 400, nothing saved."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from dashboards.context import Page, project_page
from dashboards.forms import (
    RETENTION_FIELDS,
    ApiKeyForm,
    MemberAddForm,
    MemberUpdateForm,
    PriceForm,
    QualityForm,
    RetentionForm,
    set_password_email_send,
)
from dashboards.selectors.retention import retention_losses
from dashboards.views.common import render_page
from pricing.models import ModelPrice
from pricing.services import price_override_create, price_override_delete
from quality.forms import JudgeForm, RulesForm
from quality.models import Judge, QualitySettings
from quality.registry import EVALUATORS
from quality.services import judge_delete, judge_save, quality_settings_save
from tenancy.models import ApiKey, Membership, Role
from tenancy.services import (
    MembershipError,
    MembershipForbidden,
    api_key_create,
    api_key_revoke,
    membership_add,
    membership_remove,
    membership_role_change,
    project_retention_update,
)

NEW_KEY = "obs_new_key"  # session entry holding a just-created raw key until its one showing
NEW_KEY_SECONDS = 600  # a key not shown within this (redirect never followed) is dropped unseen
ROLE_ORDER = {role: i for i, role in enumerate(Role.values)}



def _alert_channels(page: Page) -> Any:
    """The project's alert channels (alerts.selectors.channels_for), or None where the alerts app
    is not installed: dashboards reads alerts only through its selectors."""
    from django.apps import apps

    if not apps.is_installed("alerts"):
        return None
    from alerts.selectors import channels_for

    return list(channels_for(project_id=page.project.id))

def _quality_row(page: Page) -> QualitySettings:
    # No row means the defaults; a blank instance shows them without writing on a GET.
    return QualitySettings.objects.filter(project=page.project).first() or QualitySettings(project=page.project)


def _pop_new_key(request: HttpRequest, page: Page) -> dict[str, Any] | None:
    """The key created a moment ago in this project, removed from the session by this very call."""
    entry = request.session.get(NEW_KEY)
    if not entry or entry.get("project") != page.project.id:
        return None  # another project's settings page: leave it for its own page
    del request.session[NEW_KEY]
    return entry if time.time() - entry.get("at", 0) <= NEW_KEY_SECONDS else None


def _members(request: HttpRequest, page: Page) -> list[dict[str, Any]]:
    rows = Membership.objects.filter(organization_id=page.project.organization_id).select_related("user")
    is_owner = page.role == Role.OWNER
    out = []
    for m in sorted(rows, key=lambda m: (ROLE_ORDER.get(m.role, 9), m.user.get_username().lower())):
        # Mirrors tenancy.services' rules, to offer only what would be accepted.
        editable = page.can_manage and m.user_id != request.user.pk and (is_owner or m.role != Role.OWNER)
        choices = [(v, label) for v, label in Role.choices if is_owner or v != Role.OWNER]
        out.append({"m": m, "editable": editable, "choices": choices, "is_you": m.user_id == request.user.pk})
    return out


def _render(request: HttpRequest, page: Page, *, status: int = 200, **bound: Any) -> HttpResponse:
    """The whole page; `bound` holds the one form (or member error) of a failed POST."""
    project = page.project
    new_key = _pop_new_key(request, page)  # popped whatever the role: it must not outlive this render
    quality = _quality_row(page)
    overrides = quality.evaluators or {}
    context: dict[str, Any] = {
        "members": _members(request, page),
        "member_error": bound.get("member_error"),
        "quality": quality,
        "evaluators_on": [n for n in EVALUATORS if (overrides.get(n) or {}).get("enabled", True) is not False],
        "judges": Judge.objects.filter(project=project).order_by("name"),
        "retention_confirm": bound.get("retention_confirm"),
        "retention": [{"name": name, "label": label, "value": getattr(project, f"retention_{name}"),
                       "default": settings.RETENTION_DEFAULTS[name]} for name, label in RETENTION_FIELDS],
        "prices": ModelPrice.objects.filter(project=project).order_by("model", "-effective_date"),
        "price_model": request.GET.get("price_model", "")[:200],
        "alert_channels": _alert_channels(page),
    }
    if page.can_manage:
        context.update({
            "keys": ApiKey.objects.filter(project=project).select_related("created_by")
                                  .order_by(F("revoked_at").asc(nulls_first=True), "-created_at"),  # active first
            "new_key": new_key,
            "key_form": bound.get("key_form") or ApiKeyForm(),
            "member_form": bound.get("member_form") or MemberAddForm(can_grant_owner=page.role == Role.OWNER),
            "quality_form": bound.get("quality_form") or QualityForm(instance=quality),
            "retention_form": bound.get("retention_form") or RetentionForm(project=project),
            "judge_form": bound.get("judge_form") or _judge_form(request, page),
            "rules_form": bound.get("rules_form") or RulesForm(instance=quality),
            "price_form": bound.get("price_form") or PriceForm(project=project,
                                                               initial={"model": context["price_model"]}),
        })
    response = render_page(request, page, "dashboards/settings.html", context, active="settings", title="Settings",
                           toolbar=False, charts=False, status=status)
    # The page may hold a raw key or key prefixes: never keep it in a browser or proxy cache.
    add_never_cache_headers(response)
    return response


def _judge_form(request: HttpRequest, page: Page) -> JudgeForm:
    """The judge named by ?judge=<id> to edit, or a blank one to add."""
    raw = request.GET.get("judge", "")
    judge = Judge.objects.filter(project=page.project, pk=int(raw)).first() if raw.isdigit() else None
    return JudgeForm(instance=judge, project=page.project)


def _refused(request: HttpRequest, page: Page, section: str, *, status: int = 400, **bound: Any) -> HttpResponse:
    # The forms post to "...#<panel>", so the browser lands on the errors; this says so at the top.
    messages.error(request, f"Nothing was saved: see {section} below.")
    return _render(request, page, status=status, **bound)


def _back(page: Page, anchor: str) -> HttpResponse:
    return redirect(f"{reverse('settings', args=[page.project.id])}#{anchor}")


@project_page()
def overview(request: HttpRequest, page: Page) -> HttpResponse:
    return _render(request, page)


@project_page(manage=True)
@require_POST
def key_create(request: HttpRequest, page: Page) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _refused(request, page, "API keys", key_form=form)
    issued = api_key_create(project=page.project, scopes=form.cleaned_data["scopes"], name=form.cleaned_data["name"],
                            created_by=request.user)
    # Shown once on the next GET, which pops it; the messages framework would put it in a cookie.
    request.session[NEW_KEY] = {"project": page.project.id, "id": issued.api_key.id, "key": issued.raw_key,
                                "name": issued.api_key.name, "at": time.time()}
    return _back(page, "keys")


@project_page(manage=True)
@require_POST
def key_revoke(request: HttpRequest, page: Page, key_id: int) -> HttpResponse:
    api_key = get_object_or_404(ApiKey, pk=key_id, project=page.project)  # another project's key: 404
    if api_key.revoked_at is not None:
        messages.info(request, f"Key {api_key.prefix}… was already revoked.")
    else:
        api_key_revoke(api_key=api_key, actor=request.user)
        messages.success(request, f"Key {api_key.prefix}… ({api_key.name or 'unnamed'}) is revoked: requests "
                                  "with it now get 401.")
    return _back(page, "keys")


@project_page(manage=True)
@require_POST
def member_add(request: HttpRequest, page: Page) -> HttpResponse:
    organization = page.project.organization
    form = MemberAddForm(request.POST, can_grant_owner=page.role == Role.OWNER)
    if not form.is_valid():
        return _refused(request, page, "Members", member_form=form)
    try:
        added = membership_add(organization=organization, identifier=form.cleaned_data["identifier"],
                               role=form.cleaned_data["role"], actor=request.user)
    except MembershipError as exc:
        form.add_error("identifier", str(exc))
        return _refused(request, page, "Members", status=403 if isinstance(exc, MembershipForbidden) else 400,
                        member_form=form)
    user = added.membership.user
    note = f"{user.get_username()} is now {added.membership.get_role_display().lower()} of {organization.name}."
    if added.needs_password:
        try:
            set_password_email_send(user=user, organization=organization, inviter=request.user)
        except Exception as exc:  # noqa: BLE001 - a mail server's failure must not undo the membership
            messages.warning(request, f"{note} The email to set a password could not be sent ({exc}); remove and "
                                      "add them again once mail works.")
            return _back(page, "members")
        note += (f" {'A new account was created and' if added.created_user else 'They have no password yet, so'} "
                 f"an email with a link to set a password was sent to {user.email}.")
        if settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
            note += " No mail server is configured here, so the email was printed to the server's console."
    messages.success(request, note)
    return _back(page, "members")


@project_page(manage=True)
@require_POST
def member_update(request: HttpRequest, page: Page, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user", "organization"), pk=membership_id,
                                   organization_id=page.project.organization_id)
    form = MemberUpdateForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        return _refused(request, page, "Members", member_error={"id": membership.id, "message": errors})
    name = membership.user.get_username()
    try:
        if form.cleaned_data["action"] == "remove":
            membership_remove(membership=membership, actor=request.user)
            messages.success(request, f"{name} was removed from {membership.organization.name}.")
        else:
            changed = membership_role_change(membership=membership, role=form.cleaned_data["role"], actor=request.user)
            messages.success(request, f"{name} is now {changed.get_role_display().lower()}.")
    except MembershipError as exc:
        return _refused(request, page, "Members", status=403 if isinstance(exc, MembershipForbidden) else 400,
                        member_error={"id": membership.id, "message": str(exc)})
    return _back(page, "members")


@project_page(manage=True)
@require_POST
def quality_update(request: HttpRequest, page: Page) -> HttpResponse:
    form = QualityForm(request.POST, instance=_quality_row(page))
    if not form.is_valid():
        return _refused(request, page, "Quality", quality_form=form)
    # The form merges the evaluators (commit=False); the service saves the row and audits the change.
    quality_settings_save(settings_row=form.save(commit=False), actor=request.user)
    messages.success(request, "Quality settings saved. Ingest picks up redaction changes within seconds; "
                              "evaluator changes apply to calls evaluated from now on.")
    return _back(page, "quality")


@project_page(manage=True)
@require_POST
def retention_update(request: HttpRequest, page: Page) -> HttpResponse:
    form = RetentionForm(request.POST, project=page.project)
    if not form.is_valid():
        return _refused(request, page, "Retention", retention_form=form)
    values = {name: form.cleaned_data[name] for name, _ in RETENTION_FIELDS}
    losses = retention_losses(project=page.project, values=values)
    for loss in losses:
        loss["label"] = dict(RETENTION_FIELDS)[loss["name"]]
    if losses and request.POST.get("confirm") != "yes":
        # Shorter periods delete data for good: nothing is saved until the owner has seen how much.
        return _render(request, page, retention_form=form, retention_confirm={
            "losses": losses, "values": [(name, "" if v is None else v)
                                         for name, v in values.items()]})
    project_retention_update(project=page.project, actor=request.user,
                             **{name: form.cleaned_data[name] for name, _ in RETENTION_FIELDS})
    messages.success(request, "Retention saved. The hourly purge applies it; shorter periods delete older "
                              "data for good.")
    return _back(page, "retention")


@project_page(manage=True)
@require_POST
def price_add(request: HttpRequest, page: Page) -> HttpResponse:
    form = PriceForm(request.POST, project=page.project)
    if not form.is_valid():
        return _refused(request, page, "Model prices", price_form=form)
    data = form.cleaned_data
    price = price_override_create(
        project=page.project, model=data["model"], provider=data["provider"], match_pattern=data["match_pattern"],
        input_per_mtok=data["input_per_mtok"], output_per_mtok=data["output_per_mtok"],
        cached_input_per_mtok=data["cached_input_per_mtok"], effective_date=data["effective_date"], actor=request.user)
    # Stored calls are NOT re-priced here, on purpose. pricing.services.costs_recompute only rewrites
    # raw calls, while every chart reads rollups, so a real fix also needs rollups_rebuild, which
    # refolds every call of the project in those days under the project's exclusive fold lock
    # (ingest folding waits meanwhile). Over a 90-day window that is minutes of work: not for a web
    # request, and there is no background task for it yet. Nor can it be narrowed to this model:
    # recompute_costs --model is an exact name, but a price also covers snapshots, prefixed names
    # and pattern matches. So the page names the two commands, scoped to this project and window.
    start = (timezone.now() - timedelta(days=page.project.retention("call_days"))).date()
    window = f"--project {page.project.id} --from {start} --to {timezone.now().date() + timedelta(days=1)}"
    messages.success(request, (
        f"Price for {price.model} added: ${price.input_per_mtok.normalize():f} input, "
        f"${price.output_per_mtok.normalize():f} output per 1M tokens. New calls use it within "
        f"{settings.PRICE_CACHE_SECONDS} s. Calls already stored keep their cost; to re-price them run: "
        f"manage.py recompute_costs {window}, then manage.py rebuild_rollups {window}."))
    return _back(page, "prices")


@project_page(manage=True)
@require_POST
def price_delete(request: HttpRequest, page: Page, price_id: int) -> HttpResponse:
    price = get_object_or_404(ModelPrice, pk=price_id, project=page.project)  # shipped rows have no project: 404
    price_override_delete(price=price, actor=request.user)
    messages.success(request, f"Price for {price.model} from {price.effective_date} deleted. New calls fall back "
                              "to the shipped price, if there is one; stored calls keep their cost.")
    return _back(page, "prices")


@project_page(manage=True)
@require_POST
def judge_update(request: HttpRequest, page: Page, judge_id: int | None = None) -> HttpResponse:
    judge = get_object_or_404(Judge, pk=judge_id, project=page.project) if judge_id else None
    form = JudgeForm(request.POST, instance=judge, project=page.project)
    if not form.is_valid():
        return _refused(request, page, "LLM judges", judge_form=form)
    saved = judge_save(judge=form.save(commit=False), actor=request.user)
    messages.success(request, f"{saved} saved. It judges calls evaluated from now on.")
    return _back(page, "judges")


@project_page(manage=True)
@require_POST
def judge_remove(request: HttpRequest, page: Page, judge_id: int) -> HttpResponse:
    judge = get_object_or_404(Judge, pk=judge_id, project=page.project)
    judge_delete(judge=judge, actor=request.user)
    messages.success(request, f"{judge} deleted. Its scores and flags stay on the calls it judged.")
    return _back(page, "judges")


@project_page(manage=True)
@require_POST
def rules_update(request: HttpRequest, page: Page) -> HttpResponse:
    form = RulesForm(request.POST, instance=_quality_row(page))
    if not form.is_valid():
        return _refused(request, page, "Custom rules", rules_form=form)
    quality_settings_save(settings_row=form.save(commit=False), actor=request.user)
    messages.success(request, "Custom rules saved. They apply to calls evaluated from now on.")
    return _back(page, "judges")
