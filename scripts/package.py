"""Build the installable plugin zip: dist/insarhub_qgis-<version>.zip.

Only the plugin's own files go in (a folder ``insarhub_qgis/``): no tests, fixtures,
benchmarks, scripts, caches or virtual environments.
"""

from __future__ import annotations

import configparser
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "insarhub_qgis"
INCLUDE_FILES = ["metadata.txt", "__init__.py", "__about__.py", "LICENSE", "README.md"]
INCLUDE_DIRS = ["core", "processing_provider", "plugin", "ui", "resources", "models"]
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp"}


def plugin_files(root: Path = ROOT) -> list[Path]:
    """The files of the plugin proper, relative to ``root``."""
    files = [root / name for name in INCLUDE_FILES if (root / name).is_file()]
    for directory in INCLUDE_DIRS:
        base = root / directory
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and not (SKIP_PARTS & set(path.parts)) and path.suffix not in SKIP_SUFFIXES:
                files.append(path)
    return [p.relative_to(root) for p in files]


def build(out_dir: Path = ROOT / "dist") -> Path:
    meta = configparser.ConfigParser(interpolation=None)
    meta.read(ROOT / "metadata.txt", encoding="utf-8")
    version = meta["general"]["version"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{PACKAGE}-{version}.zip"
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files():
            archive.write(ROOT / relative, f"{PACKAGE}/{relative.as_posix()}")
    tmp.replace(target)
    return target


if __name__ == "__main__":
    path = build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist")
    print(f"Plugin package: {path}")
