"""Recompute stored call costs for a time range after a price change."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pricing.services import costs_recompute


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not an ISO date or datetime (e.g. 2026-11-01 or 2026-11-01T12:00Z)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class Command(BaseCommand):
    help = "Recompute cost of calls with start time in [--from, --to) whose cost was not provided by the client."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="start", required=True)
        parser.add_argument("--to", dest="end", required=True)
        parser.add_argument("--project", type=int, default=None, help="project id (default: all projects)")
        parser.add_argument("--model", default=None, help="only calls of this exact model name")

    def handle(self, *args: Any, start: str, end: str, project: int | None, model: str | None, **opts: Any) -> None:
        count = costs_recompute(project_id=project, start=_when(start), end=_when(end), model=model)
        self.stdout.write(f"recomputed cost of {count} calls")
