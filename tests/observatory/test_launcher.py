"""The README's run command end to end: web, worker and beat start, an event flows, a crashed
process is restarted while the rest keeps serving, a `manage` command beside the stack leaves it
alone, and Ctrl-C stops all that the launcher started."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from observatory import launcher
from observatory.embedded import EmbeddedRedis, EmbeddedServers
from observatory.supervisor import Process, Supervisor
from tests.processes import ROOT, child_env, free_port, http, wait_for

CALL = {"type": "call", "model": "gpt-4o-mini", "latency_ms": 420, "usage": {"input_tokens": 8, "output_tokens": 3}}


def _status(url: str) -> int | None:
    try:
        return http("GET", url, timeout=2)[0]
    except OSError:  # not listening yet
        return None


@pytest.mark.django_db(transaction=True)
def test_run_restarts_a_killed_worker_ignores_a_manage_command_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    # The database is the test's; Redis is embedded in tmp_path, so `manage` has a server to attach to.
    port = free_port()
    env = child_env(OBSERVATORY_DATA_DIR=str(tmp_path), OBSERVATORY_PORT=str(port), OBSERVATORY_WEB_WORKERS="1",
                    OBSERVATORY_WORKER_CONCURRENCY="1", OBSERVATORY_SWEEP_SECONDS="2",
                    REDIS_URL=None, CELERY_BROKER_URL=None)
    proc = subprocess.Popen([sys.executable, "-m", "observatory.launcher", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    redis = EmbeddedRedis(tmp_path / "redis")
    try:
        wait_for(lambda: any("Observatory is running" in line for line in lines) or proc.poll() is not None,
                 timeout=90, what="the launcher to start")
        assert proc.poll() is None, "".join(lines[-30:])
        key = re.search(r"API key:\s+(obs_\S+)", "".join(lines)).group(1)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}

        def ingest(call_id: str) -> None:
            status, _, body = http("POST", f"{base}/api/v1/ingest", headers=headers,
                                   body={"events": [{**CALL, "id": call_id}]})
            assert status == 202 and body["accepted"] == 1, (status, body)

        def processed(call_id: str) -> bool:
            return bool(http("GET", f"{base}/api/v1/calls/{call_id}", headers=headers)[2].get("processed"))

        wait_for(lambda: _status(f"{base}/healthz") == 200, timeout=30, what="/healthz")
        ingest("first")
        wait_for(lambda: processed("first"), timeout=30, what="the launcher's worker to process the call")

        # A command beside the running stack attaches to its Redis and, when done, leaves it running.
        manage = subprocess.run([sys.executable, "-m", "observatory.launcher", "manage", "check"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60)
        assert manage.returncode == 0, manage.stdout + manage.stderr
        assert "attaching to embedded Redis" in manage.stdout
        assert redis.answers()
        assert _status(f"{base}/healthz") == 200

        # The default layout (docs/operations.md, Memory): web and one worker process, whose beat
        # thread sent the sweeps that processed "first" (no separate beat, no pool processes).
        layout = {child.pid: child.cmdline() for child in psutil.Process(proc.pid).children()}
        assert sum("gunicorn" in " ".join(cmd) for cmd in layout.values()) == 1, layout
        assert not any("beat" in cmd for cmd in layout.values()), "no separate beat by default"
        worker = next(psutil.Process(pid) for pid, cmd in layout.items() if "worker" in cmd and "celery" in " ".join(cmd))
        assert "--beat-thread" in worker.cmdline() and worker.children() == []
        assert any("beat: Starting" in line for line in lines)

        # kill -9 the worker's main process: ingest keeps answering, the worker comes back and drains.
        worker.kill()
        backlog = []
        deadline = time.monotonic() + 30
        while not any("worker restarted" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines[-30:])
            backlog.append(f"backlog-{len(backlog)}")
            ingest(backlog[-1])
            time.sleep(0.1)
        assert any("worker exited unexpectedly (exit code -9, SIGKILL)" in line for line in lines)
        ingest("after")
        for call_id in [*backlog, "after"]:
            wait_for(lambda call_id=call_id: processed(call_id), timeout=30,
                     what=f"the restarted worker to process {call_id}")
        assert _status(f"{base}/healthz") == 200
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
    with pytest.raises(OSError):  # connection refused: nothing listens any more
        http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert not redis.answers(), "the launcher started the embedded Redis: Ctrl-C must stop it"


def test_default_layout_runs_beat_inside_a_threaded_worker_of_two(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OBSERVATORY_BEAT_IN_WORKER", "OBSERVATORY_WORKER_POOL", "OBSERVATORY_WORKER_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    found = launcher.commands(tmp_path)
    assert list(found) == ["web", "worker"]
    worker = found["worker"]
    assert worker[worker.index("--pool") + 1] == "threads"
    assert worker[worker.index("--concurrency") + 1] == "2"
    assert worker[worker.index("--beat-thread") + 1:] == ["--schedule", str(tmp_path / "celerybeat-schedule")]


def test_beat_runs_apart_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVATORY_BEAT_IN_WORKER", "false")
    monkeypatch.setenv("OBSERVATORY_WORKER_POOL", "prefork")
    monkeypatch.setenv("OBSERVATORY_WORKER_CONCURRENCY", "4")
    found = launcher.commands(tmp_path)
    assert list(found) == ["web", "worker", "beat"]
    assert "--beat-thread" not in found["worker"]
    assert found["worker"][-4:] == ["--pool", "prefork", "--concurrency", "4"]
    assert found["beat"][-4:-2] == ["beat", "--loglevel=INFO"]


def test_a_pool_celery_does_not_have_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVATORY_WORKER_POOL", "gevent")
    with pytest.raises(SystemExit, match="OBSERVATORY_WORKER_POOL"):
        launcher.commands(tmp_path)


def test_gunicorn_preloads_the_app_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    def conf() -> object:
        spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "observatory" / "gunicorn_conf.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    monkeypatch.delenv("OBSERVATORY_WEB_PRELOAD", raising=False)
    assert conf().preload_app is True
    monkeypatch.setenv("OBSERVATORY_WEB_PRELOAD", "false")
    assert conf().preload_app is False


def test_a_reaped_group_loses_what_its_command_left_behind(tmp_path: Path) -> None:
    # The shell starts a sleeper in the background and is then killed, as a SIGKILLed Celery worker
    # leaves its embedded beat: the supervisor kills the rest of the group when it sees the exit.
    pid_file = tmp_path / "orphan"
    child = Process("worker", ["sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"], cwd=tmp_path,
                    reap_group=True)
    child.start()
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=5, interval=0.05,
             what="the background sleeper")
    orphan = psutil.Process(int(pid_file.read_text()))
    child.proc.kill()
    child.proc.wait()
    assert orphan.is_running()
    assert child.exited() == "exit code -9, SIGKILL"
    orphan.wait(timeout=5)  # killed with the group
    assert not orphan.is_running()


def test_stop_leaves_a_server_it_only_attached_to(tmp_path: Path) -> None:
    owner = EmbeddedServers(tmp_path)
    env = owner.start(database=False, redis=True)
    try:
        guest = EmbeddedServers(tmp_path)
        assert guest.start(database=False, redis=True) == env
        assert guest.started() == []
        guest.stop()
        assert owner.redis is not None and owner.redis.answers()
    finally:
        owner.stop()
    assert not owner.redis.answers()


def test_supervisor_restarts_a_child_that_exits_and_logs_its_exit_code(tmp_path: Path) -> None:
    log: list[str] = []
    marker = tmp_path / "runs"
    child = Process("flaky", ["sh", "-c", f"echo run >> {marker}; exit 3"], cwd=tmp_path)
    child.start()
    supervisor = Supervisor(log=log.append)
    supervisor.watch(child)
    wait_for(lambda: supervisor.check() or (marker.exists() and marker.read_text().count("run") >= 2), timeout=5,
             interval=0.05, what="a restart")
    supervisor.stop()
    assert log[:2] == ["Observatory: flaky exited unexpectedly (exit code 3); restarting in 1 s.",
                       "Observatory: flaky restarted."]
