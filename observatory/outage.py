"""The database is unreachable: which errors mean that, and what every kind of endpoint answers.

Unreachable (a 503 with Retry-After, worth retrying) is a failure of the connection itself: refused,
reset, closed by the server (shutdown, restart, failover), or no slot left (too many connections).
An error PostgreSQL reports about a statement that ran (statement timeout, deadlock, lock timeout,
bad SQL) is not: the server is up, the request failed, and it stays a 500 that someone should read.
"""
from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connections

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying; OTel exporters and our SDKs honour Retry-After.
RETRY_AFTER_SECONDS = 5
MESSAGE = f"The database is unavailable; retry in {RETRY_AFTER_SECONDS} s."

# SQLSTATEs the server sends when it will not serve this connection at all (class 08, connection
# exception, is matched by prefix): too many connections, shutting down, crashed, starting up.
_UNAVAILABLE_SQLSTATES = {"53300", "57P01", "57P02", "57P03"}


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (rather than that a statement failed)."""
    if isinstance(exc, InterfaceError):
        return True  # the connection object is already closed or broken
    if not isinstance(exc, OperationalError):
        return False
    # Django re-raises the driver's error `from` it; psycopg gives no SQLSTATE when the server never
    # answered (refused, reset, "server closed the connection unexpectedly").
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


def release_broken_connections() -> None:
    """Close connections the failure left broken, so the next request reconnects instead of reusing
    a dead socket. This is the errors_occurred branch of close_if_unusable_or_obsolete(); the rest
    of that method (age, autocommit) is request_finished's job and would close healthy connections."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred and not conn.is_usable():
            conn.close()


def note(exc: BaseException, where: str) -> None:
    log.warning("%s: database unavailable (%s); answering 503", where, str(exc).splitlines()[0] if str(exc) else
                type(exc).__name__)
    release_broken_connections()
