"""``tr()``: every user-visible string of the dock goes through Qt's translation (context "InSARHub"),
so a translation can be added (``i18n/*.qm``) without touching code."""

from __future__ import annotations

from qgis.PyQt.QtCore import QCoreApplication


def tr(text: str) -> str:
    return QCoreApplication.translate("InSARHub", text)
