"""Create a project API key and print it once: `manage.py create_api_key <org>/<project>`."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenancy.models import Project
from tenancy.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a project (ORG_SLUG/PROJECT_SLUG or project id) and print it once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("project", help="ORG_SLUG/PROJECT_SLUG, or the project's numeric id")
        parser.add_argument("--scopes", default="ingest", help="comma-separated: ingest,read (default ingest)")
        parser.add_argument("--name", default="", help="a label to tell keys apart")

    def handle(self, *args: Any, project: str, scopes: str, name: str, **options: Any) -> None:
        if project.isdigit():
            target = Project.objects.filter(pk=int(project)).first()
        else:
            org_slug, _, project_slug = project.partition("/")
            target = Project.objects.filter(organization__slug=org_slug, slug=project_slug).first()
        if target is None:
            raise CommandError(f"No project {project!r}. Use ORG_SLUG/PROJECT_SLUG or a project id.")
        try:
            issued = api_key_create(project=target, scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                                    name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(issued.raw_key)
