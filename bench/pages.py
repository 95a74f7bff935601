"""Dashboard page benchmark: 10 million calls over 30 days (the rollup bench's loader and real
Celery workers), payloads for the newest 200,000, feedback on 1% of calls (a fifth thumbs down, with a comment), the evaluators run on
the last 15 minutes; then every page is fetched through gunicorn by a signed-in owner and the
p95 of its server time (the `Server-Timing` header, time spent in Django) is printed, and the
overview's load event in Chromium (Playwright's navigation timing), cold and warm cache.

Loading takes ~30 minutes on 2 cores, so the data folder is kept (bench/.data/pages) and later
runs only measure; `--fresh` starts over. Embedded PostgreSQL and Redis unless DATABASE_URL /
REDIS_URL are set (then the data lives there and `--fresh` is needed to reload it).

    .venv/bin/python bench/pages.py [--calls 10000000] [--requests 20] [--browser-runs 5] [--fresh]
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench" / ".data" / "pages"
USER, PASSWORD = "bench-owner", "bench-password-1"


def _rollup_bench():  # noqa: ANN202 - a module
    """bench/rollups.py (its loader and roll-up), imported under another name: `rollups` is the app."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_rollups", ROOT / "bench" / "rollups.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seed(calls: int, days: int, workers: int) -> int:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    rollup_bench = _rollup_bench()
    from quality.models import Evaluation, QualitySettings
    from quality.services import calls_requeue, project_evaluate
    from telemetry.models import Call
    from tenancy.models import Project
    from tenancy.services import organization_create, project_create

    # Each step checks whether an earlier, interrupted run already did it: loading alone is ~20 min.
    user = get_user_model().objects.filter(username=USER).first() or get_user_model().objects.create_user(
        USER, "bench@example.com", PASSWORD)
    project = Project.objects.filter(organization__slug="bench-pages", slug="bench").first()
    if project is None:
        org = organization_create(name="Bench pages", owner=user, slug="bench-pages")
        project = project_create(organization=org, name="bench")
    settings, _ = QualitySettings.objects.get_or_create(project=project, defaults={"evaluate": False})
    settings.evaluate = False
    settings.save()
    connection.close()

    if not Call.objects.filter(project_id=project.id).exists():
        print(f"loading {calls:,} calls over {days} days with COPY...", flush=True)
        seconds = rollup_bench.load(os.environ["DATABASE_URL"], project.id, calls, days)
        print(f"load: {seconds:.0f} s", flush=True)
    with connection.cursor() as cur:
        # Readable payloads on the newest calls: the explorer's search and the detail page need text.
        cur.execute("SELECT EXISTS (SELECT 1 FROM telemetry_callpayload p JOIN telemetry_call c ON c.id = p.call_id"
                    " WHERE c.project_id = %s)", [project.id])
        if not cur.fetchone()[0]:
            cur.execute(
                "INSERT INTO telemetry_callpayload (call_id, input, output, context, redaction)"
                " SELECT id, jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'How do I reset my '"
                "   || (ARRAY['password', 'router', 'account', 'invoice'])[1 + id %% 4] || ' for order ' || id || '?')),"
                "  to_jsonb('To reset it, open Settings, then step ' || id %% 7 || '. Write to support@example.com if stuck.'),"
                "  NULL, 'off'"
                " FROM telemetry_call WHERE project_id = %s ORDER BY start_time DESC LIMIT 200000", [project.id])
        cur.execute("SELECT EXISTS (SELECT 1 FROM telemetry_feedback WHERE project_id = %s)", [project.id])
        if not cur.fetchone()[0]:
            cur.execute(
                "INSERT INTO telemetry_feedback (project_id, external_id, call_id, call_external_id, thumbs, rating,"
                " comment, end_user_id, metadata, created_at)"
                " SELECT project_id, 'fb-' || id, id, external_id, CASE WHEN id / 100 %% 5 = 0 THEN -1 ELSE 1 END, NULL,"
                "  CASE WHEN id / 100 %% 5 = 0 THEN 'wrong answer' ELSE '' END, user_id, '{}',"
                "  start_time + interval '1 minute'"
                " FROM telemetry_call WHERE project_id = %s AND id %% 100 = 0", [project.id])
        cur.execute("ANALYZE telemetry_callpayload")
        cur.execute("ANALYZE telemetry_feedback")
        cur.execute("SELECT count(*) FROM telemetry_pendingcall WHERE project_id = %s", [project.id])
        pending = cur.fetchone()[0]
    if pending:
        seconds = rollup_bench.roll_up(project.id, pending, workers)
        print(f"rollup: {pending:,} calls in {seconds:.0f} s", flush=True)
    settings.evaluate = True
    settings.save()
    if not Evaluation.objects.filter(call__project_id=project.id).exists():
        # The evaluators on the newest quarter hour of traffic: scores, flags and their rollups.
        newest = Call.objects.filter(project_id=project.id).order_by("-start_time").values_list(
            "start_time", flat=True).first()
        queued = calls_requeue(start=newest - timedelta(minutes=15), end=newest + timedelta(seconds=1),
                               project_id=project.id)
        print(f"evaluating the newest 15 minutes' {queued:,} calls...", flush=True)
        while project_evaluate(project_id=project.id):
            pass
    # What autovacuum does on a live server, once, before anything is timed: the roll-up's upserts
    # leave ~5 dead row versions per live one and nothing is analysed yet (a PostgreSQL with
    # autovacuum off, as this machine's CI server is, measured the overview at ~1 s, not ~100 ms).
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")
    print(f"VACUUM (ANALYZE): {time.perf_counter() - started:.0f} s", flush=True)
    connection.close()
    return project.id


