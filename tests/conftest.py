"""Shared test set-up.

The repository root is the plugin folder; QGIS and the tests import it as the package
``insarhub_qgis``. ``make setup`` links ``.venv/qgis-plugins/insarhub_qgis`` to the root;
this file makes sure the link exists and is importable even when pytest is run directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PARENT = ROOT / ".venv" / "qgis-plugins"
FIXTURES = ROOT / "tests" / "fixtures"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")


def _ensure_plugin_link() -> None:
    link = PLUGIN_PARENT / "insarhub_qgis"
    PLUGIN_PARENT.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(ROOT, target_is_directory=True)
    if str(PLUGIN_PARENT) not in sys.path:
        sys.path.insert(0, str(PLUGIN_PARENT))


_ensure_plugin_link()
