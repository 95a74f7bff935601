"""Erasure requests in the admin: read-only (they are made from the user page, the API or the command)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from privacy.models import Erasure


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "requested_by_label", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in Erasure._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
