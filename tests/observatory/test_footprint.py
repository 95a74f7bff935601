"""What a process of the web imports at start: the heavy libraries only some requests or tasks need
are imported by them, so the web, beat and an idle worker do not carry them (docs/operations.md,
Memory; bench/footprint.py)."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.processes import ROOT

# Imported where they are used: pandas by the fold's factorize (rollups/aggregate.py), plotly's
# package only to find plotly.min.js (observatory/staticfinders.py), the toxicity model on first use,
# scipy by the statistics (drift, alerts, prompts) and the language evaluator when they run.
LAZY = ["pandas", "plotly", "sklearn", "profanity_check", "scipy"]


def test_loading_the_wsgi_app_leaves_the_heavy_libraries_unimported() -> None:
    code = ("import json, sys; import observatory.wsgi; "
            f"print(json.dumps([name for name in {LAZY!r} if name in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
