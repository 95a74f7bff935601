"""The Celery application shared by the web process (to enqueue) and the workers, and the limit
every worker statement runs under."""
from __future__ import annotations

import os
from typing import Any

import click
from celery import Celery, bootsteps
from celery.signals import celeryd_after_setup, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatory.settings")

app = Celery("observatory")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_TIMEOUT_UID = "observatory.worker-statement-timeout"


class BeatThread(bootsteps.StartStopStep):
    """`celery worker --beat-thread`: beat as a thread of the worker's main process, for one machine
    (the launcher's default, OBSERVATORY_BEAT_IN_WORKER). Celery's own `--beat` forks a process for
    it, which holds memory of its own like a pool process (14 MiB more PSS at rest than the thread,
    bench/footprint.py) and outlives a SIGKILLed worker; a thread dies with it. Started after the
    pool has forked its processes. Production runs one `celery beat` apart (docs/operations.md)."""

    label = "Beat (thread)"
    conditional = True
    requires = ("celery.worker.components:Pool",)

    def __init__(self, w: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = bool(beat_thread)
        w.beat_thread = None
        super().__init__(w, **kwargs)

    def create(self, w: Any) -> Any:
        from celery.beat import EmbeddedService

        w.beat_thread = EmbeddedService(w.app, schedule_filename=w.schedule_filename, scheduler_cls=w.scheduler,
                                        thread=True)
        return w.beat_thread


app.steps["worker"].add(BeatThread)
app.user_options["worker"].add(click.Option(["--beat-thread"], is_flag=True, default=False,
                                            help="Run beat as a thread of this worker (one machine only)."))


@worker_init.connect
def worker_statement_timeout_bind(**_: Any) -> None:
    """In a worker (main process, before the pool forks, so every child and thread inherits it):
    each database connection opened from now on gets statement_timeout =
    OBSERVATORY_WORKER_STATEMENT_TIMEOUT_MS. A claim or batch gone bad (stale statistics, a burst)
    is then cancelled and retried smaller (telemetry.services._process_batch_retrying) instead of
    holding a connection and a CPU for minutes. Web requests never pass here and keep theirs."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.connect(_statement_timeout_set, dispatch_uid=_TIMEOUT_UID)
    connections.close_all()  # a connection opened before this point (app loading) reopens with it


@celeryd_after_setup.connect
def worker_objects_freeze(**_: Any) -> None:
    """In the worker's main process, once Django, the apps and the tasks are loaded and before the
    pool (and an embedded beat) fork: move every object so far out of the collector's reach. A
    collection in a child then no longer writes to the pages it shares with its parent, which would
    copy them (copy-on-write); measured with bench/footprint.py, see docs/operations.md (Memory)."""
    import gc

    gc.freeze()


def worker_statement_timeout_unbind() -> None:
    from django.db.backends.signals import connection_created

    connection_created.disconnect(dispatch_uid=_TIMEOUT_UID)


def _statement_timeout_set(sender: Any, connection: Any, **_: Any) -> None:
    from django.conf import settings

    if settings.WORKER_STATEMENT_TIMEOUT_MS:
        with connection.cursor() as cur:
            # Session level, before any transaction; SET LOCAL may still raise it for one statement.
            cur.execute("SELECT set_config('statement_timeout', %s, false)",
                        [str(settings.WORKER_STATEMENT_TIMEOUT_MS)])
