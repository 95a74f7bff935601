"""Static files load fast (issue 17 §3): collectstatic gives content-hashed names with brotli and gzip
copies, made once; whitenoise serves them compressed and immutable; pages link to the hashed names,
and the finders (the test live server, runserver) serve a hashed name from its current source."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import Client, override_settings

SCRIPT = "window.observatoryStaticTest = " + repr("x" * 4000) + ";\n"  # big and compressible


@pytest.fixture
def collected(tmp_path: Path) -> Path:
    source, root = tmp_path / "source", tmp_path / "root"
    (source / "demo").mkdir(parents=True)
    (source / "demo" / "big.js").write_text(SCRIPT)
    with override_settings(STATICFILES_DIRS=[str(source)], STATIC_ROOT=str(root), STATIC_COMPRESS=True,
                           STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder",
                                                "observatory.staticstorage.HashedNameFinder"]):
        call_command("collectstatic", "--noinput", "-v", "0")
        yield root


def test_collectstatic_hashes_and_precompresses_once(collected: Path) -> None:
    hashed = staticfiles_storage.stored_name("demo/big.js")
    assert hashed.startswith("demo/big.") and hashed != "demo/big.js"
    copies = {suffix: collected / f"{hashed}{suffix}" for suffix in (".br", ".gz")}
    assert all(path.exists() for path in copies.values())
    assert copies[".br"].stat().st_size < len(SCRIPT) / 10
    made = {suffix: path.stat().st_mtime_ns for suffix, path in copies.items()}
    os.utime(copies[".br"], ns=(1, 1))  # a second run must leave the copies as they are
    call_command("collectstatic", "--noinput", "-v", "0")
    assert copies[".br"].stat().st_mtime_ns == 1 and copies[".gz"].stat().st_mtime_ns == made[".gz"]


def test_collectstatic_can_leave_compression_out(collected: Path) -> None:
    hashed = staticfiles_storage.stored_name("demo/big.js")
    for path in [*collected.rglob("*.br"), *collected.rglob("*.gz")]:
        path.unlink()
    with override_settings(STATIC_COMPRESS=False):
        call_command("collectstatic", "--noinput", "-v", "0")
    assert (collected / hashed).exists() and not (collected / f"{hashed}.br").exists()


def test_whitenoise_serves_the_hashed_name_compressed_and_immutable(collected: Path, db: Any) -> None:
    url = staticfiles_storage.url("demo/big.js")
    response = Client().get(url, HTTP_ACCEPT_ENCODING="gzip, br")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "br"
    assert "immutable" in response["Cache-Control"] and "max-age=315360000" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == (collected / f"{staticfiles_storage.stored_name('demo/big.js')}.br").read_bytes()


def test_a_hashed_name_is_found_as_its_current_source(collected: Path) -> None:
    hashed = staticfiles_storage.stored_name("demo/big.js")
    found = finders.find(hashed)
    assert found and Path(found).read_text() == SCRIPT
    assert Path(found).parent.parent.name == "source"  # the source file, edits since collectstatic included
    assert staticfiles_storage.url("demo/not-collected.js").endswith("/demo/not-collected.js")


def test_pages_link_to_hashed_static_files(owner_client: Client, project: Any) -> None:
    html = owner_client.get(f"/projects/{project.id}/").content.decode()
    for name in ("dashboards/app.js", "dashboards/app.css"):
        assert staticfiles_storage.url(name) in html
