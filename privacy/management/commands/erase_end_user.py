"""Erase everything about one end user of a project, now, in this process (docs/privacy.md)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.services import end_user_erase
from tenancy.models import Project


class Command(BaseCommand):
    help = "Erase one end user's calls, payloads, scores, feedback and per-user rollups in a project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, required=True, help="project id")
        parser.add_argument("--user-id", required=True, help="the end user's id, as the calls carry it")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, project: int, user_id: str, yes: bool, **options: Any) -> None:
        target = Project.objects.select_related("organization").filter(pk=project).first()
        if target is None:
            raise CommandError(f"no project with id {project}")
        if not user_id:
            raise CommandError("--user-id must not be empty")
        if not yes:
            answer = input(f"Erase everything about end user {user_id!r} in {target}? This cannot be undone. "
                           "Type the user id again to confirm: ")
            if answer != user_id:
                raise CommandError("not confirmed; nothing was erased")
        counts = end_user_erase(project=target, user_id=user_id, actor="system:erase_end_user")
        for table, rows in sorted(counts.items()):
            self.stdout.write(f"{table}: {rows}")
        self.stdout.write(self.style.SUCCESS(f"Erased ({sum(counts.values())} rows); the receipt is in the audit log."))
