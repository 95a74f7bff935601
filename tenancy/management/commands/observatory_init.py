"""First-run setup: an admin, an organization, a demo project and a key, printed once."""
from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from tenancy.services import api_key_create, organization_create, project_create


class Command(BaseCommand):
    help = "Create the first admin user, a demo organization and project, and an API key (only once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@example.com")

    def handle(self, *args: Any, username: str, email: str, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Observatory is already initialised (an admin exists); nothing to do.")
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = User.objects.create_superuser(username=username, email=email, password=password)
            org = organization_create(name="Demo", owner=user, slug="demo")
            project = project_create(organization=org, name="Demo project", slug="demo")
            issued = api_key_create(project=project, scopes=["ingest", "read"], name="first key", created_by=user)
        site = settings.SITE_URL
        self.stdout.write(self.style.SUCCESS("\nFirst run: Observatory is set up. Save these now; they are shown once.\n"))
        self.stdout.write(f"  Sign in:      {site}/   user: {username}   password: {password}   (admin: {site}/admin/)")
        self.stdout.write(f"  Project:      Demo project (id {project.id})")
        self.stdout.write(f"  API key:      {issued.raw_key}   (scopes: ingest, read)\n")
        self.stdout.write("  Send a first event:\n")
        self.stdout.write(
            f"    curl -X POST {site}/api/v1/ingest -H 'Authorization: Bearer {issued.raw_key}' \\\n"
            "      -H 'Content-Type: application/json' \\\n"
            "      -d '{\"events\":[{\"type\":\"call\",\"id\":\"hello-1\",\"model\":\"gpt-4o-mini\",\"provider\":\"openai\","
            "\"input\":\"Hi\",\"output\":\"Hello!\",\"latency_ms\":420,\"usage\":{\"input_tokens\":8,\"output_tokens\":3}}]}'\n")
        self.stdout.write(f"    curl {site}/api/v1/calls -H 'Authorization: Bearer {issued.raw_key}'\n")
