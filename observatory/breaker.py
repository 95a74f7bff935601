"""A per-process circuit breaker around enqueueing after commit: when Redis is stopped or gone,
one request pays the (short) timeout and the next ones skip the attempt for a cool-down.

Why not `pybreaker` (1.4.1, on PyPI and well kept): it counts `fail_max` failures before opening
and lets a half-open trial through on the first call after `reset_timeout`, which is what this
class does with `fail_max=1`. What we need beyond that (a labelled metric per outcome, a state the
tests and /healthz can read) would be listeners around it, and a new dependency for thirty lines
is not worth it. Enqueueing is fail-soft anyway: the commit is the acknowledgement and the beat
sweeper (telemetry.services.sweep) re-enqueues whatever was skipped.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CircuitOpen(Exception):
    """The breaker is open: the call was skipped, not attempted."""


class Breaker:
    """Closed: calls go through. A failure opens it for `cooldown` seconds, during which calls
    raise CircuitOpen at once. After that one call goes through as a trial (half-open); its
    success closes the breaker, its failure opens it again."""

    def __init__(self, name: str, *, cooldown: float) -> None:
        self.name = name
        self.cooldown = cooldown
        self._lock = threading.Lock()
        self._open_until = 0.0  # monotonic; 0 = closed
        self._trial = False  # a half-open trial call is in flight

    @property
    def state(self) -> str:
        if not self._open_until:
            return "closed"
        return "open" if time.monotonic() < self._open_until else "half-open"

    def call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._open_until:
                if time.monotonic() < self._open_until or self._trial:
                    raise CircuitOpen(f"{self.name}: skipped after a recent failure")
                self._trial = True  # other threads keep skipping until this trial ends
        try:
            result = fn()
        except Exception:
            with self._lock:
                self._open_until = time.monotonic() + self.cooldown
                self._trial = False
            raise
        with self._lock:
            self._open_until = 0.0
            self._trial = False
        return result

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0
            self._trial = False


def _enqueue_breaker() -> Breaker:
    from django.conf import settings

    return Breaker("enqueue", cooldown=settings.ENQUEUE_COOLDOWN_SECONDS)


# One per process (each gunicorn worker learns of an outage by itself, at the cost of one timeout).
enqueue = _enqueue_breaker()
# The API rate limiter reads the same Redis on every request: without its own breaker a stopped
# Redis cost every request the cache timeout, even with enqueueing skipped.
throttle = Breaker("throttle", cooldown=enqueue.cooldown)
