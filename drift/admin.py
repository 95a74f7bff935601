"""Admin screens: a project's drift settings (until the Settings page has a form), runs read-only."""
from __future__ import annotations

from django.contrib import admin

from drift.models import DriftRun, DriftSettings


@admin.register(DriftSettings)
class DriftSettingsAdmin(admin.ModelAdmin):
    list_display = ("project", "enabled", "updated_at")
    raw_id_fields = ("project",)


@admin.register(DriftRun)
class DriftRunAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "status", "created_at", "finished_at")
    list_filter = ("status",)
    raw_id_fields = ("project", "requested_by")
    readonly_fields = [f.name for f in DriftRun._meta.fields]
