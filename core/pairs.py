"""Interferogram networks: which acquisitions of a stack to pair, built with networkx.

Acquisitions
    One per stack and date (UTC day of the start time). Same-date duplicates (the same
    scene twice, a reprocessed copy, another polarisation) are merged into one acquisition;
    the kept granule is of the stack's most common polarisation, then the first by name,
    and the others are listed in :attr:`Acquisition.merged`. SLC stacks are path/frame
    (``P94_F210``), burst stacks are full burst ids. With ``multi_burst=True`` the bursts of
    one track (path and flight direction, stack ``P174_DESCENDING``) acquired in one pass
    form one acquisition holding several bursts; a pair then uses the bursts the two dates
    have in common (same full burst ids, in burst-id order).

Perpendicular baselines
    From the orbits (:mod:`.baselines`: Hermite-interpolated state vectors, zero Doppler on the
    scene centre, the component perpendicular to the line of sight). An acquisition's value (for
    ordering, limits and the plot) is its pairwise baseline against the stack's middle date; a
    pair's ``perp_baseline_m`` is computed from the pair's own two orbits (the mean over the bursts
    they share in multi-burst tracks), so it depends on no reference scene. In multi-burst tracks
    every burst id is measured against the same reference date and an acquisition's baseline is
    the mean of its bursts'. Footprints without state vectors are left out and reported by name in
    :attr:`Network.excluded`.

Edges
    Each acquisition connects to its ``neighbours`` nearest *later* acquisitions that
    satisfy both ``max_temporal_baseline_days`` and ``max_perp_baseline_m``. With
    ``max_degree``, candidate edges are kept in the order (neighbour rank, temporal
    baseline, |perpendicular baseline|, dates) while both ends have room, so the nearest
    valid neighbours survive first (without a perpendicular limit, ``max_degree >= 2`` keeps
    the whole date-to-next-date chain). All ordering uses dates, baselines and indices only:
    the same input gives the same network.

Seasons (``months``)
    Only acquisitions in those months are kept (the others are reported as excluded). A
    season is a run of consecutive selected months (``11-2`` wraps the new year). Between
    consecutive seasons that no regular edge joins, year-to-year bridge pairs cross the
    excluded months: each of the last ``neighbours`` acquisitions of season N pairs with one
    of the first ``neighbours`` of season N+1, cheapest first (cost below), each acquisition
    used at most once, within ``max_perp_baseline_m`` and ``max_degree``. They are marked
    ``bridge=True``.

Connectivity (``force_connected``, default True)
    Components left after that are joined with the fewest extra edges (components - 1) by
    Kruskal's minimum spanning tree over candidate edges between components. The candidates
    are the pairs of acquisitions at most ``W`` places apart in time order (W = 8, widened
    4x only if needed), never all pairs: since two time-adjacent acquisitions of different
    components are always candidates, the candidates always join everything. The cost of
    an edge is ``dt / T + |dB| / B`` with ``T`` = ``max_temporal_baseline_days`` (365 days when
    unset) and ``B`` = ``max_perp_baseline_m`` (200 m when unset). Bridges prefer ends that
    still have room under ``max_degree``; only when no such candidate exists does a bridge
    exceed it, and the summary says where. Joining is impossible only in multi-burst tracks
    whose dates share no burst id; those components are reported with their date ranges.
    With ``force_connected=False`` the components are reported, not joined.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from .baselines import Orbit, acquisition_date, perpendicular_baseline_m, stack_baselines
from .errors import CancelledError, InputError
from .records import stack_id
from .stacks import parse_months

__all__ = [
    "DEFAULT_NEIGHBOURS",
    "Acquisition",
    "AcquisitionSet",
    "Component",
    "Excluded",
    "Granule",
    "Network",
    "NetworkParameters",
    "Pair",
    "acquisitions_from_products",
    "acquisitions_from_records",
    "build_network",
    "select_pairs",
]

DEFAULT_NEIGHBOURS = 3
# Scales of the bridge cost when the user set no limit: a year, and the ~200 m orbital tube of Sentinel-1.
DEFAULT_TEMPORAL_SCALE_DAYS = 365.0
DEFAULT_PERP_SCALE_M = 200.0
_BRIDGE_WINDOW = 8
_EPS = 1e-9

ProgressCallback = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Granule:
    """One scene or burst of an acquisition.

    ``key`` is what must match across a pair: the full burst id for bursts, the stack id
    for SLC scenes.
    """

    name: str
    key: str
    footprint: BaseGeometry | None = None
    orbit: Orbit | None = None  # its orbit state, for pairwise perpendicular baselines


@dataclass
class Acquisition:
    """One date of one stack: one granule, or several bursts in multi-burst tracks."""

    stack: str
    date: dt.date
    granules: tuple[Granule, ...]
    perp_baseline_m: float
    merged: tuple[str, ...] = ()  # same-date duplicates folded into this acquisition

    @property
    def names(self) -> tuple[str, ...]:
        """Scene or burst names, in burst-id order."""
        return tuple(g.name for g in self.granules)

    @property
    def keys(self) -> frozenset[str]:
        """Full burst ids (or the stack id for SLCs) this acquisition covers."""
        return frozenset(g.key for g in self.granules)

    @property
    def footprint(self) -> BaseGeometry | None:
        """Union of the granules' footprints (EPSG:4326), None when none has one."""
        shapes = [g.footprint for g in self.granules if g.footprint is not None]
        if not shapes:
            return None
        return shapes[0] if len(shapes) == 1 else unary_union(shapes)


