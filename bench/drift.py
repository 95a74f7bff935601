"""Drift benchmark: a full drift run (every signal × the project and its busiest groups, both default
comparisons: 24 h against the 7 days before, 7 days against the 4 weeks before) over the page
bench's data (bench/pages.py's loader: 10 million calls over 30 days, payloads on the newest
200,000, feedback on 1%, evaluators on the last 15 minutes), timed without topics and with topics
(≤ 5,000 sampled inputs per side). Targets (issue 15): under 10 s without topics, under 30 s with.

The data folder is kept (bench/.data/drift) and later runs only measure; `--fresh` starts over.
With DATABASE_URL and `--project ORG/PROJECT`, it measures a project already loaded there (a copy
of a shared seed); `--rebuild-days N` first rebuilds that project's last N days of rollups from its
raw calls (rows folded before rollups/dists.py have no per-call distributions), timed apart;
`--backfill-days N` instead adds only those rows, in SQL (rollups.dists.backfill: much quicker).

    .venv/bin/python bench/drift.py [--calls 10000000] [--days 35] [--fresh]
    DATABASE_URL=... .venv/bin/python bench/drift.py --project bench-pages/bench [--rebuild-days 36]
    DATABASE_URL=<shared seed> .venv/bin/python bench/drift.py --project bench-pages/bench --read-only

`--read-only` reads a database it must not write (a shared seed too big to copy): no migration, the
session is READ ONLY, and each comparison's findings are computed (drift.services.comparison_findings,
every read a run makes) but not stored; storing a run's few hundred findings is one bulk insert.

The last line is the total.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench" / ".data" / "drift"


def _pages_bench():  # noqa: ANN202 - a module
    spec = importlib.util.spec_from_file_location("bench_pages", ROOT / "bench" / "pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(project_id: int, topics: bool) -> tuple[float, dict[str, int]]:
    from django.conf import settings
    from django.utils import timezone

    from drift.services import drift_run
    from tenancy.models import Project

    settings.OBSERVATORY_DRIFT_TOPICS = topics
    project = Project.objects.get(pk=project_id)
    started = time.perf_counter()
    run = drift_run(project=project, now=timezone.now())
    return time.perf_counter() - started, run.counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=35, help="35 covers the 7 days and the 4 weeks before")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="delete the kept data folder and load again")
    parser.add_argument("--project", help="ORG/PROJECT already loaded in DATABASE_URL: measure it, load nothing")
    parser.add_argument("--rebuild-days", type=int, default=0, help="with --project: rebuild this many days first")
    parser.add_argument("--read-only", action="store_true", help="with --project: compute, store nothing")
    parser.add_argument("--backfill-days", type=int, default=0,
                        help="with --project: only add the per-call distributions of this many days (rollups.dists.backfill)")
    args = parser.parse_args()
    if args.project and args.read_only:
        return _read_only(args.project)
    if args.project:
        return _existing(args.project, args.rebuild_days, args.backfill_days)
    if args.fresh:
        shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True, exist_ok=True)
    os.environ["OBSERVATORY_DATA_DIR"] = str(DATA)
    marker = DATA / f"seeded-{args.calls}"
    pages = _pages_bench()

    from harness import servers

    with servers():
        if marker.exists():
            project_id = int(marker.read_text())
            print(f"reusing {args.calls:,} calls loaded earlier in {DATA} (--fresh to reload)", flush=True)
        else:
            project_id = pages._seed(args.calls, args.days, args.workers)
            marker.write_text(str(project_id))
        pages._background(project_id)
        import django

        django.setup()
        plain, counts = _run(project_id, topics=False)
        print(f"drift run without topics: {plain:.1f} s ({counts}) (target < 10 s)", flush=True)
        with_topics, counts = _run(project_id, topics=True)
        print(f"drift run with topics: {with_topics:.1f} s ({counts}) (target < 30 s)", flush=True)
    print(f"total: {plain:.1f} s without topics, {with_topics:.1f} s with topics, {args.calls:,} calls")
    return 0


def _existing(spec: str, rebuild_days: int, backfill_days: int = 0) -> int:
    """Measure a project already in DATABASE_URL (migrated first by harness.servers)."""
    from harness import servers

    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("--project needs DATABASE_URL (a copy of the seeded database: never the shared one)")
    with servers():
        import django

        django.setup()
        from datetime import timedelta

        from django.db import connection
        from django.utils import timezone

        from rollups.services import rollups_rebuild
        from tenancy.models import Project

        org, _, slug = spec.partition("/")
        project = Project.objects.get(organization__slug=org, slug=slug)
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM telemetry_call WHERE project_id = %s", [project.id])
            calls = cur.fetchone()[0]
        if rebuild_days:
            now = timezone.now()
            started = time.perf_counter()
            lo, hi, folded = rollups_rebuild(project_id=project.id, start=now - timedelta(days=rebuild_days), end=now)
            rebuild = time.perf_counter() - started
            print(f"rollups rebuilt {lo:%Y-%m-%d}..{hi:%Y-%m-%d} from {folded:,} calls in {rebuild:.0f} s "
                  f"({folded / rebuild:,.0f} calls/s)", flush=True)
            from rollups.compact import project_compact

            started = time.perf_counter()
            buckets = project_compact(project_id=project.id, max_chunks=100_000)
            print(f"compacted {buckets:,} buckets in {time.perf_counter() - started:.0f} s", flush=True)
            with connection.cursor() as cur:
                cur.execute("VACUUM ANALYZE rollups_rollup")
        if backfill_days:
            from django.db import transaction

            from rollups.dists import backfill

            now = timezone.now()
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cur:
                rows = backfill(cur, project.id, now - timedelta(days=backfill_days), now)
            print(f"per-call distributions backfilled over {backfill_days} days: {rows:,} rollup rows in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            with connection.cursor() as cur:
                cur.execute("ANALYZE rollups_rollup")
        _warm()
        plain, counts = _run(project.id, topics=False)
        print(f"drift run without topics: {plain:.1f} s ({counts}) (target < 10 s)", flush=True)
        with_topics, counts = _run(project.id, topics=True)
        print(f"drift run with topics: {with_topics:.1f} s ({counts}) (target < 30 s)", flush=True)
        _topics_at_full_sample()
    print(f"total: {plain:.1f} s without topics, {with_topics:.1f} s with topics, {calls:,} calls")


def _read_only(spec: str) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatory.settings")
    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from drift import stats
    from drift.models import DriftSettings
    from drift.services import comparison_findings, comparisons_for
    from tenancy.models import Project

    with connection.cursor() as cur:
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    org, _, slug = spec.partition("/")
    project = Project.objects.get(organization__slug=org, slug=slug)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM telemetry_call WHERE project_id = %s", [project.id])
        calls = cur.fetchone()[0]
    comparisons = comparisons_for(DriftSettings.objects.filter(project=project).first(), timezone.now())
    _warm()
    figures = {}
    for topics in (False, True):
        settings.OBSERVATORY_DRIFT_TOPICS = topics
        started = time.perf_counter()
        items = [item for c in comparisons for item in comparison_findings(project.id, c, dict(stats.MIN_SAMPLES))]
        figures[topics] = time.perf_counter() - started
        verdicts = [result.verdict for _, _, result in items]
        label = "with" if topics else "without"
        print(f"drift run {label} topics (not stored): {figures[topics]:.1f} s ({len(items)} findings, "
              f"{verdicts.count(stats.DRIFT)} drift, {verdicts.count(stats.NOT_ENOUGH)} not enough data) "
              f"(target < {30 if topics else 10} s)", flush=True)
    _topics_at_full_sample()
    print(f"total: {figures[False]:.1f} s without topics, {figures[True]:.1f} s with topics, {calls:,} calls")
    return 0


def _topics_at_full_sample() -> None:
    """The topic classifier at its stated sample size (TOPIC_SAMPLE inputs a side), on synthetic inputs:
    a seed whose payloads cover only its newest hours leaves the baseline windows without inputs."""
    import random

    from drift.topics import TOPIC_SAMPLE, topic_compare

    rng = random.Random(1)
    words = [f"{a}{b}" for a in ("re", "ex", "in", "de", "pro", "con") for b in
             ("set", "port", "voice", "fund", "count", "der", "ship", "mail", "log", "key", "plan", "seat")]

    def texts(new: float) -> list[str]:
        return [" ".join(rng.choices(words[:50] if rng.random() > new else words[40:], k=12))
                for _ in range(TOPIC_SAMPLE)]

    started = time.perf_counter()
    result = topic_compare(texts(0.0), texts(0.15))
    print(f"topics alone at {TOPIC_SAMPLE:,} inputs a side (per comparison): {time.perf_counter() - started:.1f} s "
          f"(AUC {result.statistic:.2f}, {result.verdict})", flush=True)


def _warm() -> None:
    """scipy and scikit-learn are imported where the statistics run, once per worker process (seconds on
    a busy machine: scipy parses docstrings at import): timed apart, as a worker pays it once."""
    started = time.perf_counter()
    import scipy.spatial.distance  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.cluster  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    print(f"imports of scipy and scikit-learn (once per worker): {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
