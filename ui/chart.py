"""The pixel time-series chart of the dock: displacement (mm) against date, a linear fit per
pixel, several pixels on one chart; export of its data (CSV) and of the picture (PNG).

matplotlib's Qt canvas with a ``matplotlib.figure.Figure`` (never pyplot: pyplot keeps global
state and may switch backends inside QGIS).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from qgis.PyQt.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from .i18n import tr
from .maptools import PixelSeries

# matplotlib's tab10, so a pixel's marker on the map matches its line
COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


CSV_COLUMNS = ["point", "component", "x", "y", "crs", "date", "displacement_mm", "fit_mm", "velocity_mm_per_year"]


def _tick_width(limits: tuple[float, float]) -> int:
    """Characters of the widest y tick label the limits can give (its margin must fit it)."""
    return max(len(f"{value:.0f}") for value in limits) + 2


class TimeSeriesChart(QWidget):
    """A matplotlib figure in the dock holding the pixels clicked so far."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        try:  # matplotlib >= 3.5: one Qt backend for PyQt5 and PyQt6 (QGIS 3 and 4)
            from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        except ImportError:  # older matplotlib (Qt5 only)
            from matplotlib.backends.backend_qt5agg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4.5, 3.0), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(200)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.series: list[PixelSeries] = []
        self._artists: list[list[Any]] = []  # each pixel's lines, in the order of ``series``
        self._hint: Any = None
        self._dated = False  # the x axis has its date locator and formatter
        self._layout_ticks = 0  # the widest y tick label the margins were laid out for
        self.redraw()

    def colour(self, index: int) -> str:
        return COLOURS[index % len(COLOURS)]

    def add_series(self, series: PixelSeries) -> str:
        """Add a pixel; returns its colour (for its marker on the map).

        Only the new pixel's lines go on the axes already drawn, after Clear too: rebuilding the axes, their
        ticks and their layout for every click was most of the click-to-chart time (bench/bench_chart_redraw.py).
        """
        self.series.append(series)
        axes = self.figure.axes[0]
        self._hint.set_visible(False)
        self._artists.append(self._plot(axes, len(self.series) - 1, series))
        self._finish(axes)
        self.canvas.draw_idle()
        return self.colour(len(self.series) - 1)

    def clear(self) -> None:
        """No pixels: their lines and the legend go; the axes stay as they were, with the hint."""
        self.series = []
        axes = self.figure.axes[0]
        for artists in self._artists:
            for artist in artists:
                artist.remove()
        self._artists = []
        if axes.get_legend() is not None:
            axes.get_legend().remove()
        self._hint.set_visible(True)
        self.canvas.draw_idle()

    def redraw(self) -> None:
        """Build the figure anew and draw every pixel on it (the chart's start)."""
        self.figure.clear()
        axes = self.figure.add_subplot(111)
        axes.set_xlabel(tr("Date"))
        axes.axhline(0, color="#999999", linewidth=0.6)
        axes.grid(True, linewidth=0.3)
        self._hint = axes.text(
            0.5,
            0.5,
            tr("Click pixels on the map"),
            ha="center",
            va="center",
            transform=axes.transAxes,
            color="#777777",
            visible=not self.series,
        )
        self._dated = False
        self._artists = [self._plot(axes, index, series) for index, series in enumerate(self.series)]
        self._finish(axes, layout=True)
        self.canvas.draw_idle()

    def _plot(self, axes: Any, index: int, series: PixelSeries) -> list[Any]:
        """One pixel's lines: its LOS displacement and fit, and its vertical and east where decomposed."""
        colour = self.colour(index)
        rate = tr("no fit") if series.velocity_mm_per_year is None else f"{series.velocity_mm_per_year:+.1f} mm/yr"
        components = series.extra.get("components", [])
        velocities = series.extra.get("decomposed_mm_yr", {})
        label = f"{series.label} LOS ({rate})" if components or velocities else f"{series.label} ({rate})"
        if velocities and not components:
            label += "; " + ", ".join(f"{tr(k)} {v:+.1f}" for k, v in velocities.items()) + " mm/yr"
        artists = axes.plot(series.dates, series.values_mm, "o-", color=colour, markersize=3, linewidth=0.8, label=label)
        if series.velocity_mm_per_year is not None:
            artists += axes.plot(series.dates, series.fitted(), "--", color=colour, linewidth=1.0)
        # Vertical and east from a decomposition of two stacks: the same colour, their own markers.
        for component, style in zip(components, ("^-.", "s:")):
            rate = "" if component.velocity_mm_per_year is None else f" ({component.velocity_mm_per_year:+.1f} mm/yr)"
            artists += axes.plot(
                component.dates,
                component.values_mm,
                style,
                color=colour,
                markersize=3,
                linewidth=0.8,
                label=f"{series.label} {component.label}{rate}",
            )
        return artists

    def _finish(self, axes: Any, layout: bool = False) -> None:
        """Label, legend and date axis for what is drawn; the margins again where the tick labels grew
        (or the date axis came). The date locator is set once per axes: setting it again would make
        matplotlib build every tick anew at the next draw."""
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        ylabel = tr("Displacement (mm)") if self.components else tr("LOS displacement (mm)")
        if axes.get_ylabel() != ylabel:
            axes.set_ylabel(ylabel)
        if self.series:
            axes.relim()
            axes.autoscale_view()
            axes.legend(fontsize="x-small", loc="best")
            if not self._dated:
                locator = AutoDateLocator(maxticks=6)
                axes.xaxis.set_major_locator(locator)
                axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
                self._dated = layout = True
        ticks = _tick_width(axes.get_ylim())
        if layout or ticks > self._layout_ticks:
            self.figure.tight_layout()
            self._layout_ticks = ticks

    def rows(self) -> list[dict[str, object]]:
        """The chart's data, one row per pixel and date (the CSV's rows)."""
        rows = []
        for parent, series in self._all_series():
            for date, value, fit in zip(series.dates, series.values_mm, series.fitted()):
                rows.append(
                    {
                        "point": parent.label,
                        "component": "LOS" if series is parent else series.label,
                        "x": series.x,
                        "y": series.y,
                        "crs": series.crs,
                        "date": date.isoformat(),
                        "displacement_mm": "" if math.isnan(value) else round(value, 4),
                        "fit_mm": "" if math.isnan(fit) else round(fit, 4),
                        "velocity_mm_per_year": ""
                        if series.velocity_mm_per_year is None
                        else round(series.velocity_mm_per_year, 4),
                    }
                )
        return rows

    def _all_series(self) -> list[tuple[PixelSeries, PixelSeries]]:
        """(clicked pixel, series): each pixel's LOS series, then its vertical and east ones."""
        pairs = []
        for series in self.series:
            pairs.append((series, series))
            pairs.extend((series, component) for component in series.extra.get("components", []))
        return pairs

    @property
    def components(self) -> bool:
        """True when a pixel also shows vertical and east displacement."""
        return any(series.extra.get("components") for series in self.series)

    def export_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows())
        return path

    def export_png(self, path: str | Path, dpi: int = 150) -> Path:
        path = Path(path)
        self.figure.savefig(str(path), dpi=dpi)
        return path