@dataclass(frozen=True)
class Excluded:
    """An acquisition (or footprint) left out of the network, and why."""

    stack: str
    names: tuple[str, ...]
    date: dt.date | None
    reason: str
    perp_baseline_m: float | None = None  # when known: lets the plot place it


@dataclass
class AcquisitionSet:
    """Acquisitions built from footprints, with those left out and notes for the user."""

    acquisitions: list[Acquisition]
    excluded: list[Excluded] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Pair:
    """One interferogram: reference (earlier) and secondary (later) acquisition.

    ``reference_names``/``secondary_names`` hold one scene or burst each, or the bursts the
    two dates share in multi-burst tracks (the same burst ids, in the same order).
    ``perp_baseline_m`` is secondary minus reference. ``geometry`` is the intersection of
    the two footprints (EPSG:4326; None when a footprint is missing, empty when they do
    not overlap).
    """

    stack: str
    reference_names: tuple[str, ...]
    secondary_names: tuple[str, ...]
    reference_date: dt.date
    secondary_date: dt.date
    temporal_baseline_days: int
    perp_baseline_m: float
    bridge: bool
    geometry: BaseGeometry | None

    @property
    def reference(self) -> str:
        """Reference names as one text (comma-separated when several bursts)."""
        return ",".join(self.reference_names)

    @property
    def secondary(self) -> str:
        """Secondary names as one text (comma-separated when several bursts)."""
        return ",".join(self.secondary_names)

    def as_record(self) -> dict[str, Any]:
        """The attributes of a pair feature, named as in the contract (shared/API.md)."""
        return {
            "reference": self.reference,
            "secondary": self.secondary,
            "referenceDate": self.reference_date.isoformat(),
            "secondaryDate": self.secondary_date.isoformat(),
            "temporalBaseline": int(self.temporal_baseline_days),
            "perpBaseline": float(self.perp_baseline_m),
            "stack": self.stack,
            "bridge": bool(self.bridge),
        }


@dataclass(frozen=True)
class Component:
    """A connected part of one stack's network."""

    stack: str
    first_date: dt.date
    last_date: dt.date
    acquisition_count: int

    def describe(self) -> str:
        """``2014-10-17 to 2016-12-27 (60 acquisitions)``."""
        plural = "s" if self.acquisition_count != 1 else ""
        return f"{self.first_date} to {self.last_date} ({self.acquisition_count} acquisition{plural})"


