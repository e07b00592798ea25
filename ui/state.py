"""Field values of the dock kept in QgsSettings (``insarhub/dock/<widget>``), so they survive
closing the dock, reloading the plugin and restarting QGIS. Secrets never pass here: the
credential picker stores only the QGIS authentication configuration id."""

from __future__ import annotations

from typing import Any, Iterable

from qgis.core import QgsSettings
from qgis.gui import QgsAuthConfigSelect, QgsDateTimeEdit, QgsFileWidget
from qgis.PyQt.QtCore import QDate
from qgis.PyQt.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QTabWidget,
    QWidget,
)

STATE_GROUP = "insarhub/dock"


def widget_value(widget: QWidget) -> Any:
    """The persistable value of a field widget (None for widgets this module does not handle)."""
    if isinstance(widget, QgsFileWidget):
        return widget.filePath()
    if isinstance(widget, QgsAuthConfigSelect):
        return widget.configId()
    if isinstance(widget, QgsDateTimeEdit):
        return "" if widget.isNull() else widget.date().toString("yyyy-MM-dd")
    if isinstance(widget, QLineEdit):
        return widget.text()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QAbstractButton) and widget.isCheckable():
        return widget.isChecked()
    if isinstance(widget, QDoubleSpinBox):
        return widget.value()
    if isinstance(widget, QSpinBox):
        return widget.value()
    if isinstance(widget, QTabWidget):
        return widget.currentIndex()
    return None


def set_widget_value(widget: QWidget, value: Any) -> None:
    """Put ``value`` (as read back from QgsSettings: often a string) into ``widget``."""
    if value is None:
        return
    if isinstance(widget, QgsFileWidget):
        widget.setFilePath(str(value))
    elif isinstance(widget, QgsAuthConfigSelect):
        widget.setConfigId(str(value))
    elif isinstance(widget, QgsDateTimeEdit):
        date = QDate.fromString(str(value), "yyyy-MM-dd")
        if date.isValid():
            widget.setDate(date)
        else:
            widget.clear()
    elif isinstance(widget, QLineEdit):
        widget.setText(str(value))
    elif isinstance(widget, QComboBox):
        index = widget.findText(str(value))
        if index >= 0:
            widget.setCurrentIndex(index)
    elif isinstance(widget, QAbstractButton) and widget.isCheckable():
        widget.setChecked(value is True or str(value).lower() in ("true", "1"))
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(float(value))
    elif isinstance(widget, QSpinBox):
        widget.setValue(int(float(value)))
    elif isinstance(widget, QTabWidget):
        widget.setCurrentIndex(int(value))


def save_widgets(widgets: dict[str, QWidget], group: str = STATE_GROUP) -> None:
    """Store every widget's value under ``group/<name>``."""
    settings = QgsSettings()
    for name, widget in widgets.items():
        value = widget_value(widget)
        if value is not None:
            settings.setValue(f"{group}/{name}", value)


def restore_widgets(widgets: dict[str, QWidget], group: str = STATE_GROUP) -> set[str]:
    """Restore the widgets that have a stored value; return their names."""
    settings = QgsSettings()
    restored = set()
    for name, widget in widgets.items():
        key = f"{group}/{name}"
        if settings.contains(key):
            try:
                set_widget_value(widget, settings.value(key))
            except (TypeError, ValueError):
                continue  # a damaged value: keep the default
            restored.add(name)
    return restored


def save_value(name: str, value: Any, group: str = STATE_GROUP) -> None:
    QgsSettings().setValue(f"{group}/{name}", value)


def load_value(name: str, default: Any = None, group: str = STATE_GROUP) -> Any:
    return QgsSettings().value(f"{group}/{name}", default)


def clear_state(names: Iterable[str] | None = None, group: str = STATE_GROUP) -> None:
    """Forget the stored values (all of them without ``names``)."""
    settings = QgsSettings()
    if names is None:
        settings.remove(group)
    else:
        for name in names:
            settings.remove(f"{group}/{name}")
