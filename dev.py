#!/usr/bin/env python3
"""Observatory's two commands, needing only Python 3.11+:

    python3 dev.py run     # start everything (embedded PostgreSQL and Redis unless configured)
    python3 dev.py test    # run the test suite (extra arguments go to pytest)
    python3 dev.py manage <command>   # a Django management command against the same servers
    python3 dev.py assets  # fetch the front-end files again (after an air-gapped first run, say)

It creates ./.venv, installs requirements.txt (for `test`, requirements-test.txt) when it changed and the
front-end files pinned in observatory/assets.py, then hands over to observatory/launcher.py inside the virtualenv. Standard library only, on purpose.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("OBSERVATORY_VENV") or ROOT / ".venv")


def main() -> int:
    if sys.version_info < (3, 11):
        print(f"Observatory needs Python 3.11 or newer; this is {sys.version.split()[0]}.", file=sys.stderr)
        return 2
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"Creating the virtualenv in {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # `test` also installs the test and bench tooling (requirements-test.txt includes requirements.txt);
    # `run` and `manage` install the runtime alone, as a production install would.
    name = "requirements-test.txt" if sys.argv[1:2] == ["test"] else "requirements.txt"
    digest = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in (name, "requirements.txt"))).hexdigest()
    stamp = VENV / f".{name}.sha256"
    if not stamp.exists() or stamp.read_text().strip() != digest:
        print(f"Installing {name} (first run, or it changed) ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r",
                        str(ROOT / name)], check=True)
        stamp.write_text(digest)
    _ensure_npm_assets(force=sys.argv[1:2] == ["assets"])
    if sys.argv[1:2] == ["assets"]:
        return 0
    if sys.argv[1:2] == ["test"]:
        _ensure_chromium()
    os.chdir(ROOT)
    os.execv(str(python), [str(python), "-m", "observatory.launcher", *sys.argv[1:]])


def _ensure_npm_assets(*, force: bool) -> None:
    """plotly.js's basic bundle from the npm registry (observatory/assets.py says why), into the
    virtualenv, once. When the registry is out of reach the charts use the full bundle that ships in
    the `plotly` wheel, and another attempt waits a day (or `python3 dev.py assets`)."""
    spec = importlib.util.spec_from_file_location("observatory_assets", ROOT / "observatory" / "assets.py")
    assets = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = assets  # dataclasses look their module up while the class is made
    spec.loader.exec_module(assets)
    package, prefix = assets.PLOTLY_BASIC, VENV.resolve()
    if assets.installed(package, prefix):
        return
    failed = VENV / f".{package.name}-{package.version}.failed"
    if not force and failed.exists() and failed.stat().st_mtime > time.time() - 86_400:
        return
    print(f"Fetching {package.name} {package.version} from the npm registry (first run only) ...", flush=True)
    try:
        assets.install(package, prefix, timeout=20)
        failed.unlink(missing_ok=True)
    except assets.AssetError as error:
        failed.write_text(f"{error}\n")
        print(f"  {error}\n  The charts will use the full plotly.js bundle from the plotly wheel (a slower first "
              "page load). Set OBSERVATORY_NPM_REGISTRY to a mirror and run `python3 dev.py assets`.", flush=True)


def _ensure_chromium() -> None:
    """The browser tests drive Debian's `chromium` package through Playwright (no browser is ever
    downloaded). Install it once when this machine allows (root with apt-get); otherwise say how."""
    path = os.environ.get("OBSERVATORY_CHROMIUM", "/usr/bin/chromium")
    if Path(path).exists():
        return
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("Installing Debian's chromium for the browser tests (first run only) ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"stdout": subprocess.DEVNULL}
        if subprocess.run([apt, "install", "-y", "-q", "chromium"], env=env, **quiet).returncode != 0:
            subprocess.run([apt, "update", "-q"], env=env, **quiet)
            subprocess.run([apt, "install", "-y", "-q", "chromium"], env=env, **quiet)
    if not Path(path).exists():
        print(f"Browser tests need Chromium at {path}: `sudo apt-get install chromium`, or point "
              "OBSERVATORY_CHROMIUM at a Chromium/Chrome binary. They will fail until then.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
