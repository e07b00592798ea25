"""Small widgets of the dock's pages."""

from __future__ import annotations

import calendar
import re
from typing import Any

from qgis.PyQt.QtCore import QDate, QObject, pyqtSignal
from qgis.PyQt.QtWidgets import QCalendarWidget, QLineEdit, QMenu, QToolButton, QWidgetAction

from .i18n import tr

_DATE = re.compile(r"^\s*(\d{4})(?:[-/.]?(\d{1,2})(?:[-/.]?(\d{1,2}))?)?\s*$")



def parse_period(text: str, end: bool) -> QDate | None:
    """``2020`` / ``2020-05`` / ``2020-05-17`` as a date: the first day of that period, or its last day
    when ``end``; None for empty text; ValueError for anything else."""
    if not text or not text.strip():
        return None
    match = _DATE.match(text)
    if not match:
        raise ValueError(tr("'{text}' is not a date: type a year (2020), a month (2020-05) or a day (2020-05-17).").format(text=text.strip()))
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    if month is None:
        month, day = (12, 31) if end else (1, 1)
    elif day is None:
        day = calendar.monthrange(year, month)[1] if end and 1 <= month <= 12 else 1
    date = QDate(year, month, day)
    if not date.isValid():
        raise ValueError(tr("'{text}' is not a valid date.").format(text=text.strip()))
    return date


class DateField(QObject):
    """A date a person can type: empty means no limit; a year, a month or a day; or a calendar.

    Wraps the page's line edit (placeholder "no limit") and its calendar button. ``end`` fields
    read a year or month as its last day, so "until 2020" means the end of 2020.
    """

    changed = pyqtSignal()

    def __init__(self, edit: QLineEdit, button: QToolButton | None = None, end: bool = False) -> None:
        super().__init__(edit)
        self.edit = edit
        self.end = end
        self._tooltip = edit.toolTip()
        edit.setPlaceholderText(tr("no limit"))
        edit.textChanged.connect(self._text_changed)
        if button is not None:
            menu = QMenu(button)
            self.calendar = QCalendarWidget(menu)
            action = QWidgetAction(menu)
            action.setDefaultWidget(self.calendar)
            menu.addAction(action)
            self.calendar.clicked.connect(self._picked)
            self.calendar.clicked.connect(lambda _date: menu.hide())
            menu.aboutToShow.connect(self._before_calendar)
            button.setMenu(menu)
            button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._text_changed(edit.text())

    def _before_calendar(self) -> None:
        date = self.date_or_none()
        self.calendar.setSelectedDate(date or QDate.currentDate())

    def _picked(self, date: QDate) -> None:
        self.edit.setText(date.toString("yyyy-MM-dd"))

    def _text_changed(self, _text: str) -> None:
        problem = self.problem()
        self.edit.setStyleSheet("QLineEdit { color: #c62828; }" if problem else "")
        self.edit.setToolTip(problem or self._tooltip)
        self.changed.emit()

    def problem(self) -> str:
        """Why the text is not a date ("" when it is, or is empty)."""
        try:
            parse_period(self.edit.text(), self.end)
        except ValueError as exc:
            return str(exc)
        return ""

    def date_or_none(self) -> QDate | None:
        try:
            return parse_period(self.edit.text(), self.end)
        except ValueError:
            return None

    def iso(self) -> str:
        """``YYYY-MM-DD``, "" for no limit; ValueError (with advice) for text that is not a date."""
        date = parse_period(self.edit.text(), self.end)
        return "" if date is None else date.toString("yyyy-MM-dd")

    def set_value(self, value: Any) -> None:
        if isinstance(value, QDate):
            value = value.toString("yyyy-MM-dd") if value.isValid() else ""
        self.edit.setText(str(value or ""))

    def is_null(self) -> bool:
        return not self.edit.text().strip()
