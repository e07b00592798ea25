"""The shipped code stays ready for QGIS 4 / Qt6, which cannot be installed here.

Two checks, both on exactly the files ``make package`` ships:

* QGIS's own PyQt5 -> PyQt6 migration checker (``scripts/qt6_check.py``) must want no change.
  Without a Qt6 build of QGIS to introspect, it can only see Qt's own enums and calls.
* So the QGIS side is scanned here, with the QGIS this test runs in: every ``Class.Member``
  where the member is an enum value reached through its class instead of through its enum
  (``QgsFeatureSink.FastInsert`` instead of ``QgsFeatureSink.Flag.FastInsert``). Qt6 builds
  generate scoped enums only, so those unscoped aliases are gone there. The same scan runs on
  QGIS 3.22, 3.40 and 3.44, so enums QGIS moved in between (e.g. to ``Qgis``) are seen under both
  their old and their new types. One exception is QGIS's own rule: ``QVariant.Int`` and friends
  stay unscoped, because ``QVariant.Type`` does not exist in PyQt6 and QGIS patches the
  unscoped constants back in for its Qt6 builds (qgis/QGIS#55954); ``QVariant.Type.Int`` is the
  spelling that breaks.
"""

from __future__ import annotations

import ast
import enum
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from package import plugin_files  # noqa: E402


def _shipped_python() -> list[Path]:
    return [p for p in plugin_files(ROOT) if p.suffix == ".py"]


def _is_enum_type(obj) -> bool:
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        return True
    return type(obj).__name__ == "enumtype"  # sip's enum type (PyQt5 builds)


def _is_enum_member(value) -> bool:
    return _is_enum_type(type(value))


def _imported_names(tree: ast.Module) -> dict[str, object]:
    """Names a module imports from qgis (qgis.core, qgis.gui, qgis.PyQt.*), resolved here."""
    names: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qgis":
            module = importlib.import_module(node.module)
            for alias in node.names:
                if alias.name != "*" and hasattr(module, alias.name):
                    names[alias.asname or alias.name] = getattr(module, alias.name)
    return names


def _resolve(node: ast.AST, names: dict[str, object]):
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def unscoped_enum_uses(path: Path, relative: str) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
    names = _imported_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        container = _resolve(node.value, names)
        if container is None:
            continue
        if getattr(container, "__name__", "") == "QVariant":
            if node.attr == "Type":
                found.append(f"{relative}:{node.lineno}: QVariant.Type does not exist in PyQt6; write QVariant.Int etc.")
            continue  # QVariant.Int, .String, ...: the spelling QGIS's Qt6 builds provide
        if not isinstance(container, type) or _is_enum_type(container):
            continue  # reached through its enum already, or not a class
        value = getattr(container, node.attr, None)
        if value is None or not _is_enum_member(value):
            continue
        enum_name = type(value).__qualname__.split(".")[-1]
        found.append(
            f"{relative}:{node.lineno}: {ast.unparse(node)} is an enum value reached through its class; "
            f"Qt6 builds need the enum's scope, e.g. {ast.unparse(node.value)}.{enum_name}.{node.attr}"
        )
    return found


def test_no_enum_value_reached_without_its_enum():
    problems = []
    for relative in _shipped_python():
        problems += unscoped_enum_uses(ROOT / relative, relative.as_posix())
    assert not problems, "\n".join(problems)


def test_the_scan_catches_what_qt6_drops(tmp_path):
    """The scan above is not vacuous: it flags the spellings Qt6 builds drop and accepts the scoped ones."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from qgis.core import QgsFeatureSink, QgsWkbTypes, Qgis\n"
        "from qgis.PyQt.QtCore import Qt, QVariant\n"
        "a = QgsFeatureSink.FastInsert\n"
        "b = QgsFeatureSink.Flag.FastInsert\n"
        "c = QgsWkbTypes.PolygonGeometry\n"
        "d = Qgis.Warning\n"
        "e = Qgis.MessageLevel.Warning\n"
        "f = Qt.AlignLeft | Qt.AlignmentFlag.AlignRight\n"
        "g = QVariant.Type.String\n"
        "h = Qgis.QGIS_VERSION_INT\n"
        "i = QVariant.String\n"
    )
    flagged = {line.split(":")[1] for line in unscoped_enum_uses(sample, "sample.py")}
    assert flagged == {"3", "5", "6", "8", "9"}


def test_the_migration_checker_wants_no_change():
    import qt6_check

    try:
        diffs = qt6_check.run_checker(ROOT)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    assert not diffs, "QGIS's PyQt6 migration checker wants these changes:\n" + "".join(diffs.values())


def test_metadata_offers_the_plugin_to_qgis_4():
    import configparser

    meta = configparser.ConfigParser(interpolation=None)
    meta.read(ROOT / "metadata.txt", encoding="utf-8")
    general = meta["general"]
    assert general["qgisMinimumVersion"] == "3.22"
    # Without a maximum the plugin manager assumes 3.99 and hides the plugin from QGIS 4;
    # without supportsQt6 the Qt6 builds mark it unsupported.
    assert general["qgisMaximumVersion"] == "4.99"
    assert general["supportsQt6"] == "True"
