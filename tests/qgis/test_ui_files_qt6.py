"""The Designer files the dock and options page load at runtime also load under PyQt6 (QGIS 4).

QGIS 4 cannot be installed here, but the migration checker's own tool venv (``make setup`` builds
``.venv/tools/pyqt5to6``, with PyQt6 and no QGIS) has PyQt6's ``uic``. Each shipped ``.ui`` file is
loaded there and its widgets built, with stand-ins for the QGIS widgets it names (a Qt5 QGIS and
PyQt6 never share a process): an enum spelling, property or layout that PyQt6's ``uic`` rejects
fails here. The same files are loaded by the real QGIS of the other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from package import plugin_files  # noqa: E402

STAND_INS = '''
"""Stand-ins for the QGIS widgets the .ui files name (PyQt6 without QGIS)."""
from PyQt6.QtWidgets import QComboBox, QGroupBox, QWidget

class QgsFileWidget(QWidget): pass
class QgsAuthConfigSelect(QWidget): pass
class QgsMapLayerComboBox(QComboBox): pass
class QgsCollapsibleGroupBox(QGroupBox): pass
class QgsProjectionSelectionWidget(QWidget): pass
class QgsDateEdit(QWidget): pass
'''

LOADER = '''
import sys
from PyQt6 import uic
from PyQt6.QtWidgets import QApplication, QWidget

app = QApplication([])
for path in sys.argv[1:]:
    form, base = uic.loadUiType(path)
    widget = base()
    form().setupUi(widget)
    print(path, len(widget.findChildren(QWidget)))
'''


def test_every_ui_file_loads_under_pyqt6(tmp_path):
    python = ROOT / ".venv" / "tools" / "pyqt5to6" / "bin" / "python"
    if not python.exists():
        pytest.fail("The PyQt6 tool venv is missing: run `make setup` (or `.venv/bin/python scripts/qt6_check.py --ensure`).")
    stubs = tmp_path / "stubs" / "qgis"
    stubs.mkdir(parents=True)
    (stubs / "__init__.py").write_text("")
    (stubs / "gui.py").write_text(STAND_INS)
    files = [str(ROOT / p) for p in plugin_files(ROOT) if p.suffix == ".ui"]
    assert len(files) >= 9  # the dock, its six pages, the options page, the login dialog
    done = subprocess.run(
        [str(python), "-c", LOADER, *files],
        env={"PYTHONPATH": str(tmp_path / "stubs"), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = [line.split()[0] for line in done.stdout.splitlines()]
    assert loaded == files
    assert all(int(line.split()[1]) > 3 for line in done.stdout.splitlines())  # real forms, not empty shells
