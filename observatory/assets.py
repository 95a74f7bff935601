"""Front-end files that ship in npm packages rather than Python wheels, installed at set-up (by
dev.py, right after pip) into the virtualenv, pinned to one version and its registry checksum.

Today that is plotly.js's *basic* bundle (trace types bar, pie and scatter; 1.2 MB against the
full bundle's 4.8 MB), published by Plotly as `plotly.js-basic-dist-min`. Every chart Observatory
draws is a bar or a scatter, and parsing the full bundle was most of a cold page load (issue 17:
~1.5 s cold with it). No PyPI package carries a partial bundle, so it comes from the npm registry,
the way pip fetches wheels: once, at install, never at run time. Without it (an air-gapped
install with no npm mirror) the charts use the full bundle from the `plotly` wheel: slower to
load the first time, identical otherwise.

Standard library only: dev.py loads this file by path before Django (or anything) is installed.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGISTRY = "https://registry.npmjs.org"
# The trace types the basic bundle holds (its README on npm). The chart tests assert that every
# figure Observatory builds uses only these, so a new chart type cannot silently draw nothing.
PLOTLY_BASIC_TRACES = frozenset({"bar", "pie", "scatter"})


class AssetError(Exception):
    """The package could not be fetched, or what arrived is not what the pin says."""


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    integrity: str  # the registry's `dist.integrity`: "sha512-" + base64 of the tarball's digest
    files: tuple[str, ...]  # taken from the tarball's `package/` folder; nothing else is extracted

    def tarball_url(self, registry: str) -> str:
        # The registry's layout for an unscoped package: <registry>/<name>/-/<name>-<version>.tgz
        return f"{registry.rstrip('/')}/{self.name}/-/{self.name}-{self.version}.tgz"

    def folder(self, prefix: str | os.PathLike[str]) -> Path:
        return Path(prefix) / "share" / "observatory" / "npm" / f"{self.name}-{self.version}"


# Same plotly.js version as the full bundle inside requirements.txt's `plotly` wheel (a test holds
# the two together): bump both at once. Integrity from `npm view plotly.js-basic-dist-min@4.1.1 dist.integrity`.
PLOTLY_BASIC = NpmPackage(
    name="plotly.js-basic-dist-min", version="4.1.1",
    integrity="sha512-1oNF8PeQx2hv/y7tqEVWKD3JGwn/MGEMQ8mL9HUwsaqG9FGy/OU5FHUHvzqbqxN4mnwZGI9abTiE775C4kkjMQ==",
    files=("plotly-basic.min.js", "LICENSE"),
)


def installed(package: NpmPackage = PLOTLY_BASIC, prefix: str | os.PathLike[str] = sys.prefix) -> Path | None:
    """The folder holding the package's files, when all of them are there."""
    folder = package.folder(prefix)
    return folder if all((folder / name).is_file() for name in package.files) else None


def install(package: NpmPackage = PLOTLY_BASIC, prefix: str | os.PathLike[str] = sys.prefix, *,
            registry: str | None = None, timeout: float = 30.0) -> Path:
    """Fetches the package's tarball, checks it against the pinned integrity, and writes the listed
    files (only those) into the prefix. Raises AssetError and leaves nothing behind on any failure."""
    registry = registry or os.environ.get("OBSERVATORY_NPM_REGISTRY") or DEFAULT_REGISTRY
    url = package.tarball_url(registry)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - https or a configured mirror
            body = response.read()
    except (urllib.error.URLError, OSError) as error:
        raise AssetError(f"could not fetch {url}: {error}") from error
    algorithm, _, expected = package.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, body).digest()).decode()
    if actual != expected:
        raise AssetError(f"{url} does not match the pinned {algorithm} checksum: refused")
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            for name in package.files:
                member = archive.getmember(f"package/{name}")
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is None:
                    raise KeyError(name)
                contents[name] = extracted.read()
    except (tarfile.TarError, KeyError) as error:
        raise AssetError(f"{url} lacks {error}") from error
    folder = package.folder(prefix)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        partial = folder / f".{name}.partial"
        partial.write_bytes(data)
        partial.replace(folder / name)  # atomic: a server never reads half a file
    return folder


if __name__ == "__main__":  # `python -m observatory.assets`: install into this interpreter's prefix
    try:
        print(f"installed {install()}")
    except AssetError as error:
        print(f"not installed: {error}", file=sys.stderr)
        sys.exit(1)
