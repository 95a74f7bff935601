#!/usr/bin/env python3
"""Observatory's two commands, needing only Python 3.11+:

    python3 dev.py run     # start everything (embedded PostgreSQL and Redis unless configured)
    python3 dev.py test    # run the test suite (extra arguments go to pytest)
    python3 dev.py manage <command>   # a Django management command against the same servers

It creates ./.venv, installs requirements.txt when it changed, then hands over to
observatory/launcher.py inside the virtualenv. Standard library only, on purpose.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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
    requirements = ROOT / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = VENV / ".requirements.sha256"
    if not stamp.exists() or stamp.read_text().strip() != digest:
        print("Installing requirements (first run, or requirements.txt changed) ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r",
                        str(requirements)], check=True)
        stamp.write_text(digest)
    os.chdir(ROOT)
    os.execv(str(python), [str(python), "-m", "observatory.launcher", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
