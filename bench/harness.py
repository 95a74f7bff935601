"""What every benchmark starts: embedded servers in a fresh folder, a migrated database, a project
key, and gunicorn as `dev.py run` configures it. Each piece is a context manager that cleans up."""
from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@contextmanager
def servers(**env: str) -> Iterator[bool]:
    """Embedded PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL are set) in a fresh data folder,
    so figures never drift with leftovers of earlier runs; migrated, prices loaded. Yields whether
    the database is the embedded one."""
    from observatory.embedded import EmbeddedServers, needs

    scratch = tempfile.mkdtemp(prefix="obs-bench-", dir=ROOT / "bench")
    os.environ.setdefault("OBSERVATORY_DATA_DIR", scratch)
    embedded = EmbeddedServers(Path(os.environ["OBSERVATORY_DATA_DIR"]))
    need_db, need_redis = needs()
    try:
        os.environ.update(embedded.start(database=need_db, redis=need_redis))
        os.environ.update(DJANGO_SETTINGS_MODULE="observatory.settings", OBSERVATORY_HOST="127.0.0.1",
                          OBSERVATORY_WEB_WORKERS="2", **env)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
        subprocess.run([sys.executable, "manage.py", "load_prices", "-v", "0"], cwd=ROOT, check=True)
        yield need_db
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may never have been set up in this process
            pass
        embedded.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def project_key(scopes: list[str]) -> str:
    """A new project and a key for it, made in a child process (this one may not set Django up)."""
    code = ("import django, uuid; django.setup(); from tenancy.services import *;"
            "p = project_create(organization=organization_create(name='Bench ' + uuid.uuid4().hex[:6]), name='bench');"
            f"print(api_key_create(project=p, scopes={scopes!r}).raw_key)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1]


@contextmanager
def web(port: str) -> Iterator[str]:
    """gunicorn with observatory/gunicorn_conf.py (2 workers); yields host:port once it answers."""
    os.environ["OBSERVATORY_PORT"] = port
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "observatory.wsgi:application",
                             "-c", str(ROOT / "observatory" / "gunicorn_conf.py")], cwd=ROOT)
    target = f"127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=1)
                conn.request("GET", "/metrics")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        yield target
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
