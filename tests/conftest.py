"""Shared test set-up.

The repository root is the plugin folder; QGIS and the tests import it as the package
``insarhub_qgis``. ``make setup`` links ``.venv/qgis-plugins/insarhub_qgis`` to the root;
this file makes sure the link exists and is importable even when pytest is run directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

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


# QGIS 3.22 sometimes crashes (SIGSEGV) while Python tears down Qt and QGIS objects after the
# session, when every result has already been reported; that would turn a passed run into a
# failed one. Once pytest is done, leave with its own exit status instead of tearing down.
_EXIT_STATUS = {"value": 0}


def pytest_sessionfinish(session, exitstatus):  # noqa: ANN001 (pytest hook)
    _EXIT_STATUS["value"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):  # noqa: ANN001 (pytest hook)
    if os.environ.get("INSARHUB_TEST_TEARDOWN", "") == "full":
        return  # to debug the teardown itself
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS["value"])


@pytest.fixture(scope="module")
def mintpy_python() -> str:
    """MintPy's interpreter (the InSARHub setting, INSARHUB_MINTPY_PYTHON or the search); the test is
    skipped where there is none."""
    from insarhub_qgis.core.errors import MintpyNotFoundError
    from insarhub_qgis.core.mintpy_env import find_mintpy_python

    try:
        return find_mintpy_python().python
    except MintpyNotFoundError as exc:
        pytest.skip(str(exc))
