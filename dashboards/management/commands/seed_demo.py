"""`manage.py seed_demo`: fill a project with realistic demo telemetry (see dashboards/demo.py)."""
from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboards.demo import XSS_ID, demo_project, demo_seed, seed_exists
from telemetry.models import Call
from tenancy.models import Project


def _positive(cast: type) -> Any:
    def parse(value: str) -> Any:
        number = cast(value)
        if number <= 0:
            raise ValueError(value)
        return number
    parse.__name__ = cast.__name__  # argparse names the type in its error message
    return parse


class Command(BaseCommand):
    help = (
        "Seed a project with a few days of realistic LLM telemetry (calls across models, prompt versions, "
        "features and environments; errors, slow tails, multi-span traces, scores, feedback, PII, prompt "
        "injections and refusals) through the real ingest path, then process and evaluate it inline. "
        "Idempotent per seed: event ids derive from --seed, and a seed already in the project is skipped; "
        "pass another --seed to add more traffic. Five fixed showcase calls (demo-xss, demo-pii, "
        "demo-injection, demo-refusal, demo-error) are written once, ten to fifteen minutes ago."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", default=None,
                            help="ORG_SLUG/PROJECT_SLUG or a project id (default: demo/demo, the project "
                                 "observatory_init makes; created if missing)")
        parser.add_argument("--calls", type=_positive(int), default=1500,
                            help="model calls to generate (default 1500, about 30 s with evaluation); traces add "
                                 "retrieval, tool and root spans")
        parser.add_argument("--days", type=_positive(float), default=3.0,
                            help="days of traffic, ending now (default 3)")
        parser.add_argument("--seed", type=int, default=42, help="random seed; also names the events (default 42)")
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing if the project already has calls (used by `dev.py run --demo`)")
        parser.add_argument("--no-process", action="store_true",
                            help="only ingest; leave processing and evaluation to the Celery workers")

    def handle(self, *args: Any, project: str | None, calls: int, days: float, seed: int, if_empty: bool,
               no_process: bool, **options: Any) -> None:
        try:
            target = demo_project(project)
        except Project.DoesNotExist:
            raise CommandError(f"No project {project!r}. Use ORG_SLUG/PROJECT_SLUG or a project id.") from None
        name = f"{target.name} ({target.organization.slug}/{target.slug}, id {target.id})"
        if if_empty and Call.objects.filter(project_id=target.id).exists():
            self.stdout.write(f"Demo data: {name} already has calls; not seeding (--if-empty).")
            return
        if seed_exists(project_id=target.id, seed=seed):
            self.stdout.write(f"Demo data: seed {seed} is already in {name}; nothing to do. "
                              "Pass another --seed to add more.")
            return
        self.stdout.write(f"Seeding {name} with {calls} model calls over {days:g} days (seed {seed}) ...")
        started = time.monotonic()
        seeded = demo_seed(project_id=target.id, calls=calls, days=days, seed=seed, process=not no_process,
                           progress=lambda line: self.stdout.write(f"  {line}"))
        self.stdout.write(self.style.SUCCESS(
            f"Done in {time.monotonic() - started:.1f} s: {seeded.calls} model calls, {seeded.spans} other spans, "
            f"{seeded.scores} scores, {seeded.feedback} feedback ({seeded.accepted} events written, "
            f"{seeded.duplicates} duplicates skipped)."))
        self.stdout.write(f"Open /projects/{target.id}/ (the call with id {XSS_ID} has HTML in its output).")
