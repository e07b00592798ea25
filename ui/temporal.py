"""Time on the map: the Temporal Controller set up for a time series run.

The run's displacement layer shows, at each moment, the band of that date (QGIS 3.38+; before, one
layer per acquisition date, each active from its date to the next: ``processing_provider.raster_styling``).
After a run the dock sets the Temporal Controller to the
run's dates with a step matching the acquisition interval and opens its panel; while it animates,
:class:`TemporalSwitch` hides the velocity (it would cover the dates) and shows the dates, and
puts them back when the animation is switched off.
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any, Sequence

from qgis.core import QgsDateTimeRange, QgsInterval, QgsProject, QgsTemporalNavigationObject
from qgis.PyQt.QtCore import QDate, QDateTime, QObject, Qt, QTime
from qgis.PyQt.QtWidgets import QAction

from ..processing_provider.qt_compat import qgis_enum
from ..processing_provider.raster_styling import BY_DATE_GROUP, TIMESERIES_ROLE
from ..processing_provider.styling import ROLE_PROPERTY, groups_with_role

NAVIGATION_OFF = qgis_enum("Qgis.TemporalNavigationMode.Disabled", "QgsTemporalNavigationObject.NavigationMode.NavigationOff")
ANIMATED = qgis_enum("Qgis.TemporalNavigationMode.Animated", "QgsTemporalNavigationObject.NavigationMode.Animated")
DAYS = qgis_enum("Qgis.TemporalUnit.Days", "QgsUnitTypes.TemporalUnit.TemporalDays")


def parse_dates(texts: Sequence[str]) -> list[dt.date]:
    dates = []
    for text in texts:
        try:
            dates.append(dt.datetime.strptime(text.strip()[:8], "%Y%m%d").date())
        except ValueError:
            continue
    return sorted(set(dates))


def step_days(dates: Sequence[dt.date]) -> int:
    """The acquisition interval: the median gap between dates (days, at least 1)."""
    gaps = [(b - a).days for a, b in zip(dates, dates[1:]) if (b - a).days > 0]
    return max(1, int(round(statistics.median(gaps)))) if gaps else 1


def _qdatetime(day: dt.date) -> QDateTime:
    return QDateTime(QDate(day.year, day.month, day.day), QTime(0, 0), Qt.TimeSpec.UTC)


def controller_of(iface: Any) -> QgsTemporalNavigationObject | None:
    """The desktop's Temporal Controller (None without one, e.g. a bare canvas)."""
    try:
        controller = iface.mapCanvas().temporalController()
    except (AttributeError, RuntimeError):
        return None
    return controller if isinstance(controller, QgsTemporalNavigationObject) else None


def setup_controller(iface: Any, date_texts: Sequence[str]) -> tuple[int, int] | None:
    """Set the Temporal Controller to the dates (full range, one frame per acquisition interval).

    Returns ``(dates, step in days)``, or None when there is no controller or no date.
    """
    controller = controller_of(iface)
    dates = parse_dates(date_texts)
    if controller is None or not dates:
        return None
    step = step_days(dates)
    end = dates[-1] + dt.timedelta(days=step)
    controller.setTemporalExtents(QgsDateTimeRange(_qdatetime(dates[0]), _qdatetime(end), True, False))
    controller.setFrameDuration(QgsInterval(step, DAYS))
    if hasattr(controller, "setTemporalRangeCumulative"):
        controller.setTemporalRangeCumulative(False)
    controller.setCurrentFrameNumber(0)
    return len(dates), step


def open_panel(iface: Any) -> bool:
    """Show the Temporal Controller panel (the desktop's own action); False when there is none."""
    try:
        window = iface.mainWindow()
    except (AttributeError, RuntimeError):
        return False
    action = window.findChild(QAction, "mActionTemporalController") if window is not None else None
    if action is None:
        return False
    if not action.isChecked():
        action.trigger()
    return True


def animate(iface: Any) -> bool:
    """Switch the Temporal Controller to animation (the velocity gives way to the dates)."""
    controller = controller_of(iface)
    if controller is None:
        return False
    open_panel(iface)
    controller.setNavigationMode(ANIMATED)
    return True


class TemporalSwitch(QObject):
    """While the Temporal Controller animates, the time series groups show their dates, not the velocity."""

    def __init__(self, iface: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.controller = controller_of(iface)
        self.hidden: list[str] = []  # layer ids of the velocities hidden while animating
        self.shown: list[str] = []  # layer ids of the displacements shown while animating (QGIS 3.38+)
        self.animating = False
        if self.controller is not None:
            # updateTemporalRange, not navigationModeChanged: QGIS 3.22's Python binding of the
            # latter cannot be connected; the range is emitted on every change of mode too.
            self.controller.updateTemporalRange.connect(self._range_changed)
            self.mode_changed(self.controller.navigationMode())

    def _range_changed(self, *_args: Any) -> None:
        if self.controller is not None:
            self.mode_changed(self.controller.navigationMode())

    def mode_changed(self, mode: Any) -> None:
        animating = mode != NAVIGATION_OFF
        if animating == self.animating:
            return
        self.animating = animating
        project = QgsProject.instance()
        root = project.layerTreeRoot()
        if animating:
            self.hidden, self.shown = [], []
            for group in groups_with_role(project, TIMESERIES_ROLE):
                if not group.isVisible():
                    continue
                dates = group.findGroup(BY_DATE_GROUP)
                for node in group.findLayers():
                    layer = node.layer()
                    role = layer.customProperty(ROLE_PROPERTY) if layer is not None else None
                    if role == "VELOCITY" and node.isVisible():
                        node.setItemVisibilityChecked(False)
                        self.hidden.append(layer.id())
                    elif (
                        role == "DISPLACEMENT"
                        and dates is None  # the layer follows the dates itself (QGIS 3.38+)
                        and layer.temporalProperties().isActive()
                        and not node.isVisible()
                    ):
                        node.setItemVisibilityChecked(True)
                        self.shown.append(layer.id())
                if dates is not None:
                    dates.setItemVisibilityCheckedRecursive(True)
        else:
            for layer_id in self.hidden:
                node = root.findLayer(layer_id)
                if node is not None:
                    node.setItemVisibilityChecked(True)
            for layer_id in self.shown:
                node = root.findLayer(layer_id)
                if node is not None:
                    node.setItemVisibilityChecked(False)
            for group in groups_with_role(project, TIMESERIES_ROLE):
                dates = group.findGroup(BY_DATE_GROUP)
                if dates is not None and any(n.layer() and n.layer().id() in self.hidden for n in group.findLayers()):
                    dates.setItemVisibilityChecked(False)
            self.hidden, self.shown = [], []

    def detach(self) -> None:
        if self.controller is not None:
            try:
                self.controller.updateTemporalRange.disconnect(self._range_changed)
            except (TypeError, RuntimeError):
                pass
            self.controller = None
