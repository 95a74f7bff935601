"""Rebuild rollups of a range from raw calls (after a price change or a fix)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pricing.management.commands.recompute_costs import _when
from rollups.services import rollups_rebuild
from tenancy.models import Project


class Command(BaseCommand):
    help = "Recompute rollups of calls with start time in [--from, --to), widened to whole UTC days."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="start", required=True)
        parser.add_argument("--to", dest="end", required=True)
        parser.add_argument("--project", type=int, default=None, help="project id (default: every project)")

    def handle(self, *args: Any, start: str, end: str, project: int | None, **options: Any) -> None:
        lo, hi = _when(start), _when(end)
        if lo >= hi:
            raise CommandError("--from must be before --to")
        projects = Project.objects.filter(pk=project) if project else Project.objects.all()
        if project and not projects.exists():
            raise CommandError(f"No project with id {project}.")
        for target in projects:
            day_lo, day_hi, folded = rollups_rebuild(project_id=target.id, start=lo, end=hi)
            self.stdout.write(f"project {target.id}: rebuilt {day_lo:%Y-%m-%d}..{day_hi:%Y-%m-%d} from {folded} calls")
