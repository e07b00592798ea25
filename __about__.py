"""Name and version, read from metadata.txt (the single source)."""

from __future__ import annotations

import configparser
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent


def _metadata() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PLUGIN_DIR / "metadata.txt", encoding="utf-8")
    return parser["general"]


_META = _metadata()
__title__ = _META.get("name", "InSARHub")
__version__ = _META.get("version", "0.0.0")
__icon_path__ = PLUGIN_DIR / _META.get("icon", "resources/icon.png")
__uri_tracker__ = _META.get("tracker", "")
