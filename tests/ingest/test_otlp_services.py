"""The collector is held off while an export is ingested, and always resumes after it."""
from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from ingest.otel import services
from ingest.otel.services import _GcPause


@pytest.fixture(autouse=True)
def _collector_on() -> Any:
    gc.enable()
    yield
    gc.enable()


def test_the_collector_resumes_when_the_last_of_nested_pauses_ends() -> None:
    pause = _GcPause()
    with pause:
        assert not gc.isenabled()
        with pause:
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_resumes_after_a_failed_export(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> None:
        assert not gc.isenabled()
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "_ingest", fail)
    with pytest.raises(RuntimeError):
        services.otlp_traces_ingest(project_id=1, body=b"", encoding="protobuf")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with _GcPause():
        pass
    assert not gc.isenabled()


def test_exports_in_two_threads_resume_the_collector_once_both_are_done() -> None:
    pause = _GcPause()
    inside, release = threading.Barrier(3), threading.Event()

    def export() -> None:
        with pause:
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=export) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert not gc.isenabled()
    release.set()
    for thread in threads:
        thread.join()
    assert gc.isenabled()
