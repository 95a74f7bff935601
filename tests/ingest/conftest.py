"""Fixtures shared by the ingest tests that talk to a live server."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.processes import child_env, gunicorn


@pytest.fixture(scope="module")
def server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """A real gunicorn on the test database, one per test module, with ingest throttling out of the way."""
    with django_db_blocker.unblock():
        env = child_env(OBSERVATORY_INGEST_RATE="100000/min")
    with gunicorn(env) as base:
        yield base
