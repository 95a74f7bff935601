"""Serves the charts' plotly.js as `vendor/plotly.min.js`, never from a CDN (air-gapped installs work):
plotly.js's basic bundle when set-up installed it (observatory/assets.py: a quarter of the size, every
trace type Observatory draws) and it is the same plotly.js version as the `plotly` wheel's; otherwise
the wheel's full bundle. Only that one file is exposed: the wheel's data folder also holds datasets."""
from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

from observatory import assets

PUBLIC_PATH = "vendor/plotly.min.js"
# Found without importing plotly (~7 MB a process that never builds a figure with it).
FULL_BUNDLE = Path(importlib.util.find_spec("plotly").origin).resolve().parent / "package_data" / "plotly.min.js"
_VERSION = re.compile(rb"plotly\.js(?: \([^)]*\))? v(\d[\w.+-]*)")


def bundle_version(path: Path) -> str | None:
    """The plotly.js version in a bundle's licence header ("plotly.js (basic - minified) v4.1.1")."""
    with path.open("rb") as file:
        found = _VERSION.search(file.read(512))
    return found.group(1).decode() if found else None


def chart_bundle(prefix: str | Path = sys.prefix) -> Path:
    """The basic bundle when it is installed and matches the wheel's plotly.js, else the full one."""
    folder = assets.installed(assets.PLOTLY_BASIC, prefix)
    if folder is not None:
        basic = folder / assets.PLOTLY_BASIC.files[0]
        if bundle_version(basic) == bundle_version(FULL_BUNDLE):
            return basic
    return FULL_BUNDLE


_SOURCE = chart_bundle()


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
