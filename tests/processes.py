"""Real server processes for integration tests: gunicorn and Celery workers on the test database."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_database_url() -> str:
    """DATABASE_URL of the database pytest-django created, for child processes."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = quote(s["HOST"] or "", safe="")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgresql://{auth}@{host}{port}/{s['NAME']}"


def child_env(**overrides: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def celery_worker(env: dict[str, str] | None = None, *, name: str = "w1", concurrency: int = 1,
                  log_path: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    env = env or child_env()
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "observatory", "worker", "--loglevel=INFO", "-n", f"{name}@%h",
         "--concurrency", str(concurrency), "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        from observatory.celery import app

        wait_for(lambda: proc.poll() is not None or app.control.ping(timeout=0.5), timeout=60, what="celery worker")
        assert proc.poll() is None, "the celery worker exited at start"
        yield proc
    finally:
        _stop(proc)
        if log_path:
            log.close()  # type: ignore[union-attr]


@contextmanager
def gunicorn(env: dict[str, str] | None = None, *, workers: int = 1) -> Iterator[str]:
    env = env or child_env()
    port = free_port()
    env.update(OBSERVATORY_HOST="127.0.0.1", OBSERVATORY_PORT=str(port), OBSERVATORY_WEB_WORKERS=str(workers))
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "observatory.wsgi:application", "-c", str(ROOT / "observatory" / "gunicorn_conf.py")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError("gunicorn exited at start")
        try:
            with urllib.request.urlopen(base + "/metrics", timeout=1):
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        wait_for(up, timeout=60, what="gunicorn")
        yield base
    finally:
        _stop(proc)


def http(method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 30) -> tuple[int, dict[str, str], Any]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, hdrs = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, hdrs = exc.code, exc.read(), dict(exc.headers)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, hdrs, parsed
