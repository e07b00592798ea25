"""Picture of an interferogram network: perpendicular baseline (m) against date.

One PNG, one panel per stack (stacked vertically, each with its own date axis), so a single
``PLOT`` output shows every stack of a run. In each panel: acquisitions are dots (coloured
by component when the network is not connected), pairs are lines coloured by temporal
baseline (one colour scale and colour bar for the whole figure), bridges are dashed and
thicker, excluded acquisitions are red crosses (at their baseline when known, else on the
bottom edge). The panel title gives the stack id and the counts.

Drawing goes through ``matplotlib.figure.Figure`` and the Agg canvas directly, never
``pyplot`` or ``matplotlib.use``: it neither needs a display nor changes the backend of a
running QGIS.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .pairs import Network

__all__ = ["plot_network"]

_PANEL_HEIGHT_IN = 3.4
_MAX_PANEL_HEIGHT_TOTAL_IN = 60.0


def _x(dates) -> np.ndarray:
    from matplotlib import dates as mdates

    return mdates.date2num(np.array([np.datetime64(d, "D") for d in dates], dtype="datetime64[D]"))


def plot_network(
    network: Network,
    path_png: str | Path,
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Draw ``network`` into the PNG file ``path_png`` (folders created) and return its path.

    ``title`` heads the figure (default: "Interferogram network"); each stack's panel
    is titled with its id, acquisitions, pairs, bridges, components and exclusions.
    """
    import networkx as nx
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    stacks = network.stacks() or ["(no stack)"]
    height = min(1.2 + _PANEL_HEIGHT_IN * len(stacks), _MAX_PANEL_HEIGHT_TOTAL_IN)
    try:
        figure = Figure(figsize=(11.0, height), layout="constrained")
    except TypeError:  # matplotlib < 3.5 (older QGIS installs)
        figure = Figure(figsize=(11.0, height), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(stacks), 1, squeeze=False)[:, 0]

    temporal = [p.temporal_baseline_days for p in network.pairs]
    norm = Normalize(
        vmin=min(temporal, default=0), vmax=max(max(temporal, default=1), min(temporal, default=0) + 1)
    )
    cmap = "viridis"
    palette = [
        "tab:blue",
        "tab:orange",
        "tab:green",
        "tab:red",
        "tab:purple",
        "tab:brown",
        "tab:pink",
        "tab:olive",
    ]

    for ax, stack in zip(axes, stacks):
        acquisitions = network.acquisitions_of(stack)
        pairs = network.pairs_of(stack)
        components = network.components_of(stack)
        excluded = network.excluded_of(stack)
        bridges = [p for p in pairs if p.bridge]
        index = {a.date: k for k, a in enumerate(acquisitions)}
        x = _x([a.date for a in acquisitions]) if acquisitions else np.array([])
        y = np.array([a.perp_baseline_m for a in acquisitions])

        for dashed, group in ((False, [p for p in pairs if not p.bridge]), (True, bridges)):
            if not group:
                continue
            segments = [
                [
                    (x[index[p.reference_date]], y[index[p.reference_date]]),
                    (x[index[p.secondary_date]], y[index[p.secondary_date]]),
                ]
                for p in group
            ]
            lines = LineCollection(
                segments,
                cmap=cmap,
                norm=norm,
                linewidths=1.8 if dashed else 0.9,
                linestyles="--" if dashed else "-",
                alpha=1.0 if dashed else 0.75,
                zorder=3 if dashed else 2,
            )
            lines.set_array(np.array([p.temporal_baseline_days for p in group], dtype=float))
            ax.add_collection(lines)

        colours = ["black"] * len(acquisitions)
        if len(components) > 1:
            graph = nx.Graph()
            graph.add_nodes_from(index)
            graph.add_edges_from((p.reference_date, p.secondary_date) for p in pairs)
            for number, nodes in enumerate(sorted(nx.connected_components(graph), key=min)):
                for date in nodes:
                    colours[index[date]] = palette[number % len(palette)]
        if acquisitions:
            ax.scatter(x, y, s=16, c=colours, edgecolors="white", linewidths=0.4, zorder=4)

        known = [e for e in excluded if e.date is not None and e.perp_baseline_m is not None]
        unknown = [e for e in excluded if e.date is not None and e.perp_baseline_m is None]
        if known:
            ax.scatter(
                _x([e.date for e in known]),
                [e.perp_baseline_m for e in known],
                marker="x",
                s=16,
                c="red",
                alpha=0.6,
                zorder=5,
            )
        if unknown:
            bottom = blended_transform_factory(ax.transData, ax.transAxes)
            ax.scatter(
                _x([e.date for e in unknown]),
                [0.04] * len(unknown),
                marker="x",
                s=16,
                c="red",
                alpha=0.6,
                transform=bottom,
                zorder=5,
            )

        ax.autoscale_view()
        if len(acquisitions) + len(excluded) == 0:
            ax.text(0.5, 0.5, "no acquisitions", ha="center", va="center", transform=ax.transAxes)
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_ylabel("Perpendicular baseline (m)")
        ax.grid(True, color="0.9", linewidth=0.6)
        ax.set_title(
            f"{stack}: {len(acquisitions)} acquisitions, {len(pairs)} pairs ({len(bridges)} bridges), "
            f"{len(components)} component{'s' if len(components) != 1 else ''}"
            + (f", {len(excluded)} excluded" if excluded else ""),
            fontsize=10,
        )
        handles = [
            Line2D([], [], marker="o", color="black", linestyle="none", markersize=4, label="acquisition"),
            Line2D([], [], color="tab:green", linewidth=0.9, label="pair"),
        ]
        if bridges:
            handles.append(Line2D([], [], color="tab:green", linewidth=1.8, linestyle="--", label="bridge"))
        if excluded:
            handles.append(
                Line2D([], [], marker="x", color="red", linestyle="none", markersize=5, label="excluded")
            )
        if len(components) > 1:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    color="tab:orange",
                    linestyle="none",
                    markersize=4,
                    label="colour = component",
                )
            )
        ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.85)

    if network.pairs:
        mappable = ScalarMappable(norm=norm, cmap=cmap)
        mappable.set_array(np.array(temporal, dtype=float))
        figure.colorbar(mappable, ax=list(axes), label="Temporal baseline (days)", shrink=0.9)
    figure.suptitle(title or "Interferogram network", fontsize=12)
    path = Path(path_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path
