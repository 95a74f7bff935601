"""The README's run command end to end: web, worker and beat start, an event flows, Ctrl-C stops all."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.processes import ROOT, child_env, free_port, http, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _status(url: str) -> int | None:
    try:
        return http("GET", url, timeout=2)[0]
    except OSError:  # not listening yet
        return None


def test_run_serves_processes_events_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = child_env(OBSERVATORY_DATA_DIR=str(tmp_path), OBSERVATORY_PORT=str(port), OBSERVATORY_WORKER_CONCURRENCY="1")
    proc = subprocess.Popen([sys.executable, "-m", "observatory.launcher", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("Observatory is running" in line for line in lines) or proc.poll() is not None,
                 timeout=90, what="the launcher to start")
        assert proc.poll() is None, "".join(lines[-30:])
        key = re.search(r"API key:\s+(obs_\S+)", "".join(lines)).group(1)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        wait_for(lambda: _status(f"{base}/healthz") == 200, timeout=30, what="/healthz")
        status, _, body = http("POST", f"{base}/api/v1/ingest", headers=headers,
                               body={"events": [{"type": "call", "id": "first", "model": "gpt-4o-mini",
                                                 "latency_ms": 420, "usage": {"input_tokens": 8, "output_tokens": 3}}]})
        assert status == 202 and body["accepted"] == 1
        wait_for(lambda: http("GET", f"{base}/api/v1/calls/first", headers=headers)[2].get("processed"),
                 timeout=30, what="the launcher's worker to process the call")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
    reader.join(timeout=5)
    assert "Stopped." in "".join(lines)
    with pytest.raises(Exception):
        http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)