def _background(project_id: int) -> None:
    """What the workers and beat keep doing on a live install, done once here: feedback folded into
    the rollups, the search indexer catches up and the users & sessions tops are computed (their
    time is printed: it is worker time, not a page's)."""
    import django

    django.setup()
    from django.db import connection

    from dashboards.tasks import warm_top_entities
    from rollups.signals import project_signals_fold
    from telemetry.services import payloads_index

    # Feedback (inserted with SQL by the seed) reaches the rollups through the signal queue, as
    # client feedback does: drained here so the pages read every rating.
    started, folded = time.perf_counter(), 0
    while batch := project_signals_fold(project_id=project_id):
        folded += batch
    print(f"feedback and client scores folded: {folded:,} in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    indexed = 0
    while batch := payloads_index(batch=5000):
        indexed += batch
    print(f"search indexer: {indexed:,} payloads in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    tops = warm_top_entities()
    print(f"warm_top_entities (beat, every 4 min): {tops} tops in {time.perf_counter() - started:.1f} s", flush=True)
    connection.close()


def _login(target: str) -> str:
    host, port = target.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    body = response.read().decode()
    cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie", "")).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    conn.request("POST", "/accounts/login/", body=urlencode({"username": USER, "password": PASSWORD,
                                                             "csrfmiddlewaretoken": token}),
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}"})
    response = conn.getresponse()
    response.read()
    session = re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie", ""))
    if response.status != 302 or not session:
        raise SystemExit(f"sign-in failed ({response.status})")
    return f"csrftoken={cookie}; sessionid={session.group(1)}; obs_tz=Europe/Paris"


def _time(target: str, cookie: str, path: str, requests: int) -> tuple[list[float], int]:
    host, port = target.split(":")
    timings = []
    size = 0
    for i in range(requests + 2):
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"{path} answered {response.status}: {body[:300]!r}")
        if i >= 2:  # warm-up: connections, template and plan caches
            timings.append(float(re.search(r"dur=([\d.]+)", response.getheader("Server-Timing")).group(1)))
        size = len(body)
    return timings, size


def _browser_loads(target: str, cookie: str, path: str, runs: int = 5) -> tuple[list[tuple[float, float]], ...]:
    """The overview's load event in Debian's Chromium (Playwright's navigation timing), `runs` times
    cold (a new browser context: empty cache) and warm (the same context again: hashed static
    files come from its cache, as they do for anyone who opened a page before), each as
    (load event end, response end, next screen drawn): the second is when the server's HTML had
    arrived, the third when every chart within a screen below the viewport had been drawn too
    (those are drawn just after the load event; the first screen's before it)."""
    from playwright.sync_api import sync_playwright

    host, port = target.split(":")
    cookies = [{"name": name, "value": value, "domain": host, "path": "/"}
               for name, value in (pair.split("=", 1) for pair in cookie.split("; "))]
    url = f"http://{target}{path}"
    timing = "(n => [n.loadEventEnd, n.responseEnd])(performance.getEntriesByType('navigation')[0])"
    # Charts below the first screen are drawn as they come near (app.js), the next screen's at once
    # after the load event: also timed, checked every animation frame, so the load event hides nothing.
    near_drawn = ("() => [...document.querySelectorAll('[data-figure]')].filter(e => e.getBoundingClientRect().top"
                  " < 2 * innerHeight).every(e => e.classList.contains('js-plotly-plot'))")
    cold, warm = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("OBSERVATORY_CHROMIUM", "/usr/bin/chromium"),
                                             headless=True)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="Europe/Paris")
            context.add_cookies(cookies)
            page = context.new_page()
            for loads in (cold, warm):
                page.goto(url, wait_until="load")
                page.wait_for_function(near_drawn, polling="raf")
                drawn_at = float(page.evaluate("performance.now()"))
                loads.append((*(float(v) for v in page.evaluate(timing)), drawn_at))
            context.close()
        browser.close()
    return cold, warm


def _collectstatic() -> None:
    """As `dev.py run` does before serving: hashed, precompressed static files (made once)."""
    import subprocess

    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                   check=True)
    print(f"collectstatic: {time.perf_counter() - started:.1f} s", flush=True)


