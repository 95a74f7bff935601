"""Keeps the launcher's processes up: a child that exits on its own is logged with its exit code and
started again after a backoff; only `stop()` (Ctrl-C, SIGTERM) ends them, last started first."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
# A run this long counts as healthy: the next crash starts the backoff from FIRST_DELAY again.
HEALTHY_AFTER = 60.0


class Child(Protocol):
    name: str

    def start(self) -> None: ...

    def exited(self) -> str | None:
        """None while running, else how it ended (for the log)."""

    def stop(self, timeout: float) -> None: ...


class Process:
    """A command run as a child process; `start()` again after it exited runs it anew."""

    def __init__(self, name: str, command: list[str], *, cwd: Path, own_group: bool = False,
                 reap_group: bool = False) -> None:
        self.name = name
        self.command = command
        self.cwd = cwd
        # A server in a group of its own does not get the terminal's Ctrl-C: it must outlive the
        # processes that use it until the launcher stops it, after them.
        self.own_group = own_group or reap_group
        # With reap_group, whatever is left of the group once the command's own process has exited is
        # killed: the Celery worker's embedded beat does not notice a SIGKILL of its parent and would
        # otherwise keep scheduling beside the restarted worker's beat (two beats).
        self.reap_group = reap_group
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, process_group=0 if self.own_group else None)

    def exited(self) -> str | None:
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        if code is None:
            return None
        self._reap()
        return _describe(code)

    def stop(self, timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._reap()
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reap()

    def _reap(self) -> None:
        """Kill what is left of the exited command's process group (its group id is its pid, which
        cannot be given to a new process while the group has members)."""
        if self.reap_group and self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass  # nothing left


@dataclass
class _Watch:
    child: Child
    started_at: float = field(default_factory=time.monotonic)
    delay: float = FIRST_DELAY
    restart_at: float | None = None  # set while the child is down, waiting for its backoff


class Supervisor:
    def __init__(self, log: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
        self.log = log
        self._watches: list[_Watch] = []

    def watch(self, child: Child) -> None:
        """Supervise a child that is already running."""
        self._watches.append(_Watch(child))

    def check(self) -> None:
        """One round: notice exits, schedule their restart, restart those whose backoff is over."""
        now = time.monotonic()
        for watch in self._watches:
            if watch.restart_at is None:
                how = watch.child.exited()
                if how is None:
                    continue
                if now - watch.started_at >= HEALTHY_AFTER:
                    watch.delay = FIRST_DELAY
                watch.restart_at = now + watch.delay
                self.log(f"Observatory: {watch.child.name} exited unexpectedly ({how}); "
                         f"restarting in {watch.delay:g} s.")
                watch.delay = min(watch.delay * 2, MAX_DELAY)
            elif now >= watch.restart_at:
                watch.restart_at = None
                watch.started_at = now
                try:
                    watch.child.start()
                except Exception as exc:  # noqa: BLE001 - retried after the next backoff, like an exit
                    self.log(f"Observatory: {watch.child.name} did not start again: {exc}")
                    watch.restart_at = now + watch.delay
                    watch.delay = min(watch.delay * 2, MAX_DELAY)
                    continue
                self.log(f"Observatory: {watch.child.name} restarted.")

    def run(self, stop_requested: Callable[[], bool], interval: float = 0.5) -> None:
        while not stop_requested():
            self.check()
            time.sleep(interval)

    def stop(self, timeout: float = 15) -> None:
        """Stop every child, last started first, so that servers outlive their users."""
        for watch in reversed(self._watches):
            watch.child.stop(timeout)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"exit code {code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"exit code {code}"
    return f"exit code {code}"
