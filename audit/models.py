"""The audit log: one append-only row per change to an organization's or project's configuration.

Rows are written by audit.services.audit_record inside the transaction of the change they describe,
and never updated or deleted by the application; a trigger (migration 0001) refuses UPDATE and
DELETE in the database too. Organization, project and actor are plain ids without foreign-key
constraints, so the history outlives what it describes (a deleted project or user keeps its entries).
"""
from __future__ import annotations

from django.db import models


class ActorKind(models.TextChoices):
    USER = "user", "User"
    API_KEY = "api_key", "API key"
    SYSTEM = "system", "System"


class AuditEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    # DO_NOTHING and no constraint: deleting an organization or project must not try to delete (or
    # be blocked by) its history; the ids stay as they were.
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.DO_NOTHING, db_constraint=False,
                                     related_name="+", db_index=False)
    project = models.ForeignKey("tenancy.Project", on_delete=models.DO_NOTHING, db_constraint=False, null=True,
                                blank=True, related_name="+", db_index=False)
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_api_key_id = models.BigIntegerField(null=True, blank=True)
    # Who, as it read at the time: a username, "key obs_AbCd…" or "system:<action>".
    actor_label = models.CharField(max_length=255)
    action = models.CharField(max_length=64)  # "<target>.<verb>", e.g. "api_key.revoked"
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_label = models.CharField(max_length=255, blank=True, default="")
    # The fields the change touched, before and after (secrets masked by audit.services).
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            # The settings page and GET /api/v1/audit: a project's entries, newest first, keyset
            # pagination on (at, id); action and actor filters are applied on this range.
            models.Index(fields=["project", "-at", "-id"], name="audit_project_time"),
            # The organization-wide entries (members, roles) shown with every project of the organization.
            models.Index(fields=["organization", "-at", "-id"], name="audit_org_time"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_label}"
