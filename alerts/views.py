"""The alerts pages: rules with their state, firing and recent incidents, channels and silences;
the rule and channel forms; the incident page with its timeline. Viewers read; members
acknowledge and silence; owners and admins edit (the same rules as the API)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from alerts import selectors, services
from alerts.forms import COMMON_MEASURES, ChannelForm, RuleForm, SilenceForm
from alerts.models import Channel, Incident, Rule, Silence
from alerts.registry import RuleInvalid
from alerts.sparklines import rule_sparklines
from dashboards.context import Page, project_page
from dashboards.views.common import render_page
from tenancy.models import Role

RESPOND_ROLES = {Role.OWNER, Role.ADMIN, Role.MEMBER}
NEW_SECRET = "obs_alerts_new_secret"  # session entry: a generated signing secret until its one showing
NEW_SECRET_SECONDS = 600


def _can_respond(page: Page) -> bool:
    return page.role in RESPOND_ROLES


def _render(request: HttpRequest, page: Page, template: str, context: dict[str, Any], *, title: str,
            status: int = 200) -> HttpResponse:
    context = {"can_edit": page.can_manage, "can_respond": _can_respond(page), **context}
    return render_page(request, page, template, context, active="alerts", title=title, toolbar=False, charts=False,
                       status=status)


def _back(page: Page, anchor: str = "") -> HttpResponse:
    return redirect(reverse("alerts", args=[page.project.id]) + (f"#{anchor}" if anchor else ""))


def _overview(request: HttpRequest, page: Page, *, silence_form: SilenceForm | None = None,
              status: int = 200) -> HttpResponse:
    rules = list(selectors.rules_for(project_id=page.project.id))
    lines = rule_sparklines(rules, datetime.now(timezone.utc))  # one read per distinct scope, not per rule
    rows = [{"rule": r, "state": selectors.rule_state(r), "sparkline": lines.get(r.id),
             "firing": [i for i in r.instances.all() if i.state in ("firing", "no_data", "pending")]} for r in rules]
    context = {
        "rules": rows, "firing": selectors.incidents_for(project_id=page.project.id, open_only=True),
        "recent": selectors.incidents_for(project_id=page.project.id, limit=20),
        "channels": selectors.channels_for(project_id=page.project.id),
        "silences": selectors.silences_active(project_id=page.project.id),
        "silence_form": silence_form or SilenceForm(rules=rules),
    }
    return _render(request, page, "alerts/alerts.html", context, title="Alerts", status=status)


@project_page()
def alerts_page(request: HttpRequest, page: Page) -> HttpResponse:
    return _overview(request, page)


def _slo(rule: Rule | None) -> list[dict[str, Any]]:
    """A saved burn-rate rule's error budget per group (empty otherwise, or when the read fails:
    the form must open whatever the rollups say)."""
    if rule is None or rule.condition != "burn_rate":
        return []
    try:
        return selectors.slo_status(rule=rule, now=datetime.now(timezone.utc))
    except Exception:  # noqa: BLE001 - a source error is shown on the rule's state, not here
        return []


def _rule_form_page(request: HttpRequest, page: Page, form: RuleForm, rule: Rule | None, status: int = 200) -> HttpResponse:
    context = {"form": form, "rule": rule, "measures": COMMON_MEASURES, "can_edit": page.can_manage,
               "can_respond": _can_respond(page), "slo": _slo(rule)}
    # charts: plotly.js for the preview's chart, which arrives later through htmx.
    return render_page(request, page, "alerts/rule_form.html", context, active="alerts",
                       title=rule.name if rule else "New rule", toolbar=False, charts=True, status=status)


def _channels(page: Page) -> list[Channel]:
    return list(Channel.objects.filter(project=page.project).order_by("name", "id"))


def _rule_save(request: HttpRequest, page: Page, rule: Rule | None) -> HttpResponse:
    form = RuleForm(request.POST, channels=_channels(page))
    if form.is_valid():
        fields, routes = form.service_fields()
        try:
            if rule is None:
                rule = services.rule_create(project=page.project, actor=request.user, routes=routes, **fields)
            else:
                services.rule_update(rule=rule, actor=request.user, routes=routes, **fields)
            messages.success(request, f"Rule “{rule.name}” saved: it is evaluated every minute.")
            return _back(page, "rules")
        except RuleInvalid as exc:
            form.add_service_error(exc.field, str(exc))
    return _rule_form_page(request, page, form, rule, status=400)


@project_page(manage=True)
def rule_new(request: HttpRequest, page: Page) -> HttpResponse:
    if request.method == "POST":
        return _rule_save(request, page, None)
    form = RuleForm(channels=_channels(page), initial={"condition": "threshold", "no_data_policy": "ok",
                                                       "severity": "critical", "op": "above"})
    return _rule_form_page(request, page, form, None)


@project_page(manage=True)
def rule_edit(request: HttpRequest, page: Page, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(Rule, project=page.project, pk=rule_id)
    if request.method == "POST":
        return _rule_save(request, page, rule)
    form = RuleForm(channels=_channels(page), initial=RuleForm.initial_for(rule))
    return _rule_form_page(request, page, form, rule)


@project_page(manage=True)
@require_POST
def rule_preview(request: HttpRequest, page: Page) -> HttpResponse:
    """The form's rule, unsaved: its metric over 7 days per group with the levels, and the backtest.
    An htmx fragment of the rule page; without JavaScript the same fragment as a page."""
    from alerts.backtest import rule_backtest as run

    data = request.POST.copy()
    if not data.get("name", "").strip():
        data["name"] = "(preview)"  # the live preview runs before a name is typed
    form = RuleForm(data, channels=_channels(page))
    context: dict[str, Any] = {"page": page}
    if not data.get("measure", "").strip():
        context["hint"] = "Choose a metric to see the preview."
    elif form.is_valid():
        fields, _ = form.service_fields()
        rule = Rule(project=page.project, **fields)
        try:
            services.rule_validate(rule)
        except RuleInvalid as exc:
            context["error"] = f"{exc.field}: {exc}"
        else:
            context.update(figure=selectors.rule_preview_chart(rule, datetime.now(timezone.utc)),
                           result=run(rule=rule))
    else:
        context["error"] = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
    if getattr(request, "htmx", False):
        return render(request, "alerts/_preview.html", context)
    return render_page(request, page, "alerts/preview.html", context, active="alerts", title="Preview",
                       toolbar=False, charts=True)


@project_page(manage=True)
def rule_backtest(request: HttpRequest, page: Page, rule_id: int) -> HttpResponse:
    """The backtest fragment of the rule page (htmx), or the page itself without JavaScript."""
    from alerts.backtest import rule_backtest as run

    rule = get_object_or_404(Rule, project=page.project, pk=rule_id)
    result = run(rule=rule)
    return render(request, "alerts/_backtest.html", {"result": result, "rule": rule, "page": page})


@project_page(manage=True)
@require_POST
def rule_remove(request: HttpRequest, page: Page, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(Rule, project=page.project, pk=rule_id)
    services.rule_delete(rule=rule, actor=request.user)
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return _back(page, "rules")


@project_page()
def incident_page(request: HttpRequest, page: Page, incident_id: int) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.select_related("rule", "instance", "acknowledged_by"),
                                 project=page.project, pk=incident_id)
    now = datetime.now(timezone.utc)
    start, end = selectors.incident_span(incident, now)
    filters = [(dim, value) for dim, values in selectors.incident_filters(incident).items()
               if dim in selectors.EXPLORER_DIMENSIONS for value in values]
    calls_url = reverse("calls", args=[page.project.id]) + "?" + urlencode(
        [("range", "custom"), ("from", start.isoformat(timespec="minutes")),
         ("to", end.isoformat(timespec="minutes")), *filters])
    context = {"incident": incident, "timeline": selectors.incident_timeline(incident=incident),
               "figure": selectors.incident_chart(incident, now), "calls_url": calls_url}
    return render_page(request, page, "alerts/incident.html",
                       {"can_edit": page.can_manage, "can_respond": _can_respond(page), **context}, active="alerts",
                       title=f"Incident {incident.id}", toolbar=False, charts=context["figure"] is not None)


@project_page()
@require_POST
def incident_ack(request: HttpRequest, page: Page, incident_id: int) -> HttpResponse:
    if not _can_respond(page):
        raise PermissionDenied("Viewers cannot acknowledge incidents.")
    incident = get_object_or_404(Incident.objects.select_related("rule", "project"), project=page.project,
                                 pk=incident_id)
    services.incident_acknowledge(incident=incident, user=request.user)
    messages.success(request, "Incident acknowledged.")
    return redirect("alerts-incident", page.project.id, incident.id)


def _channel_page(request: HttpRequest, page: Page, form: ChannelForm, channel: Channel | None,
                  status: int = 200) -> HttpResponse:
    shown = None
    entry = request.session.get(NEW_SECRET)
    if channel is not None and entry and entry.get("channel") == channel.id:
        del request.session[NEW_SECRET]
        shown = entry["secret"] if time.time() - entry.get("at", 0) <= NEW_SECRET_SECONDS else None
    context = {"form": form, "channel": channel, "new_secret": shown,
               "attempts": selectors.channel_attempts(channel=channel) if channel else [],
               "console_email": channel is not None and channel.kind == "email" and not _smtp_configured()}
    response = _render(request, page, "alerts/channel_form.html", context,
                       title=channel.name if channel else "New channel", status=status)
    add_never_cache_headers(response)  # may hold a signing secret
    return response


def _smtp_configured() -> bool:
    from django.conf import settings

    return bool(settings.EMAIL_HOST)  # without it settings.py picks the console backend


@project_page(manage=True)
def channel_new(request: HttpRequest, page: Page) -> HttpResponse:
    if request.method != "POST":
        return _channel_page(request, page, ChannelForm(initial={"kind": "email"}), None)
    form = ChannelForm(request.POST)
    if form.is_valid():
        config, secrets = form.service_fields()
        try:
            channel, shown = services.channel_create(project=page.project, actor=request.user,
                                                     kind=form.cleaned_data["kind"], name=form.cleaned_data["name"],
                                                     config=config, secrets=secrets)
        except RuleInvalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            if shown.get("secret"):
                request.session[NEW_SECRET] = {"channel": channel.id, "secret": shown["secret"], "at": time.time()}
            messages.success(request, f"Channel “{channel.name}” created. Send a test to check it.")
            return redirect("alerts-channel-edit", page.project.id, channel.id)
    return _channel_page(request, page, form, None, status=400)


@project_page(manage=True)
def channel_edit(request: HttpRequest, page: Page, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel.objects.select_related("project"), project=page.project, pk=channel_id)
    if request.method != "POST":
        initial = {"kind": channel.kind, "name": channel.name, "to": ", ".join(channel.config.get("to", []))}
        return _channel_page(request, page, ChannelForm(initial=initial), channel)
    if request.POST.get("delete"):
        services.channel_delete(channel=channel, actor=request.user)
        messages.success(request, f"Channel “{channel.name}” deleted.")
        return _back(page, "channels")
    form = ChannelForm(request.POST)
    if form.is_valid():
        config, secrets = form.service_fields()
        try:
            services.channel_update(channel=channel, actor=request.user, name=form.cleaned_data["name"],
                                    config=config if channel.kind == "email" else None, secrets=secrets or None)
        except RuleInvalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            messages.success(request, f"Channel “{channel.name}” saved.")
            return redirect("alerts-channel-edit", page.project.id, channel.id)
    return _channel_page(request, page, form, channel, status=400)


@project_page(manage=True)
@require_POST
def channel_send_test(request: HttpRequest, page: Page, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel.objects.select_related("project"), project=page.project, pk=channel_id)
    notification = services.channel_test(channel=channel, actor=request.user)
    if notification.status == "sent":
        note = "Test notification sent."
        if channel.kind == "email" and not _smtp_configured():
            note += " No SMTP server is configured (OBSERVATORY_EMAIL_HOST), so it was printed to the console."
        messages.success(request, note)
    else:
        messages.error(request, f"The test notification failed: {notification.last_error}")
    return redirect("alerts-channel-edit", page.project.id, channel.id)


@project_page()
@require_POST
def silence_new(request: HttpRequest, page: Page) -> HttpResponse:
    if not _can_respond(page):
        raise PermissionDenied("Viewers cannot create silences.")
    rules = list(Rule.objects.filter(project=page.project).order_by("name"))
    form = SilenceForm(request.POST, rules=rules)
    if form.is_valid():
        d = form.cleaned_data
        rule = next((r for r in rules if r.id == d["rule"]), None)
        group = {d["dimension"]: d["value"]} if d.get("dimension") else {}
        try:
            services.silence_create(project=page.project, actor=request.user, rule=rule, group=group,
                                    ends_at=datetime.now(timezone.utc) + timedelta(hours=d["hours"]),
                                    reason=d.get("reason", ""))
        except RuleInvalid as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Silence created: state changes are still recorded, nothing is sent.")
            return _back(page, "silences")
    messages.error(request, "The silence was not created: see Silences below.")
    return _overview(request, page, silence_form=form, status=400)


@project_page()
@require_POST
def silence_stop(request: HttpRequest, page: Page, silence_id: int) -> HttpResponse:
    if not _can_respond(page):
        raise PermissionDenied("Viewers cannot end silences.")
    silence = get_object_or_404(Silence.objects.select_related("project"), project=page.project, pk=silence_id)
    services.silence_end(silence=silence, actor=request.user)
    messages.success(request, "Silence ended.")
    return _back(page, "silences")
