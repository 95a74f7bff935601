"""Serves plotly.min.js straight from the installed `plotly` package, so the charts' JavaScript is
always the version the Python side was built against and never comes from a CDN (air-gapped
installs work). Only that one file is exposed: the package's data folder also holds datasets."""
from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PUBLIC_PATH = "vendor/plotly.min.js"
# Found without importing plotly (~7 MB a process that never builds a figure with it).
_SOURCE = Path(importlib.util.find_spec("plotly").origin).resolve().parent / "package_data" / "plotly.min.js"


class _OneFileStorage(FileSystemStorage):
    def path(self, name: str) -> str:
        return str(_SOURCE)


class PlotlyFinder(BaseFinder):
    storage = _OneFileStorage(location=str(_SOURCE.parent))

    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        if path == PUBLIC_PATH:
            return [str(_SOURCE)] if (find_all or kwargs.get("all")) else str(_SOURCE)
        return [] if (find_all or kwargs.get("all")) else ""

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        yield PUBLIC_PATH, self.storage