def pages(project_id: int) -> list[tuple[str, str]]:
    import django

    django.setup()
    from telemetry.models import Call

    # The newest call of a trace with a user and session (other benches add calls to this project).
    call = Call.objects.filter(project_id=project_id).exclude(trace_id="").exclude(user_id="").exclude(
        session_id="").order_by("-start_time", "-id").first()
    p = f"/projects/{project_id}"
    return [
        ("overview 24h", f"{p}/?range=24h"), ("overview 7d", f"{p}/?range=7d"), ("overview 30d", f"{p}/?range=30d"),
        ("overview 30d model filter", f"{p}/?range=30d&model=gpt-4.1"),
        ("cost 30d", f"{p}/cost/?range=30d"), ("cost 30d by feature", f"{p}/cost/?range=30d&by=feature"),
        ("latency 30d", f"{p}/latency/?range=30d"), ("latency 7d by model", f"{p}/latency/?range=7d&by=model"),
        ("quality 24h", f"{p}/quality/?range=24h"), ("quality 30d", f"{p}/quality/?range=30d"),
        ("calls 24h", f"{p}/calls/?range=24h"), ("calls 30d, status error", f"{p}/calls/?range=30d&status=error"),
        ("calls 30d, search", f"{p}/calls/?range=30d&q=router"),
        ("calls 30d, thumbs down", f"{p}/calls/?range=30d&feedback=down"),
        ("feedback 30d", f"{p}/feedback/?range=30d"),
        ("feedback 30d, no such model", f"{p}/feedback/?range=30d&model=no-such-model"),
        ("call detail", f"{p}/calls/{quote(call.external_id)}"), ("trace", f"{p}/traces/{quote(call.trace_id)}"),
        ("users & sessions 30d", f"{p}/people/?range=30d"),
        ("user detail 30d", f"{p}/users/{quote(call.user_id)}?range=30d"),
        ("session detail 30d", f"{p}/sessions/{quote(call.session_id)}?range=30d"),
        ("settings", f"{p}/settings/"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--browser-runs", type=int, default=5, help="cold and warm overview loads in Chromium (0: none)")
    parser.add_argument("--fresh", action="store_true", help="delete the kept data folder and load again")
    parser.add_argument("--seed-only", action="store_true", help="load the data, measure nothing")
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True, exist_ok=True)
    os.environ["OBSERVATORY_DATA_DIR"] = str(DATA)
    marker = DATA / f"seeded-{args.calls}"

    from harness import servers, web

    with servers(OBSERVATORY_READ_RATE="1000000/min"):
        if marker.exists():
            project_id = int(marker.read_text())
            print(f"reusing {args.calls:,} calls loaded earlier in {DATA} (--fresh to reload)", flush=True)
        else:
            project_id = _seed(args.calls, args.days, args.workers)
            marker.write_text(str(project_id))
        _background(project_id)
        if args.seed_only:
            return 0
        targets = pages(project_id)
        results = []
        _collectstatic()
        with web(os.environ.get("BENCH_PORT", "8768")) as target:
            cookie = _login(target)
            for name, path in targets:
                timings, size = _time(target, cookie, path, args.requests)
                results.append((name, float(np.percentile(timings, 95)), statistics.median(timings), size))
                print(f"  {name:<28} p95 {results[-1][1]:7.1f} ms  p50 {results[-1][2]:7.1f} ms  "
                      f"({size / 1024:.0f} KB)", flush=True)
            cold, warm = _browser_loads(target, cookie, targets[0][1], args.browser_runs) \
                if args.browser_runs else ([], [])
    print(f"\nServer time per page, {args.calls:,} calls over {args.days} days, {args.requests} requests each:")
    for name, p95, p50, _ in results:
        print(f"{name:<28} p95 {p95:7.1f} ms   p50 {p50:7.1f} ms")
    if cold:
        print(f"\nOverview 24h in Chromium, load event (navigation timing), {len(cold)} runs each:")
        for label, loads, target in (("cold", cold, 1000), ("warm", warm, 500)):
            load, html, near = [v[0] for v in loads], [v[1] for v in loads], [v[2] for v in loads]
            print(f"{label} cache: median {statistics.median(load):6.0f} ms, worst {max(load):6.0f} ms "
                  f"(target < {target} ms; the page's HTML in at {statistics.median(html):.0f} ms; the next "
                  f"screen's charts drawn by {statistics.median(near):.0f} ms)")
    worst = max(results, key=lambda r: r[1])
    loads = (f"; overview load event in Chromium, median cold {statistics.median(v[0] for v in cold):.0f} ms "
             f"(target < 1000 ms), warm {statistics.median(v[0] for v in warm):.0f} ms (target < 500 ms)") if cold else ""
    print(f"{args.calls:,} calls: slowest page {worst[0]} at p95 {worst[1]:.1f} ms (target < 300 ms){loads}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