def _positive_number(value: Any, name: str, unit: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a number of {unit}, not {value!r}.") from exc
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise InputError(f"{name} must be more than 0 {unit} (got {value!r}); leave it empty for no limit.")
    return number


def _whole_number(value: Any, name: str, minimum: int, why: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a whole number, not {value!r}.") from exc
    if isinstance(value, bool) or not math.isfinite(number) or number != int(number):
        raise InputError(f"{name} must be a whole number, not {value!r}.")
    if number < minimum:
        raise InputError(f"{name} must be at least {minimum} (got {int(number)}): {why}")
    return int(number)


@dataclass(frozen=True)
class NetworkParameters:
    """Checked network settings. Build them with :meth:`build` (which validates).

    ``None`` means no limit, except ``neighbours``: None means :data:`DEFAULT_NEIGHBOURS`,
    capped silently in small stacks, while an explicit value larger than every stack
    allows is an error.
    """

    max_temporal_baseline_days: float | None = None
    max_perp_baseline_m: float | None = None
    neighbours: int | None = None
    max_degree: int | None = None
    months: tuple[int, ...] = ()
    force_connected: bool = True

    @classmethod
    def build(
        cls,
        max_temporal_baseline_days: Any = None,
        max_perp_baseline_m: Any = None,
        neighbours: Any = None,
        max_degree: Any = None,
        months: str | Sequence[int] | None = None,
        force_connected: bool = True,
    ) -> NetworkParameters:
        """Parse and check the user's values; :class:`InputError` says what to change."""
        temporal = _positive_number(max_temporal_baseline_days, "MAX_TEMPORAL_BASELINE", "days")
        perp = _positive_number(max_perp_baseline_m, "MAX_PERP_BASELINE", "metres")
        count = _whole_number(
            neighbours, "NEIGHBOURS", 1, "each date needs at least one later date to pair with."
        )
        degree = _whole_number(
            max_degree,
            "MAX_DEGREE",
            2,
            "a connected network of more than two dates needs dates with two pairs; leave it empty for no limit.",
        )
        month_list = parse_months(months)
        if len(month_list) == 12:
            month_list = []
        return cls(temporal, perp, count, degree, tuple(month_list), bool(force_connected))

    @property
    def effective_neighbours(self) -> int:
        """``neighbours``, or :data:`DEFAULT_NEIGHBOURS` when unset."""
        return self.neighbours or DEFAULT_NEIGHBOURS

    def describe(self) -> str:
        """The settings in words, for the summary."""

        def limit(value: float | None, unit: str) -> str:
            return "no limit" if value is None else f"{value:g} {unit}"

        months = ",".join(str(m) for m in self.months) or "all"
        return (
            f"max temporal baseline {limit(self.max_temporal_baseline_days, 'days')}, "
            f"max perpendicular baseline {limit(self.max_perp_baseline_m, 'm')}, "
            f"{self.effective_neighbours} neighbours, max degree "
            f"{self.max_degree if self.max_degree is not None else 'no limit'}, months {months}, "
            f"force connected {'yes' if self.force_connected else 'no'}"
        )


@dataclass
class Network:
    """The interferogram network of every stack in the input."""

    parameters: NetworkParameters
    acquisitions: list[Acquisition]
    pairs: list[Pair]
    components: list[Component]
    excluded: list[Excluded] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def stacks(self) -> list[str]:
        """Stack ids, sorted (including stacks whose every acquisition was excluded)."""
        return sorted({a.stack for a in self.acquisitions} | {e.stack for e in self.excluded})

    def acquisitions_of(self, stack: str) -> list[Acquisition]:
        """Acquisitions of one stack, by date."""
        return [a for a in self.acquisitions if a.stack == stack]

    def pairs_of(self, stack: str) -> list[Pair]:
        """Pairs of one stack, by reference then secondary date."""
        return [p for p in self.pairs if p.stack == stack]

    def components_of(self, stack: str) -> list[Component]:
        """Connected components of one stack, by first date."""
        return [c for c in self.components if c.stack == stack]

    def excluded_of(self, stack: str) -> list[Excluded]:
        """Excluded acquisitions of one stack."""
        return [e for e in self.excluded if e.stack == stack]

    @property
    def bridge_count(self) -> int:
        """Number of pairs added only to connect the network (``bridge=True``)."""
        return sum(1 for p in self.pairs if p.bridge)

    def is_connected(self, stack: str | None = None) -> bool:
        """True when the stack (every stack when None) with acquisitions is one component."""
        stacks = [stack] if stack else sorted({a.stack for a in self.acquisitions})
        return all(len(self.components_of(s)) <= 1 for s in stacks)

    def summary(self) -> str:
        """Plain text: pairs, components, bridges, excluded acquisitions and why, per stack."""
        stacks = self.stacks()
        lines = [
            f"{len(self.pairs)} pairs ({self.bridge_count} bridges) in {len(stacks)} stack"
            f"{'s' if len(stacks) != 1 else ''}, {len(self.components)} component"
            f"{'s' if len(self.components) != 1 else ''}, {len(self.excluded)} excluded.",
            f"Settings: {self.parameters.describe()}.",
        ]
        for stack in stacks:
            acquisitions = self.acquisitions_of(stack)
            pairs = self.pairs_of(stack)
            components = self.components_of(stack)
            bridges = [p for p in pairs if p.bridge]
            span = f", {acquisitions[0].date} to {acquisitions[-1].date}" if acquisitions else ""
            lines.append(
                f"Stack {stack}: {len(acquisitions)} acquisitions{span}; {len(pairs)} pairs, "
                f"{len(bridges)} bridges, {len(components)} component{'s' if len(components) != 1 else ''}."
            )
            if len(components) > 1:
                lines.append(
                    "  Not connected; components: " + "; ".join(c.describe() for c in components) + "."
                )
            for pair in bridges:
                lines.append(
                    f"  bridge {pair.reference_date} -> {pair.secondary_date}: "
                    f"{pair.temporal_baseline_days} days, {pair.perp_baseline_m:+.0f} m"
                )
            merged = sum(len(a.merged) for a in acquisitions)
            if merged:
                lines.append(f"  {merged} same-date duplicate footprints merged into their acquisition.")
            reasons = Counter(e.reason for e in self.excluded_of(stack))
            for reason, count in sorted(reasons.items()):
                names = [n for e in self.excluded_of(stack) if e.reason == reason for n in e.names]
                shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                lines.append(f"  excluded {count}: {reason} ({shown})")
        lines.extend(self.notes)
        return "\n".join(lines)


# ---------------------------------------------------------------------------- acquisitions from products


def _footprint(product: Any) -> BaseGeometry | None:
    geometry = getattr(product, "geometry", None)
    if not geometry:
        return None
    try:
        return shape(geometry)
    except (TypeError, ValueError, AttributeError):
        return None


def _name(product: Any) -> str:
    return str(product.properties.get("sceneName") or product.properties.get("fileID") or "")


def _burst_id(product: Any) -> str:
    burst = product.properties.get("burst") or {}
    return str(burst.get("fullBurstID") or "")


def _pick(products: Sequence[Any], polarization: str) -> tuple[Any, tuple[str, ...]]:
    """The product kept for one date (stack's polarisation first, then by name) and the merged names."""
    ordered = sorted(products, key=lambda p: (p.properties.get("polarization") != polarization, _name(p)))
    kept = ordered[0]
    merged = tuple(sorted({_name(p) for p in ordered[1:]} - {_name(kept)}))
    return kept, merged


def _common_polarization(products: Sequence[Any]) -> str:
    counts = Counter(str(p.properties.get("polarization") or "") for p in products)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0] if counts else ""


def _check_cancel(is_cancelled: Callable[[], bool] | None, what: str) -> None:
    if is_cancelled is not None and is_cancelled():
        raise CancelledError(f"{what} cancelled.")


def acquisitions_from_products(
    products: Iterable[Any],
    multi_burst: bool = False,
    is_cancelled: Callable[[], bool] | None = None,
) -> AcquisitionSet:
    """Acquisitions (one per stack and date) of asf_search products, with their baselines.

    See the module docstring for merging, multi-burst tracks and baselines. Footprints
    without state vectors or a start time are returned in ``excluded``, by name.
    Raises :class:`InputError` when ``multi_burst`` is asked for SLC scenes.
    """
    products = list(products)
    if multi_burst:
        return _multi_burst_acquisitions(products, is_cancelled)
    groups: dict[str, list[Any]] = {}
    for product in products:
        groups.setdefault(stack_id(product.properties), []).append(product)
    result = AcquisitionSet([])
    for stack in sorted(groups):
        _check_cancel(is_cancelled, "Baseline calculation")
        members = groups[stack]
        baselines = stack_baselines(members, stack=stack)
        polarization = _common_polarization(members)
        by_date: dict[dt.date, list[Any]] = {}
        for product in members:
            name = _name(product)
            if name in baselines.excluded:
                result.excluded.append(
                    Excluded(stack, (name,), acquisition_date(product), baselines.excluded[name])
                )
                continue
            by_date.setdefault(acquisition_date(product), []).append(product)
        for date in sorted(by_date):
            kept, merged = _pick(by_date[date], polarization)
            granule = Granule(
                _name(kept), _burst_id(kept) or stack, _footprint(kept), baselines.orbits.get(_name(kept))
            )
            result.acquisitions.append(
                Acquisition(stack, date, (granule,), baselines.perp_baseline_m[_name(kept)], merged)
            )
    return result


def _multi_burst_acquisitions(products: list[Any], is_cancelled: Callable[[], bool] | None) -> AcquisitionSet:
    slc = sorted({_name(p) for p in products if not _burst_id(p)})
    if slc:
        raise InputError(
            f"Multi-burst pairs need burst footprints, but {len(slc)} are SLC scenes (e.g. {slc[0]}). "
            "Search with PROCESSING_LEVEL=BURST, or pair the SLC scenes without the multi-burst option."
        )
    tracks: dict[str, list[Any]] = {}
    for product in products:
        path = product.properties.get("pathNumber")
        direction = str(product.properties.get("flightDirection") or "").upper() or "UNKNOWN"
        tracks.setdefault(f"P{int(path) if path is not None else 0}_{direction}", []).append(product)
    result = AcquisitionSet([])
    for track in sorted(tracks):
        _check_cancel(is_cancelled, "Baseline calculation")
        _add_track(track, tracks[track], result)
    return result


def _add_track(track: str, members: list[Any], result: AcquisitionSet) -> None:
    # The date of a pass is that of its first burst: a pass crossing midnight UTC stays one acquisition.
    pass_date: dict[Any, dt.date] = {}
    for product in members:
        day = acquisition_date(product)
        orbit = product.properties.get("orbit")
        if day is not None and orbit is not None:
            pass_date[orbit] = min(day, pass_date.get(orbit, day))

    def date_of(product: Any) -> dt.date | None:
        return pass_date.get(product.properties.get("orbit")) or acquisition_date(product)

    by_burst: dict[str, list[Any]] = {}
    for product in members:
        by_burst.setdefault(_burst_id(product), []).append(product)
    all_dates = sorted({d for d in (date_of(p) for p in members) if d is not None})
    reference_date = all_dates[(len(all_dates) - 1) // 2] if all_dates else None
    polarization = _common_polarization(members)

    # Measure every burst id against the same date; align the rare burst id that lacks it.
    orbits: dict[str, Orbit] = {}
    track_perp: dict[dt.date, list[float]] = {}
    kept: dict[dt.date, dict[str, tuple[Any, tuple[str, ...], float]]] = {}
    measured = []
    for burst_id, group in by_burst.items():
        baselines = stack_baselines(group, reference=reference_date, stack=burst_id)
        orbits.update(baselines.orbits)
        measured.append((baselines.reference_date != reference_date, -len(group), burst_id, group, baselines))
    for _late, _size, burst_id, group, baselines in sorted(measured, key=lambda m: m[:3]):
        by_date: dict[dt.date, list[Any]] = {}
        for product in group:
            name = _name(product)
            if name in baselines.excluded:
                result.excluded.append(Excluded(track, (name,), date_of(product), baselines.excluded[name]))
            else:
                by_date.setdefault(date_of(product), []).append(product)
        values = {}
        for date, products in by_date.items():
            product, merged = _pick(products, polarization)
            values[date] = (product, merged, baselines.perp_baseline_m[_name(product)])
        offset = 0.0
        if baselines.reference_date != reference_date:
            shared = [d for d in values if d in track_perp]
            if shared:
                offset = float(np.median([np.mean(track_perp[d]) - values[d][2] for d in shared]))
            else:
                result.notes.append(
                    f"Burst {burst_id} shares no date with the rest of track {track}: its perpendicular "
                    f"baselines are measured against {baselines.reference_date}, not {reference_date}."
                )
        for date, (product, merged, perp) in values.items():
            track_perp.setdefault(date, []).append(perp + offset)
            kept.setdefault(date, {})[burst_id] = (product, merged, perp + offset)
    for date in sorted(kept):
        bursts = kept[date]
        granules = tuple(
            Granule(_name(bursts[b][0]), b, _footprint(bursts[b][0]), orbits.get(_name(bursts[b][0])))
            for b in sorted(bursts)
        )
        merged = tuple(sorted(n for b in bursts for n in bursts[b][1]))
        perp = float(np.mean([bursts[b][2] for b in bursts]))
        result.acquisitions.append(Acquisition(track, date, granules, perp, merged))


def acquisitions_from_records(
    records: Iterable[Mapping[str, Any]],
    multi_burst: bool = False,
    is_cancelled: Callable[[], bool] | None = None,
) -> AcquisitionSet:
    """:func:`acquisitions_from_products` for footprint records (their stored ``umm``; no network)."""
    from .records import products_from_records

    return acquisitions_from_products(products_from_records(records), multi_burst, is_cancelled)


# --------------------------------------------------------------------------------------------- network


def _merge_same_dates(acquisitions: Iterable[Acquisition]) -> dict[str, list[Acquisition]]:
    """Acquisitions per stack, by date; a second acquisition of one date is merged into the first."""
    by_stack: dict[str, dict[dt.date, Acquisition]] = {}
    for acq in sorted(acquisitions, key=lambda a: (a.stack, a.date, a.names)):
        dates = by_stack.setdefault(acq.stack, {})
        if acq.date in dates:
            first = dates[acq.date]
            extra = tuple(n for n in (*acq.names, *acq.merged) if n not in first.names)
            first.merged = tuple(sorted(set(first.merged) | set(extra)))
        else:
            dates[acq.date] = Acquisition(acq.stack, acq.date, acq.granules, acq.perp_baseline_m, acq.merged)
    return {stack: [dates[d] for d in sorted(dates)] for stack, dates in sorted(by_stack.items())}


def _season_keys(months: Sequence[int]) -> Callable[[dt.date], tuple[int, int]]:
    """A function giving the season (start year, start month) of a date in ``months``."""
    selected = set(months)
    starts = {m for m in selected if ((m - 2) % 12) + 1 not in selected}
    start_of = {}
    for start in starts:
        month = start
        while month in selected and month not in start_of:
            start_of[month] = start
            month = month % 12 + 1

    def key(date: dt.date) -> tuple[int, int]:
        start = start_of[date.month]
        return (date.year if date.month >= start else date.year - 1, start)

    return key


class _StackBuilder:
    """The network of one stack: neighbour edges, degree limit, season and connecting bridges."""

    def __init__(self, stack: str, acquisitions: list[Acquisition], parameters: NetworkParameters):
        self.stack = stack
        self.acqs = acquisitions
        self.p = parameters
        self.n = len(acquisitions)
        self.t = np.array([a.date.toordinal() for a in acquisitions], dtype=np.int64)
        self.b = np.array([a.perp_baseline_m for a in acquisitions], dtype=float)
        self.keysets = [a.keys for a in acquisitions]
        self.check_keys = len(frozenset().union(*self.keysets)) > 1
        self.k = min(parameters.effective_neighbours, max(self.n - 1, 1))
        self.edges: dict[tuple[int, int], bool] = {}  # (i, j) -> bridge
        self.degree = [0] * self.n
        self.notes: list[str] = []
        self.t_scale = parameters.max_temporal_baseline_days or DEFAULT_TEMPORAL_SCALE_DAYS
        self.b_scale = parameters.max_perp_baseline_m or DEFAULT_PERP_SCALE_M

    def shares(self, i: int, j: int) -> bool:
        return not self.check_keys or bool(self.keysets[i] & self.keysets[j])

    def room(self, i: int) -> bool:
        return self.p.max_degree is None or self.degree[i] < self.p.max_degree

    def cost(self, i: int, j: int) -> float:
        return abs(int(self.t[j] - self.t[i])) / self.t_scale + abs(self.b[j] - self.b[i]) / self.b_scale

    def add(self, i: int, j: int, bridge: bool) -> None:
        i, j = min(i, j), max(i, j)
        self.edges[(i, j)] = bridge
        self.degree[i] += 1
        self.degree[j] += 1

    def neighbour_edges(self, is_cancelled: Callable[[], bool] | None) -> None:
        """Each date to its k nearest later dates within both limits; then the degree limit."""
        temporal, perp = self.p.max_temporal_baseline_days, self.p.max_perp_baseline_m
        candidates = []
        for i in range(self.n):
            if i % 256 == 0:
                _check_cancel(is_cancelled, "Pair selection")
            end = (
                self.n
                if temporal is None
                else int(np.searchsorted(self.t, self.t[i] + temporal + _EPS, "right"))
            )
            found, start, chunk = 0, i + 1, max(4 * self.k, 16)
            while found < self.k and start < end:
                stop = min(end, start + chunk)
                index = np.arange(start, stop)
                if perp is not None:
                    index = index[np.abs(self.b[start:stop] - self.b[i]) <= perp + _EPS]
                for j in index.tolist():
                    if not self.shares(i, j):
                        continue
                    candidates.append(
                        (found, int(self.t[j] - self.t[i]), abs(float(self.b[j] - self.b[i])), i, j)
                    )
                    found += 1
                    if found == self.k:
                        break
                start, chunk = stop, chunk * 2
        dropped = 0
        for _rank, _days, _perp, i, j in sorted(candidates):
            if self.room(i) and self.room(j):
                self.add(i, j, bridge=False)
            else:
                dropped += 1
        if dropped:
            self.notes.append(
                f"Stack {self.stack}: MAX_DEGREE={self.p.max_degree} dropped {dropped} candidate pairs."
            )

    def season_bridges(self) -> None:
        """Year-to-year pairs across the excluded months, between seasons no edge joins."""
        key_of = _season_keys(self.p.months)
        seasons: dict[tuple[int, int], list[int]] = {}
        for i, acq in enumerate(self.acqs):
            seasons.setdefault(key_of(acq.date), []).append(i)
        order = sorted(seasons)
        season_of = {i: s for s, members in seasons.items() for i in members}
        linked = {(season_of[i], season_of[j]) for i, j in self.edges}
        perp = self.p.max_perp_baseline_m
        for before, after in zip(order, order[1:]):
            if (before, after) in linked:
                continue
            last, first = seasons[before][-self.k :], seasons[after][: self.k]
            candidates = sorted(
                (self.cost(i, j), int(self.t[j] - self.t[i]), i, j)
                for i in last
                for j in first
                if self.shares(i, j) and (perp is None or abs(self.b[j] - self.b[i]) <= perp + _EPS)
            )
            used: set[int] = set()
            added = 0
            for _cost, _days, i, j in candidates:
                if added == self.k:
                    break
                if i in used or j in used or not (self.room(i) and self.room(j)):
                    continue
                self.add(i, j, bridge=True)
                used.update((i, j))
                added += 1
            if not added:
                self.notes.append(
                    f"Stack {self.stack}: no year-to-year pair between the seasons starting "
                    f"{self.acqs[seasons[before][0]].date} and {self.acqs[seasons[after][0]].date} "
                    "fits MAX_PERP_BASELINE and MAX_DEGREE."
                )

    def graph(self) -> nx.Graph:
        graph = nx.Graph()
        graph.add_nodes_from(range(self.n))
        graph.add_edges_from(self.edges)
        return graph

    def connect(self, is_cancelled: Callable[[], bool] | None) -> None:
        """Join all components with the fewest, cheapest bridges (Kruskal over nearby candidates)."""
        union = nx.utils.UnionFind(range(self.n))
        for i, j in self.edges:
            union.union(i, j)
        groups = len({union[i] for i in range(self.n)})
        window = _BRIDGE_WINDOW
        over_degree = []
        while groups > 1:
            _check_cancel(is_cancelled, "Pair selection")
            candidates = sorted(
                (self.cost(i, j), int(self.t[j] - self.t[i]), i, j)
                for i in range(self.n)
                for j in range(i + 1, min(self.n, i + 1 + window))
                if union[i] != union[j] and self.shares(i, j)
            )
            passes = (True, False) if self.p.max_degree is not None else (False,)
            for strict in passes:
                for _cost, _days, i, j in candidates:
                    if union[i] == union[j] or (strict and not (self.room(i) and self.room(j))):
                        continue
                    if not (self.room(i) and self.room(j)):
                        over_degree.append((self.acqs[i].date, self.acqs[j].date))
                    self.add(i, j, bridge=True)
                    union.union(i, j)
                    groups -= 1
            if window >= self.n:
                break
            window *= 4
        if over_degree:
            self.notes.append(
                f"Stack {self.stack}: {len(over_degree)} bridge(s) exceed MAX_DEGREE={self.p.max_degree} because no "
                "other pair could connect the network: "
                + ", ".join(f"{a} -> {b}" for a, b in over_degree)
                + "."
            )
        if groups > 1:
            self.notes.append(
                f"Stack {self.stack}: {groups} components cannot be joined: their dates share no burst."
            )

    def components(self) -> list[Component]:
        result = []
        for nodes in nx.connected_components(self.graph()):
            dates = sorted(self.acqs[i].date for i in nodes)
            result.append(Component(self.stack, dates[0], dates[-1], len(dates)))
        return sorted(result, key=lambda c: (c.first_date, c.last_date))

    def pair_perp_baseline(self, i: int, j: int, keys: frozenset[str]) -> float:
        """The pair's perpendicular baseline (m) from its own two orbits: the mean over the shared bursts;
        the difference of the acquisitions' values where an orbit is missing."""
        ref = {g.key: g.orbit for g in self.acqs[i].granules if g.key in keys}
        sec = {g.key: g.orbit for g in self.acqs[j].granules if g.key in keys}
        shared = [k for k in ref if k in sec and ref[k] is not None and sec[k] is not None]
        if not shared:
            return round(float(self.b[j] - self.b[i]), 2)
        return round(float(np.mean([perpendicular_baseline_m(ref[k], sec[k]) for k in shared])), 2)

    def pairs(self) -> list[Pair]:
        footprints: dict[tuple[int, frozenset[str]], BaseGeometry | None] = {}

        def side(i: int, keys: frozenset[str]) -> tuple[tuple[str, ...], BaseGeometry | None]:
            granules = [g for g in self.acqs[i].granules if g.key in keys]
            if (i, keys) not in footprints:
                shapes = [g.footprint for g in granules]
                footprints[(i, keys)] = (
                    None
                    if any(s is None for s in shapes)
                    else shapes[0]
                    if len(shapes) == 1
                    else unary_union(shapes)
                )
            return tuple(g.name for g in granules), footprints[(i, keys)]

        result = []
        for (i, j), bridge in sorted(self.edges.items()):
            keys = self.keysets[i] & self.keysets[j]
            ref_names, ref_shape = side(i, keys)
            sec_names, sec_shape = side(j, keys)
            geometry = None if ref_shape is None or sec_shape is None else ref_shape.intersection(sec_shape)
            result.append(
                Pair(
                    stack=self.stack,
                    reference_names=ref_names,
                    secondary_names=sec_names,
                    reference_date=self.acqs[i].date,
                    secondary_date=self.acqs[j].date,
                    temporal_baseline_days=int(self.t[j] - self.t[i]),
                    perp_baseline_m=self.pair_perp_baseline(i, j, keys),
                    bridge=bridge,
                    geometry=geometry,
                )
            )
        return result


def _too_few_message(
    per_stack: Mapping[str, list[Acquisition]], excluded: Sequence[Excluded], months: Sequence[int]
) -> str:
    parts = []
    for stack, acqs in per_stack.items():
        if acqs:
            parts.append(f"stack {stack} has 1 acquisition date ({acqs[0].date})")
        else:
            parts.append(f"stack {stack} has none left")
    message = "No stack has two acquisition dates to pair"
    message += (": " + "; ".join(parts)) if parts else ""
    message += ". An interferogram needs two dates of the same stack."
    if excluded:
        reasons = Counter(e.reason for e in excluded)
        message += " Excluded: " + "; ".join(f"{n} x {r}" for r, n in sorted(reasons.items())) + "."
    if months:
        message += f" MONTHS={','.join(str(m) for m in months)} may be too narrow."
    else:
        message += " Search a longer period or more dates."
    return message


def build_network(
    acquisitions: AcquisitionSet | Sequence[Acquisition],
    parameters: NetworkParameters | None = None,
    progress: ProgressCallback | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Network:
    """The interferogram network of every stack (see the module docstring for the rules).

    ``progress(done_stacks, total_stacks)`` is called after each stack; ``is_cancelled()``
    is checked in every loop (raises :class:`CancelledError`). Raises :class:`InputError`
    when there is nothing to pair (no stack with two dates) or ``NEIGHBOURS`` exceeds
    what the largest stack allows.
    """
    parameters = parameters or NetworkParameters()
    if isinstance(acquisitions, AcquisitionSet):
        excluded, notes = list(acquisitions.excluded), list(acquisitions.notes)
        acquisitions = acquisitions.acquisitions
    else:
        excluded, notes = [], []
    per_stack = _merge_same_dates(acquisitions)
    if not per_stack and not excluded:
        raise InputError(
            "No acquisitions to pair: the input has no footprints. Run insarhub:searchscenes first."
        )

    if parameters.months:
        wanted = ",".join(str(m) for m in parameters.months)
        for stack, acqs in per_stack.items():
            for acq in acqs:
                if acq.date.month not in parameters.months:
                    reason = f"acquired outside MONTHS={wanted}"
                    excluded.append(Excluded(stack, acq.names, acq.date, reason, acq.perp_baseline_m))
            per_stack[stack] = [a for a in acqs if a.date.month in parameters.months]
    for item in excluded:
        per_stack.setdefault(item.stack, [])

    largest = max((len(a) for a in per_stack.values()), default=0)
    if largest < 2:
        raise InputError(_too_few_message(per_stack, excluded, parameters.months))
    if parameters.neighbours is not None and parameters.neighbours > largest - 1:
        raise InputError(
            f"NEIGHBOURS={parameters.neighbours} is more than any date can have: the largest stack has "
            f"{largest} acquisitions, so a date has at most {largest - 1} later ones. "
            f"Set NEIGHBOURS to {largest - 1} or less."
        )

    pairs: list[Pair] = []
    components: list[Component] = []
    kept: list[Acquisition] = []
    for done, (stack, acqs) in enumerate(sorted(per_stack.items()), start=1):
        _check_cancel(is_cancelled, "Pair selection")
        kept.extend(acqs)
        if len(acqs) == 1:
            notes.append(f"Stack {stack}: a single acquisition ({acqs[0].date}), no pairs possible.")
        if acqs:
            builder = _StackBuilder(stack, acqs, parameters)
            if parameters.neighbours is not None and builder.k < parameters.neighbours and len(acqs) > 1:
                notes.append(f"Stack {stack}: {len(acqs)} acquisitions, so NEIGHBOURS is {builder.k} there.")
            builder.neighbour_edges(is_cancelled)
            if parameters.months:
                builder.season_bridges()
            if parameters.force_connected:
                builder.connect(is_cancelled)
            pairs.extend(builder.pairs())
            components.extend(builder.components())
            notes.extend(builder.notes)
        if progress:
            progress(done, len(per_stack))
    excluded.sort(key=lambda e: (e.stack, e.date or dt.date.min, e.names))
    return Network(parameters, kept, pairs, components, excluded, notes)


def select_pairs(
    products: Iterable[Any],
    max_temporal_baseline_days: Any = None,
    max_perp_baseline_m: Any = None,
    neighbours: Any = None,
    max_degree: Any = None,
    months: str | Sequence[int] | None = None,
    force_connected: bool = True,
    multi_burst: bool = False,
    progress: ProgressCallback | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> Network:
    """Products to network in one call: validate, build acquisitions, :func:`build_network`.

    The parameters are checked before any baseline is computed, so a bad value fails fast.
    """
    parameters = NetworkParameters.build(
        max_temporal_baseline_days, max_perp_baseline_m, neighbours, max_degree, months, force_connected
    )
    acquisitions = acquisitions_from_products(products, multi_burst=multi_burst, is_cancelled=is_cancelled)
    return build_network(acquisitions, parameters, progress=progress, is_cancelled=is_cancelled)
