"""Static files as browsers should get them: content-hashed names (cached for a year, immutable) with
brotli and gzip copies made once at collectstatic, by whitenoise (the middleware already serving
them, so one library does hashing, compression and headers; brotli comes from the `brotli` wheel).

Two additions to whitenoise's CompressedManifestStaticFilesStorage:
- collectstatic stays quick: a hashed file's name is its content, so its compressed copies, once
  made, are never made again (plotly.min.js at brotli's best level costs seconds every time
  otherwise). Unhashed copies are left uncompressed: no page links to them.
- a name missing from the manifest (no collectstatic yet, or a file added since) is served under
  its plain name rather than failing the page, and `HashedNameFinder` lets the finders (the
  test live server, runserver) serve a hashed name from its current source file.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.finders import BaseFinder
from django.contrib.staticfiles.storage import staticfiles_storage
from whitenoise.storage import CompressedManifestStaticFilesStorage

SUFFIXES = (".br", ".gz")


class StaticStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False

    def stored_name(self, name: str) -> str:
        # Not in the manifest: the plain name, which the finders serve. (Django would hash the copy
        # in STATIC_ROOT, failing when there is none and naming a stale one otherwise.)
        if self.hash_key(urlsplit(unquote(name)).path.strip()) not in self.hashed_files:
            return name
        return super().stored_name(name)

    def compress_files(self, paths: Iterable[str]) -> Iterator[tuple[str, str]]:
        if not getattr(settings, "STATIC_COMPRESS", True):
            return iter(())
        hashed = set(self.hashed_files.values())
        return super().compress_files([path for path in paths if path in hashed and not self._compressed(path)])

    def _compressed(self, name: str) -> bool:
        """True when the hashed file's compressed copies exist. Its name says its content, so they
        are its own (Django saves a CSS or JS file again at every run, so dates would not tell).
        Whitenoise writes none for a file compression does not shrink: small, and tried again."""
        source = self.path(name)
        return all(os.path.exists(source + suffix) for suffix in SUFFIXES)


class HashedNameFinder(BaseFinder):
    """Finds `app.3f2a9c1d.js` as the source file of `app.js` today. Django's static handlers (the
    test live server, runserver) serve through the finders, which know only plain names, while the
    pages link to the manifest's hashed names; serving the current source keeps an edit made after
    the last collectstatic visible there. Lists nothing, so collectstatic never copies through it."""

    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        many = find_all or kwargs.get("all", False)
        hashed_files = getattr(staticfiles_storage, "hashed_files", {})
        original = next((name for name, hashed in hashed_files.items() if hashed == path and name != path), None)
        found = finders.find(original, find_all=many) if original else None
        return found or ([] if many else "")

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, Any]]:
        return iter(())
