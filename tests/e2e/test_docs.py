"""The algorithm reference in docs/ is generated from the provider and must be current."""

from __future__ import annotations

import subprocess
import sys

from process_helpers import ROOT, clean_env


def test_algorithm_reference_is_current():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "algorithms_doc.py"), "--check"], capture_output=True, text=True, env=clean_env()
    )
    assert done.returncode == 0, done.stderr
