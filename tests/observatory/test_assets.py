"""The npm-pinned front-end files (observatory/assets.py) and which plotly.js the charts get
(observatory/staticfinders.py): fetched from a real HTTP server on loopback standing in for the
registry, checked against the pin, refused whole when anything is off."""
from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from observatory import assets, staticfinders

BUNDLE = b"/**\n* plotly.js (basic - minified) v9.9.9\n*/\nwindow.Plotly = {};\n"


def tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def pin(body: bytes, **changes: str) -> assets.NpmPackage:
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode()
    fields = {"name": "plotly.js-basic-dist-min", "version": "9.9.9", "integrity": integrity,
              "files": ("plotly-basic.min.js", "LICENSE")}
    return assets.NpmPackage(**{**fields, **changes})


@pytest.fixture
def registry() -> Iterator[tuple[str, dict[str, bytes], list[str]]]:
    """A registry on loopback: serves the bodies put in its dict by path, records every path asked."""
    served: dict[str, bytes] = {}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", served, asked
    server.shutdown()


def test_it_installs_the_pinned_files_from_the_registry(registry, tmp_path: Path) -> None:
    url, served, asked = registry
    body = tarball({"plotly-basic.min.js": BUNDLE, "LICENSE": b"MIT", "README.md": b"not wanted"})
    package = pin(body)
    served["/plotly.js-basic-dist-min/-/plotly.js-basic-dist-min-9.9.9.tgz"] = body
    assert assets.installed(package, tmp_path) is None
    folder = assets.install(package, tmp_path, registry=url)
    assert asked == ["/plotly.js-basic-dist-min/-/plotly.js-basic-dist-min-9.9.9.tgz"]
    assert assets.installed(package, tmp_path) == folder == tmp_path / "share/observatory/npm/plotly.js-basic-dist-min-9.9.9"
    assert (folder / "plotly-basic.min.js").read_bytes() == BUNDLE and (folder / "LICENSE").read_bytes() == b"MIT"
    assert sorted(p.name for p in folder.iterdir()) == ["LICENSE", "plotly-basic.min.js"]  # only what the pin lists


def test_it_refuses_a_tarball_that_does_not_match_the_pin(registry, tmp_path: Path) -> None:
    url, served, _ = registry
    genuine = tarball({"plotly-basic.min.js": BUNDLE, "LICENSE": b"MIT"})
    served["/plotly.js-basic-dist-min/-/plotly.js-basic-dist-min-9.9.9.tgz"] = tarball(
        {"plotly-basic.min.js": b"window.steal = 1;", "LICENSE": b"MIT"})
    with pytest.raises(assets.AssetError, match="does not match the pinned sha512"):
        assets.install(pin(genuine), tmp_path, registry=url)
    assert not (tmp_path / "share").exists()


def test_it_says_what_failed_when_the_registry_is_unreachable_or_incomplete(registry, tmp_path: Path) -> None:
    url, served, _ = registry
    with pytest.raises(assets.AssetError, match="could not fetch .*404"):
        assets.install(pin(b""), tmp_path, registry=url)
    partial = tarball({"plotly-basic.min.js": BUNDLE})  # no LICENSE
    served["/plotly.js-basic-dist-min/-/plotly.js-basic-dist-min-9.9.9.tgz"] = partial
    with pytest.raises(assets.AssetError, match="lacks"):
        assets.install(pin(partial), tmp_path, registry=url)
    with pytest.raises(assets.AssetError, match="could not fetch"):
        assets.install(pin(b""), tmp_path, registry="http://127.0.0.1:9/", timeout=5)  # nothing listens
    assert assets.installed(pin(partial), tmp_path) is None


def test_the_pin_is_the_plotly_js_of_the_plotly_wheel() -> None:
    # Upgrading `plotly` in requirements.txt fails here until the npm pin follows it (the charts
    # would quietly fall back to the full bundle otherwise).
    assert staticfinders.bundle_version(staticfinders.FULL_BUNDLE) == assets.PLOTLY_BASIC.version


def test_charts_get_the_basic_bundle_only_when_it_matches_the_wheel(tmp_path: Path) -> None:
    assert staticfinders.chart_bundle(tmp_path) == staticfinders.FULL_BUNDLE  # not installed
    folder = assets.PLOTLY_BASIC.folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / "LICENSE").write_text("MIT")
    (folder / "plotly-basic.min.js").write_bytes(BUNDLE)  # v9.9.9: another plotly.js than the wheel's
    assert staticfinders.chart_bundle(tmp_path) == staticfinders.FULL_BUNDLE
    (folder / "plotly-basic.min.js").write_bytes(BUNDLE.replace(b"9.9.9", assets.PLOTLY_BASIC.version.encode()))
    assert staticfinders.chart_bundle(tmp_path) == folder / "plotly-basic.min.js"


def test_this_install_serves_the_basic_bundle() -> None:
    # The test command's set-up (dev.py) installs it; when this fails the registry was out of reach
    # then: `python3 dev.py assets` says why.
    served = Path(staticfinders.PlotlyFinder().find(staticfinders.PUBLIC_PATH))
    assert served.name == "plotly-basic.min.js" and served.stat().st_size < 1_500_000
