"""The notification outbox: rows written in the evaluation's transaction (notifications_for),
claimed by alerts.tasks.deliver with a conditional UPDATE (as healthchecks' sendalerts) and sent
through alerts/transports/, every try logged as a DeliveryAttempt.

A worker killed mid-send leaves its claim to go stale (ALERTS_CLAIM_STALE_SECONDS) and the row is
sent again with the same delivery id, which receivers use to drop the duplicate.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse

from alerts.models import Channel, DeliveryAttempt, Notification, NotificationStatus, Route
from alerts.registry import Transition
from alerts.transports import TRANSPORTS, TransportError
from alerts.transports.base import Attempt

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8  # outbox rounds (each round retries 429/5xx itself, see HttpTransport.post)
CLAIM_BATCH = 50


def _fmt(value: float | None) -> str:
    if value is None:
        return "no value"
    return f"{value:.4g}"


def message_for(transition: Transition) -> dict[str, Any]:
    rule, instance, incident, event = transition.rule, transition.instance, transition.incident, transition.event
    resolved = transition.kind == "resolve"
    group = instance.group_label
    verb = "resolved" if resolved else ("no data" if event.to_state == "no_data" else event.severity or "firing")
    summary = f"{rule.name} [{group}] {verb}: {rule.measure} = {_fmt(event.value)}"
    if event.threshold is not None and not resolved:
        summary += f" (threshold {_fmt(event.threshold)})"
    url = ""
    if incident is not None:
        url = settings.SITE_URL + reverse("alerts-incident", args=[rule.project_id, incident.id])
    return {
        "type": "alert.resolved" if resolved else "alert.triggered", "summary": summary,
        "project": {"id": rule.project_id, "name": rule.project.name},
        "rule": {"id": rule.id, "name": rule.name}, "instance_id": instance.id,
        "incident": {"id": incident.id if incident else None, "url": url},
        "severity": event.severity or (incident.severity if incident else rule.severity),
        "state": event.to_state, "group": instance.group, "measure": rule.measure, "value": event.value,
        "threshold": event.threshold, "window_seconds": event.window_seconds, "at": event.at.isoformat(),
        "note": event.note,
    }


def notifications_for(transition: Transition) -> list[Notification]:
    """Outbox rows for the channels routed for the change's severity; delivery is enqueued on commit."""
    incident = transition.incident
    severity = incident.severity if incident is not None else transition.event.severity or transition.rule.severity
    routes = Route.objects.filter(rule=transition.rule, channel__disabled_reason="").select_related("channel")
    message = message_for(transition)
    now = datetime.now(timezone.utc)
    rows = [Notification(project_id=transition.rule.project_id, channel=route.channel, incident=incident,
                         event=transition.event, kind=transition.kind, message=message, next_attempt_at=now)
            for route in routes if severity in route.severities]
    Notification.objects.bulk_create(rows)
    if rows:
        transaction.on_commit(_enqueue_delivery)
    return rows


def _enqueue_delivery() -> None:
    from alerts.tasks import deliver

    try:
        deliver.delay()
    except Exception:  # broker down: beat's deliver sweep picks the rows up
        log.warning("alerts: could not enqueue delivery; the periodic sweep will send it", exc_info=True)


def notifications_claim(*, now: datetime, limit: int = CLAIM_BATCH) -> list[int]:
    """Claim due outbox rows: ids picked in a MATERIALIZED CTE, the UPDATE re-checks each row, so
    two workers never claim the same row (a claim older than the stale limit is taken over)."""
    stale = now - timedelta(seconds=settings.ALERTS_CLAIM_STALE_SECONDS)
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH due AS MATERIALIZED (
                SELECT id FROM alerts_notification
                WHERE status = 'pending' AND next_attempt_at <= %(now)s
                  AND (claimed_at IS NULL OR claimed_at < %(stale)s)
                ORDER BY next_attempt_at LIMIT %(limit)s
            )
            UPDATE alerts_notification n SET claimed_at = %(now)s
            FROM due WHERE n.id = due.id AND n.status = 'pending'
              AND (n.claimed_at IS NULL OR n.claimed_at < %(stale)s)
            RETURNING n.id
            """, {"now": now, "stale": stale, "limit": limit})
        return [row[0] for row in cur.fetchall()]


def notifications_deliver_due(*, now: datetime | None = None) -> int:
    sent = 0
    while ids := notifications_claim(now=now or datetime.now(timezone.utc)):
        for notification in Notification.objects.filter(id__in=ids).select_related("channel"):
            notification_send(notification=notification)
            sent += 1
    return sent


def channel_disable(*, channel: Channel, reason: str) -> None:
    channel.disabled_reason = reason[:500]
    channel.disabled_at = datetime.now(timezone.utc)
    Channel.objects.filter(pk=channel.pk).update(disabled_reason=channel.disabled_reason,
                                                 disabled_at=channel.disabled_at)


def notification_send(*, notification: Notification) -> Notification:
    """One delivery round of a claimed notification; the row ends sent, failed, or pending with
    its next try scheduled (backoff, or the receiver's Retry-After)."""
    channel = notification.channel
    now = datetime.now(timezone.utc)

    def record(attempt: Attempt) -> None:
        notification.attempts += 1
        DeliveryAttempt.objects.create(notification=notification, channel=channel, at=datetime.now(timezone.utc),
                                       ok=attempt.ok, response_code=attempt.response_code, error=attempt.error,
                                       duration_ms=attempt.duration_ms)

    update: dict[str, Any]
    if channel.disabled_reason and notification.kind != "test":
        update = {"status": NotificationStatus.FAILED, "last_error": f"channel disabled: {channel.disabled_reason}"}
    else:
        transport = TRANSPORTS[channel.kind](channel, log=record)
        try:
            transport.notify(notification)
            update = {"status": NotificationStatus.SENT, "sent_at": datetime.now(timezone.utc), "last_error": ""}
        except TransportError as exc:
            update = {"last_error": str(exc)[:500]}
            if exc.disable:
                channel_disable(channel=channel, reason=f"{exc} (at {now:%Y-%m-%d %H:%M} UTC)")
            if exc.permanent or notification.attempts >= MAX_ATTEMPTS or notification.kind == "test":
                update["status"] = NotificationStatus.FAILED
            else:
                wait = max(exc.retry_after or 0, settings.ALERTS_RETRY_BASE_SECONDS * 2 ** min(notification.attempts, 10))
                update.update(next_attempt_at=now + timedelta(seconds=wait), claimed_at=None)
        except Exception as exc:  # a bug in a transport: keep the row for a later round, say why
            log.exception("alerts: transport %s failed", channel.kind)
            record(Attempt(False, None, f"internal error: {type(exc).__name__}", 0))
            update = {"last_error": f"internal error: {type(exc).__name__}"[:500],
                      "next_attempt_at": now + timedelta(minutes=5), "claimed_at": None}
    update["attempts"] = notification.attempts
    Notification.objects.filter(pk=notification.pk).update(**update)
    for name, value in update.items():
        setattr(notification, name, value)
    return notification
