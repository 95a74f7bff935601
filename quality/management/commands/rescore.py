"""Queue a time range's calls for evaluation again, after evaluators or their settings changed."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pricing.management.commands.recompute_costs import _when
from quality.services import calls_requeue, evaluations_request


class Command(BaseCommand):
    help = "Re-score the calls of a time range with the project's current evaluators (done by the workers)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="start", required=True, help="ISO date or date-time (UTC if a date)")
        parser.add_argument("--to", dest="end", required=True, help="exclusive")
        parser.add_argument("--project", type=int, help="a project id (default: every project)")

    def handle(self, *args: Any, start: str, end: str, project: int | None, **options: Any) -> None:
        lo, hi = _when(start), _when(end)
        if hi <= lo:
            raise CommandError("--to must be after --from")
        queued = calls_requeue(start=lo, end=hi, project_id=project)
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SELECT DISTINCT project_id FROM quality_pendingevaluation")
            for (project_id,) in cur.fetchall():
                evaluations_request(project_id)
        self.stdout.write(f"Queued {queued} calls for evaluation; the workers re-score them.")
