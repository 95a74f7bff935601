"""Calls explorer, its total, the trace page and the feedback inbox at scale: each page is fetched
in-process (Django's test client, signed in as the seed's owner) and the p50/p95 of its time is
printed. Point DATABASE_URL at a copy of bench/pages.py's data (10M calls over 30 days); the
database is only read.

    DATABASE_URL=postgresql://.../copy REDIS_URL=... .venv/bin/python bench/explorer.py [--requests 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--org", default="bench-pages")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatory.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from telemetry.models import Call, Feedback
    from tenancy.models import Membership, Project

    settings.ALLOWED_HOSTS = ["*"]
    project = Project.objects.filter(organization__slug=args.org).order_by("id").first()
    owner = Membership.objects.filter(organization_id=project.organization_id, role="owner").first().user
    client = Client()
    client.force_login(owner)
    p = f"/projects/{project.id}"
    call = Call.objects.filter(project=project).exclude(trace_id="").order_by("-start_time").first()
    model = Call.objects.filter(project=project).order_by("-start_time").values_list("model", flat=True).first()
    print(f"project {project.id}; feedback rows {Feedback.objects.filter(project=project).count():,}", flush=True)
    pages = [
        ("calls 24h (LLM only)", f"{p}/calls/?range=24h"),
        ("calls 30d, all kinds", f"{p}/calls/?range=30d&kind=all"),
        ("calls 24h, group by trace", f"{p}/calls/?range=24h&group=trace"),
        ("calls 30d, search", f"{p}/calls/?range=30d&q=router"),
        ("count 24h", f"{p}/explorer/count?range=24h"),
        ("count 30d", f"{p}/explorer/count?range=30d"),
        ("count 30d, status error", f"{p}/explorer/count?range=30d&status=error"),
        ("count 30d, thumbs down", f"{p}/explorer/count?range=30d&feedback=down"),
        ("count 30d, search", f"{p}/explorer/count?range=30d&q=router"),
        ("trace", f"{p}/traces/{quote(call.trace_id)}"),
        ("feedback inbox 30d", f"{p}/feedback/?range=30d"),
        ("feedback inbox 30d, thumbs down", f"{p}/feedback/?range=30d&thumbs=down"),
        ("feedback inbox 30d, one model", f"{p}/feedback/?range=30d&model={quote(model)}"),
        ("feedback inbox 30d, rating 1", f"{p}/feedback/?range=30d&rating=1"),
    ]
    for name, url in pages:
        times = []
        for _ in range(args.requests + 1):
            start = time.perf_counter()
            response = client.get(url, HTTP_HOST="localhost")
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        times = sorted(times[1:])  # the first warms caches
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        snippet = ""
        if "/explorer/count" in url:
            snippet = response.content.decode().split(">")[1].split("<")[0]
        print(f"{name:36} p50 {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  {snippet}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
