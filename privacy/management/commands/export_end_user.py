"""Write one end user's data in a project as a JSON document (docs/privacy.md)."""
from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.services import end_user_export
from tenancy.models import Project


class Command(BaseCommand):
    help = "Export one end user's calls (with payloads), scores and feedback in a project as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, required=True, help="project id")
        parser.add_argument("--user-id", required=True, help="the end user's id, as the calls carry it")
        parser.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")

    def handle(self, *args: Any, project: int, user_id: str, output: str, **options: Any) -> None:
        target = Project.objects.filter(pk=project).first()
        if target is None:
            raise CommandError(f"no project with id {project}")
        if not user_id:
            raise CommandError("--user-id must not be empty")
        if output == "-":
            for chunk in end_user_export(project=target, user_id=user_id):
                self.stdout.write(chunk, ending="")
            self.stdout.write("")
            return
        with open(output, "w", encoding="utf-8") as handle:
            for chunk in end_user_export(project=target, user_id=user_id):
                handle.write(chunk)
        sys.stderr.write(f"wrote {output}\n")
