"""Idle memory of the default stack: RSS and PSS per component, the total PSS as the last line.

Starts `python -m observatory.launcher run` exactly as `python3 dev.py run` does (embedded PostgreSQL
and Redis in a fresh data folder under bench/, so it never touches ./.observatory; gunicorn, the Celery
worker and beat as the launcher lays them out), waits for /healthz to answer 200 and for the stack to
settle, then reads /proc/<pid>/smaps_rollup of every process of each component's tree: gunicorn's
master and workers, the Celery worker (and its pool processes with prefork), beat (when it runs apart),
the postmaster and all its backends and background processes, Redis, and the launcher itself. Linux only.

PSS (proportional set size) charges a page shared by n processes 1/n to each, so it adds up to what
the stack really holds; RSS counts shared pages once per process and overstates the total.

    .venv/bin/python bench/footprint.py [--settle 25] [--env NAME=VALUE ...]

`--env` sets a variable for the stack (for example OBSERVATORY_WORKER_CONCURRENCY=2) to compare layouts.
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthz(port: int) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    except OSError:
        return None


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in bytes, from /proc/<pid>/smaps_rollup; (0, 0) once it is gone."""
    rss = pss = 0
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == "Rss":
            rss = int(rest.split()[0]) * 1024
        elif name == "Pss":
            pss = int(rest.split()[0]) * 1024
    return rss, pss


def _tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def component(process: psutil.Process) -> str:
    """Which part of the stack a direct child of the launcher is, from its command line."""
    try:
        cmdline = process.cmdline()
    except psutil.Error:
        return "other"
    words = " ".join(cmdline)
    if "gunicorn" in words:
        return "web (gunicorn)"
    if "celery" in words and "worker" in cmdline:
        beat = {"-B", "--beat", "--beat-thread"} & set(cmdline)
        return "worker (celery" + (" + beat)" if beat else ")")
    if "celery" in words and "beat" in cmdline:
        return "beat"
    if "redis-server" in words or "redis" in Path(cmdline[0]).name:
        return "Redis"
    return "other: " + Path(cmdline[0]).name


def components(launcher: psutil.Process, data_dir: Path) -> dict[str, list[psutil.Process]]:
    """Every process of the stack by component. The postmaster is pg_ctl's child, not the launcher's:
    it is found through the pid in its data folder."""
    parts: dict[str, list[psutil.Process]] = {"launcher": [launcher]}
    for child in launcher.children():
        parts.setdefault(component(child), []).extend(_tree(child))
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if pid_file.exists():
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        parts["PostgreSQL"] = _tree(postmaster)
    return parts


def measure(parts: dict[str, list[psutil.Process]], *, detail: bool = False) -> list[tuple[str, int, int, int]]:
    """(component, processes, RSS, PSS) per component, in bytes; with `detail`, prints each process."""
    rows = []
    for name, processes in parts.items():
        sizes = [memory(process.pid) for process in processes]
        if detail:
            for process, (rss, pss) in zip(processes, sizes, strict=True):
                try:
                    what = " ".join(process.cmdline())[:90]
                except psutil.Error:
                    what = "(gone)"
                print(f"  {name:<22} {process.pid:>7} RSS {rss / MIB:>5.0f} PSS {pss / MIB:>5.0f}  {what}")
        rows.append((name, len(processes), sum(rss for rss, _ in sizes), sum(pss for _, pss in sizes)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settle", type=float, default=25, help="seconds to wait after /healthz answers 200")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the stack (repeatable)")
    parser.add_argument("--detail", action="store_true", help="also print every process")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="obs-bench-footprint-", dir=ROOT / "bench"))
    port = _free_port()
    env = {name: value for name, value in os.environ.items()
           if name not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(OBSERVATORY_DATA_DIR=str(data_dir), OBSERVATORY_PORT=str(port), PYTHONUNBUFFERED="1")
    for pair in args.env:
        name, _, value = pair.partition("=")
        env[name] = value
    log = data_dir / "launcher.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "observatory.launcher", "run"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while _healthz(port) != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                print(log.read_text()[-3000:], file=sys.stderr)
                print("the stack did not come up", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(f"stack: /healthz 200 on port {port}; settling {args.settle:g} s", flush=True)
        time.sleep(args.settle)
        rows = measure(components(psutil.Process(proc.pid), data_dir), detail=args.detail)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)

    print(f"{'component':<24} {'processes':>9} {'RSS MiB':>8} {'PSS MiB':>8}")
    for name, count, rss, pss in sorted(rows, key=lambda row: -row[3]):
        print(f"{name:<24} {count:>9} {rss / MIB:>8.0f} {pss / MIB:>8.0f}")
    print(f"idle RSS total: {sum(row[2] for row in rows) / MIB:.0f} MiB")
    print(f"idle PSS total: {sum(row[3] for row in rows) / MIB:.0f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
