"""Erasure requests for one end user (the `user_id` of calls): their status and what was removed.

A request never holds the end user's id in clear (the point is that nothing of it remains): only a
keyed hash (privacy.services.user_id_digest). The id travels to the worker in the task's arguments.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models


class ErasureStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Erasure(models.Model):
    project = models.ForeignKey("tenancy.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    user_digest = models.CharField(max_length=64)  # privacy.services.user_id_digest, never the id
    status = models.CharField(max_length=8, choices=ErasureStatus.choices, default=ErasureStatus.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_by_key_id = models.BigIntegerField(null=True, blank=True)  # asked over the API with a key
    requested_by_label = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)  # {table: rows removed}, updated per batch
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            # GET /api/v1/end-users/erasures/<id> and the user page's "latest erasure" of a project.
            models.Index(fields=["project", "-created_at"], name="erasure_project_time"),
        ]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.status})"
