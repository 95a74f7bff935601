"""gunicorn settings used by the launcher (bind and workers come from the environment)."""
import os

bind = f"{os.environ.get('OBSERVATORY_HOST', '127.0.0.1')}:{os.environ.get('OBSERVATORY_PORT', '8000')}"
workers = int(os.environ.get("OBSERVATORY_WEB_WORKERS", "2"))
# Two threads per worker: while one waits on PostgreSQL (a commit's fsync), the other parses the
# next batch. Measured on 2 cores: more ingest throughput than one thread, with the same workers.
threads = int(os.environ.get("OBSERVATORY_WEB_THREADS", "2"))
timeout = 60
# Load the app once in the master, then fork the workers: the pages of Django, the apps and their
# libraries are shared instead of loaded once per worker (bench/footprint.py). Off, each worker
# imports the app itself (a worker restarted by max_requests or a code reload then sees new code).
preload_app = os.environ.get("OBSERVATORY_WEB_PRELOAD", "true").lower() in ("1", "true", "yes", "on")
accesslog = "-" if os.environ.get("OBSERVATORY_ACCESS_LOG", "").lower() in ("1", "true", "yes") else None
errorlog = "-"


def when_ready(server):  # type: ignore[no-untyped-def]
    # Before the first fork: with preload_app the master holds the imported app. Django imports the
    # URL configuration, and with it every view module, at the first request: do it here, once, so
    # the workers share it too. Frozen objects are never visited by the collector, so a collection in
    # a worker does not write to (and copy) the pages it shares with the master and its siblings.
    import gc

    if server.cfg.preload_app:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 - imports the URLconf and the views
    gc.freeze()


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    # Everything imported so far (Django, the apps, protobuf) lives as long as the worker: move it
    # out of the collector's generations, so full collections stop walking it (gc.freeze docs).
    import gc

    gc.freeze()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    # Prometheus multiprocess mode: forget the metrics files of a dead worker.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
