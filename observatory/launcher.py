"""Runs Observatory in one terminal: embedded servers (unless configured), migrations, first-run
setup, then gunicorn, a Celery worker and Celery beat. A process that exits on its own is restarted
with backoff (observatory.supervisor); Ctrl-C or SIGTERM stops everything this launcher started,
and nothing it only attached to (servers another `dev.py` command started).

    python -m observatory.launcher run [--demo] | test [pytest args] | manage <command> [args]

`run --demo` also fills the demo project with a few days of sample telemetry, once (seed_demo).

Normally reached through `python3 dev.py ...`, which first prepares the virtualenv.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from observatory.embedded import EmbeddedServers, needs
from observatory.supervisor import Process, Supervisor

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    path = Path(os.environ.get("OBSERVATORY_DATA_DIR") or ROOT / ".observatory").resolve()
    os.environ["OBSERVATORY_DATA_DIR"] = str(path)
    return path


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, check=True)


def _start_servers(redis_name: str = "redis") -> EmbeddedServers:
    servers = EmbeddedServers(_data_dir())
    need_db, need_redis = needs()
    os.environ.update(servers.start(database=need_db, redis=need_redis, redis_name=redis_name))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatory.settings")
    return servers


def commands(data_dir: Path) -> dict[str, list[str]]:
    """The processes `run` starts after the servers, by name, in start order.

    One machine is the default, so the layout is sized for memory: beat runs as a thread of the
    worker's main process (`--beat-thread`, observatory.celery.BeatThread) and the worker's pool is
    OBSERVATORY_WORKER_POOL with OBSERVATORY_WORKER_CONCURRENCY. Production runs beat apart, exactly
    one (docs/operations.md); OBSERVATORY_BEAT_IN_WORKER=false does that here too."""
    from observatory.env import env_bool, env_int, env_str

    # Threads: one process holds the app once (the evaluation models too, loaded on first use), and
    # processing and evaluation still run side by side; their heavy parts (numpy, PostgreSQL) release
    # the GIL. prefork gives each task a core of its own for a copy of the worker's private memory.
    pool = env_str("OBSERVATORY_WORKER_POOL", "threads")
    if pool not in ("prefork", "threads", "solo"):
        raise SystemExit(f"OBSERVATORY_WORKER_POOL={pool!r}: use prefork, threads or solo")
    concurrency = env_int("OBSERVATORY_WORKER_CONCURRENCY", 2, minimum=1)
    schedule = ["--schedule", str(data_dir / "celerybeat-schedule")]
    celery = [sys.executable, "-m", "celery", "-A", "observatory"]
    worker = [*celery, "worker", "--loglevel=INFO", "--pool", pool, "--concurrency", str(concurrency)]
    found = {"web": [str(Path(sys.executable).parent / "gunicorn"), "observatory.wsgi:application", "-c",
                     str(ROOT / "observatory" / "gunicorn_conf.py")]}
    if env_bool("OBSERVATORY_BEAT_IN_WORKER", True):
        found["worker"] = [*worker, "--beat-thread", *schedule]
    else:
        found["worker"] = worker
        found["beat"] = [*celery, "beat", "--loglevel=INFO", *schedule]
    return found


def run(*, demo: bool = False) -> int:
    data_dir = _data_dir()
    print(f"Observatory: data folder {data_dir}", flush=True)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    servers = _start_servers()
    supervisor = Supervisor()
    for server in servers.started():  # a server only attached to is its starter's to watch
        supervisor.watch(server)
    try:
        host = os.environ.setdefault("OBSERVATORY_HOST", "127.0.0.1")
        port = os.environ.setdefault("OBSERVATORY_PORT", "8000")
        os.environ.setdefault("SITE_URL", f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}")
        prom_dir = data_dir / "prometheus"
        shutil.rmtree(prom_dir, ignore_errors=True)
        prom_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)

        _manage("migrate", "--noinput", "-v", "0")
        _manage("load_prices", "-v", "0")
        _manage("collectstatic", "--noinput", "-v", "0")
        _manage("observatory_init")
        if demo:  # sample data is a nicety: a failure is reported, the product still starts
            try:
                _manage("seed_demo", "--if-empty")
            except subprocess.CalledProcessError:
                print("Seeding the demo project failed (see above); starting without it.", flush=True)
        for name, command in commands(data_dir).items():
            if stopping:
                return 0
            child = Process(name, command, cwd=ROOT, reap_group=name == "worker")
            child.start()
            supervisor.watch(child)
        site = os.environ["SITE_URL"]
        print(f"\nObservatory is running at {site}/  (API docs {site}/api/docs/). Press Ctrl-C to stop.\n",
              flush=True)
        # A process that exits on its own is restarted (with backoff); the others keep serving.
        supervisor.run(lambda: stopping)
        return 0
    finally:
        print("\nStopping Observatory...", flush=True)
        supervisor.stop()  # beat, worker, web, then the servers this process started
        servers.stop()
        print("Stopped.", flush=True)


def test(args: list[str]) -> int:
    # Lint first (pyproject.toml holds ruff's rules): a finding fails the command as a test would, in a second.
    linted = subprocess.call([sys.executable, "-m", "ruff", "check", "--quiet", "."], cwd=ROOT)
    if linted != 0:
        print("ruff found the problems above; fix them (`.venv/bin/ruff check --fix .` sorts imports).",
              file=sys.stderr, flush=True)
        return linted
    # Tests get their own Redis folder so they never touch a running instance's queue.
    servers = _start_servers(redis_name="redis-test")
    try:
        # The pages link to hashed static files, as in production (observatory/staticstorage.py): a few
        # seconds. Not compressed: the test server never serves the copies (tests/dashboards/test_static.py
        # checks compression on files of its own).
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                       check=True, env={**os.environ, "OBSERVATORY_STATIC_COMPRESS": "false"})
        return subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT)
    finally:
        servers.stop()


def manage(args: list[str]) -> int:
    servers = _start_servers()
    try:
        return subprocess.call([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT)
    finally:
        servers.stop()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "manage"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        return run(demo="--demo" in rest)
    if command == "test":
        return test(rest)
    return manage(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
