"""Perpendicular and temporal baselines of a stack, offline, from the orbit state vectors of the CMR records.

Every Sentinel-1 SLC and burst CMR record carries two orbit state vectors 10 s apart, around the
acquisition: Earth-fixed (ECEF) position and velocity (``SV_POSITION_PRE/POST``,
``SV_VELOCITY_PRE/POST``). The footprints' stored ``umm`` is enough, so no network is needed.

Method (:func:`perpendicular_baseline_m`, for a pair of acquisitions; no reference scene involved):

1. each orbit between its two state vectors is the cubic Hermite polynomial through both positions
   with both velocities as its derivatives (:class:`Orbit`); its derivative is the velocity;
2. the target is the pair's scene centre on the WGS84 ellipsoid (height 0): the mean of the two records'
   ``centerLat``/``centerLon`` points;
3. each satellite is placed at its zero-Doppler time for that target: the time at which its Earth-fixed
   velocity is perpendicular to the line of sight, ``(T - P(t)) . V(t) = 0`` (Newton's method);
4. the baseline ``B = P_secondary - P_reference`` is projected on the unit vector perpendicular to the line
   of sight in the zero-Doppler plane, ``n = (V x L) / |V x L|``, with ``L`` the unit vector from the target
   to the mid-point of the two satellites and ``V`` their mean velocity: ``B_perp = B . n``. The sign is
   asf_search's (``v x los``, positive when the secondary is further "up" from the line of sight).

The pair's value is symmetric (swapping the two gives ``-B_perp``) and does not depend on any third scene.
Accuracy: the Hermite polynomial over 10 s of a near-circular orbit is within a millimetre of the orbit
(error ~ h^4/384 * |p''''| = 10^4/384 * 9e-6 m), zero-Doppler times converge to microseconds, so the
geometry adds less than 1 cm; what is left is the CMR state vectors' own accuracy (restituted or precise
orbits, centimetres to decimetres). A scene centre a few kilometres off changes ``B_perp`` by well under a
metre. asf_search (``asf_search.baseline``), by contrast, interpolates the two vectors linearly at a time
since the ascending node shared with a reference scene and measures from that scene: its values differ
from this geometry by a median 0.4 m and up to ~20 m (ASF's published values up to ~40 m) - it is kept as
a cross-check only (:attr:`StackBaselines.asf_perp_baseline_m`).

A stack's per-scene baselines (:func:`stack_baselines`) are each scene's pairwise baseline against the
*middle acquisition* of the stack (of the products with state vectors, sorted by start time, then name,
the one at index ``(n - 1) // 2``), or a product or date the caller forces. Differences of two of them
agree with the pair's own value to centimetres (the lines of sight differ by ~1e-4 rad).

Products without usable state vectors are never dropped silently: they are listed in
:attr:`StackBaselines.excluded` with the reason, by name.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .errors import CancelledError, InputError
from .records import stack_id

__all__ = [
    "Orbit",
    "StackBaselines",
    "acquisition_date",
    "baselines_by_stack",
    "choose_reference",
    "orbit_of",
    "perpendicular_baseline_m",
    "stack_baselines",
    "state_vector_problem",
]

#: WGS84 semi-major axis (m) and first eccentricity squared.
WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3
#: Baselines longer than this (m) mean the two orbits are not of one track.
MAX_BASELINE_M = 100_000.0


def _seconds(text: str) -> float:
    """POSIX seconds of an ISO 8601 UTC time (``Z`` or no zone; fractions kept)."""
    value = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


def ellipsoid_point(lat_deg: float, lon_deg: float, height_m: float = 0.0) -> np.ndarray:
    """ECEF coordinates (m) of a point given in WGS84 latitude, longitude (degrees) and height."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * math.sin(lat) ** 2)
    return np.array(
        [
            (n + height_m) * math.cos(lat) * math.cos(lon),
            (n + height_m) * math.cos(lat) * math.sin(lon),
            (n * (1.0 - WGS84_E2) + height_m) * math.sin(lat),
        ]
    )


@dataclass(frozen=True)
class Orbit:
    """One acquisition's orbit between two state vectors (ECEF, m and m/s, at POSIX times ``t0 < t1``),
    the scene centre (degrees) and the centre time of the acquisition (POSIX s)."""

    t0: float
    p0: tuple
    v0: tuple
    t1: float
    p1: tuple
    v1: tuple
    center_lat: float
    center_lon: float
    center_time: float

    def state(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """``(position, velocity)`` at POSIX time ``t``: the cubic Hermite polynomial through both state
        vectors, and its derivative."""
        h = self.t1 - self.t0
        s = (t - self.t0) / h
        p0, v0, p1, v1 = (np.asarray(v, dtype=float) for v in (self.p0, self.v0, self.p1, self.v1))
        s2, s3 = s * s, s * s * s
        position = (
            (2 * s3 - 3 * s2 + 1) * p0
            + (s3 - 2 * s2 + s) * h * v0
            + (-2 * s3 + 3 * s2) * p1
            + (s3 - s2) * h * v1
        )
        velocity = (
            (6 * s2 - 6 * s) * p0
            + (3 * s2 - 4 * s + 1) * h * v0
            + (-6 * s2 + 6 * s) * p1
            + (3 * s2 - 2 * s) * h * v1
        ) / h
        return position, velocity

    def zero_doppler(self, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """``(time, position, velocity)`` when the satellite sees ``target`` (ECEF) at zero Doppler:
        ``(target - P(t)) . V(t) = 0``."""
        t = self.center_time
        for _ in range(20):
            position, velocity = self.state(t)
            look = target - position
            f = float(np.dot(look, velocity))
            # d/dt of (T - P).V = -|V|^2 + (T - P).A; the acceleration term is ~1e-3 of the first
            acceleration = (self.state(t + 0.05)[1] - self.state(t - 0.05)[1]) / 0.1
            slope = -float(np.dot(velocity, velocity)) + float(np.dot(look, acceleration))
            step = f / slope
            t -= step
            if abs(step) < 1e-7:
                break
        position, velocity = self.state(t)
        return t, position, velocity


def _vector(text: str) -> tuple[tuple[float, float, float], float]:
    """``x,y,z,time`` (a CMR SV_* value) -> ((x, y, z), POSIX time)."""
    parts = str(text).split(",")
    return (float(parts[0]), float(parts[1]), float(parts[2])), _seconds(parts[3])


def orbit_of(product: Any) -> Orbit | None:
    """The :class:`Orbit` of an asf_search product, or of a CMR UMM record (dict), or None without usable
    state vectors (:func:`state_vector_problem` says why)."""
    try:
        if isinstance(product, dict):  # a UMM record
            attrs = {
                a["Name"]: a["Values"][0] for a in product.get("AdditionalAttributes", []) if a.get("Values")
            }
            (p0, t0), (p1, t1) = _vector(attrs["SV_POSITION_PRE"]), _vector(attrs["SV_POSITION_POST"])
            (v0, _), (v1, _) = _vector(attrs["SV_VELOCITY_PRE"]), _vector(attrs["SV_VELOCITY_POST"])
            lat, lon = float(attrs["CENTER_LAT"]), float(attrs["CENTER_LON"])
            times = product["TemporalExtent"]["RangeDateTime"]
            start, stop = _seconds(times["BeginningDateTime"]), _seconds(times["EndingDateTime"])
        else:
            vectors = product.baseline["stateVectors"]
            positions, velocities = vectors["positions"], vectors["velocities"]
            p0, p1 = tuple(positions["prePosition"]), tuple(positions["postPosition"])
            t0, t1 = _seconds(positions["prePositionTime"]), _seconds(positions["postPositionTime"])
            v0, v1 = tuple(velocities["preVelocity"]), tuple(velocities["postVelocity"])
            lat, lon = float(product.properties["centerLat"]), float(product.properties["centerLon"])
            start, stop = _seconds(product.properties["startTime"]), _seconds(product.properties["stopTime"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
    if not t1 > t0:
        return None
    return Orbit(t0, p0, v0, t1, p1, v1, lat, lon, 0.5 * (start + stop))


def perpendicular_baseline_m(reference: Orbit, secondary: Orbit) -> float:
    """Perpendicular baseline (m) of the pair, secondary minus reference, from the two orbits alone (see
    the module docstring: Hermite orbits, zero Doppler on the pair's scene centre, the component
    perpendicular to the line of sight)."""
    target = 0.5 * (
        ellipsoid_point(reference.center_lat, reference.center_lon)
        + ellipsoid_point(secondary.center_lat, secondary.center_lon)
    )
    _, p_ref, v_ref = reference.zero_doppler(target)
    _, p_sec, v_sec = secondary.zero_doppler(target)
    los = 0.5 * (p_ref + p_sec) - target
    los /= np.linalg.norm(los)
    normal = np.cross(0.5 * (v_ref + v_sec), los)
    normal /= np.linalg.norm(normal)
    return float(np.dot(p_sec - p_ref, normal))


@dataclass
class StackBaselines:
    """Baselines of the products of one stack against one reference product.

    ``perp_baseline_m`` and ``temporal_baseline_days`` are keyed by ``sceneName``;
    ``perp_baseline_m`` holds only the products that could be measured (each one's pairwise baseline
    against the reference, from the orbits), ``excluded`` the others with the reason
    (``sceneName -> reason``). ``temporal_baseline_days`` holds every product with a start time (a date
    difference, so it needs no state vectors). ``asf_perp_baseline_m``: asf_search's own values against
    the same reference, a cross-check (empty when not asked for).
    """

    stack: str
    reference: str | None
    reference_date: dt.date | None
    perp_baseline_m: dict[str, float] = field(default_factory=dict)
    temporal_baseline_days: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    asf_perp_baseline_m: dict[str, float] = field(default_factory=dict)
    orbits: dict[str, Orbit] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per fact: reference, how many measured, which excluded and why."""
        lines = [
            f"Stack {self.stack}: reference {self.reference or 'none'}"
            f" ({self.reference_date.isoformat() if self.reference_date else 'no date'}),"
            f" {len(self.perp_baseline_m)} products measured, {len(self.excluded)} excluded."
        ]
        cross = self.asf_difference_m()
        if cross is not None:
            lines[0] += f" asf_search's baselines differ by up to {cross:.1f} m (cross-check)."
        for name, reason in sorted(self.excluded.items()):
            lines.append(f"  excluded {name}: {reason}")
        return "\n".join(lines)

    def asf_difference_m(self) -> float | None:
        """The largest |orbit-geometry baseline - asf_search's| (m), or None without the cross-check."""
        common = [n for n in self.asf_perp_baseline_m if n in self.perp_baseline_m]
        if not common:
            return None
        return max(abs(self.perp_baseline_m[n] - self.asf_perp_baseline_m[n]) for n in common)


def acquisition_date(product: Any) -> dt.date | None:
    """UTC date of a product's start time (None when the record has none)."""
    start = str(product.properties.get("startTime") or "")
    try:
        return dt.date.fromisoformat(start[:10])
    except ValueError:
        return None


def state_vector_problem(product: Any) -> str | None:
    """Why this product's perpendicular baseline cannot be computed from its orbit, or None when it can."""
    baseline = getattr(product, "baseline", None)
    if not baseline:
        return "the record has no baseline properties (not a stackable product)"
    vectors = baseline.get("stateVectors") or {}
    positions = vectors.get("positions") or {}
    velocities = vectors.get("velocities") or {}
    missing = [
        name
        for name, value in (
            ("SV_POSITION_PRE", positions.get("prePosition")),
            ("SV_POSITION_POST", positions.get("postPosition")),
            ("SV_POSITION_PRE time", positions.get("prePositionTime")),
            ("SV_POSITION_POST time", positions.get("postPositionTime")),
            ("SV_VELOCITY_PRE", velocities.get("preVelocity")),
            ("SV_VELOCITY_POST", velocities.get("postVelocity")),
        )
        if value is None
    ]
    if missing:
        return f"no state vectors in its CMR record (missing {', '.join(missing)})"
    if not product.properties.get("startTime") or not product.properties.get("stopTime"):
        return "the record has no start or stop time"
    if product.properties.get("centerLat") is None or product.properties.get("centerLon") is None:
        return "the record has no scene centre (centerLat/centerLon)"
    if orbit_of(product) is None:
        return "its state vectors cannot be read (times or coordinates malformed)"
    return None


def _time_key(product: Any) -> tuple[str, str]:
    return (str(product.properties.get("startTime") or ""), str(product.properties.get("sceneName") or ""))


def choose_reference(products: Sequence[Any], near: dt.date | None = None) -> Any | None:
    """The reference product of a stack: the middle one in time, or the one nearest ``near``.

    Only products with usable state vectors qualify (None when there is none). Ties are
    broken by start time and name, so the choice never depends on input order.
    """
    usable = sorted((p for p in products if state_vector_problem(p) is None), key=_time_key)
    if not usable:
        return None
    if near is None:
        return usable[(len(usable) - 1) // 2]

    def distance(product: Any) -> tuple[int, str, str]:
        day = acquisition_date(product)
        return (abs((day - near).days) if day else 10**9, *_time_key(product))

    return min(usable, key=distance)


def _asf_values(reference: Any, products: Sequence[Any]) -> dict[str, float]:
    """asf_search's own perpendicular baselines against ``reference`` (the cross-check), on copies."""
    try:
        from asf_search.baseline import get_baseline_from_stack
    except ImportError:
        return {}

    def working_copy(product: Any) -> Any:
        clone = copy.copy(product)
        clone.properties = dict(product.properties)
        clone.baseline = copy.deepcopy(product.baseline)
        if "ascendingNodeTime" not in clone.baseline:
            return None
        return clone

    working = [c for c in (working_copy(p) for p in products) if c is not None]
    name = reference.properties.get("sceneName")
    ref_copy = next((p for p in working if p.properties.get("sceneName") == name), None)
    if ref_copy is None:
        return {}
    try:
        measured, _warnings = get_baseline_from_stack(ref_copy, working)
    except Exception:  # a cross-check must never stop the real calculation
        return {}
    out = {}
    for product in measured:
        value = product.properties.get("perpendicularBaseline")
        if value is not None:
            out[str(product.properties.get("sceneName") or "")] = float(value)
    return out


def stack_baselines(
    products: Sequence[Any],
    reference: str | dt.date | None = None,
    stack: str | None = None,
    *,
    cross_check: bool = False,
) -> StackBaselines:
    """Perpendicular (m, from the orbits; see the module docstring) and temporal (days) baselines of one
    stack's products against a reference product.

    ``reference``: a ``sceneName`` in the stack, a date (the product with state vectors nearest to it), or
    None for the middle acquisition. ``cross_check``: also asf_search's values
    (:attr:`StackBaselines.asf_perp_baseline_m`). Products are not modified. Raises :class:`InputError`
    when a named reference is not in the stack or has no state vectors.
    """
    names = [str(p.properties.get("sceneName") or "") for p in products]
    stack = stack or (stack_id(products[0].properties) if products else "unknown")
    result = StackBaselines(stack=stack, reference=None, reference_date=None)
    for product, name in zip(products, names):
        if acquisition_date(product) is None:
            result.excluded[name] = "the record has no start time"
    if isinstance(reference, str):
        chosen = [p for p, n in zip(products, names) if n == reference]
        if not chosen:
            raise InputError(f"The reference '{reference}' is not in stack {stack}; name one of its scenes.")
        problem = state_vector_problem(chosen[0])
        if problem:
            raise InputError(f"The reference '{reference}' cannot be used: {problem}. Choose another scene.")
        reference_product = chosen[0]
    else:
        reference_product = choose_reference(products, near=reference)

    usable = []
    for product, name in zip(products, names):
        if name in result.excluded:
            continue
        problem = state_vector_problem(product)
        if problem:
            result.excluded[name] = problem
        else:
            usable.append(product)
    if reference_product is None or not usable:
        for name in names:
            result.excluded.setdefault(
                name, "no product of the stack has state vectors to measure it against"
            )
        return result

    result.reference = str(reference_product.properties.get("sceneName"))
    result.reference_date = acquisition_date(reference_product)
    for product, name in zip(products, names):
        day = acquisition_date(product)
        if day is not None and result.reference_date is not None:
            result.temporal_baseline_days[name] = (day - result.reference_date).days

    reference_orbit = orbit_of(reference_product)
    assert reference_orbit is not None  # it passed state_vector_problem
    for product in usable:
        name = str(product.properties.get("sceneName") or "")
        orbit = orbit_of(product)
        assert orbit is not None
        value = 0.0 if name == result.reference else perpendicular_baseline_m(reference_orbit, orbit)
        if not math.isfinite(value) or abs(value) > MAX_BASELINE_M:
            result.excluded[name] = (
                f"its orbit does not match the reference {result.reference} (|B| > 100 km): another track?"
            )
            continue
        result.perp_baseline_m[name] = round(value, 2)
        result.orbits[name] = orbit
    if cross_check:
        result.asf_perp_baseline_m = _asf_values(reference_product, usable)
    return result


def baselines_by_stack(
    products: Iterable[Any],
    is_cancelled: Callable[[], bool] | None = None,
) -> dict[str, StackBaselines]:
    """:func:`stack_baselines` for every stack (path/frame or full burst id), middle references.

    Stacks come back sorted by id. ``is_cancelled()`` is checked between stacks.
    """
    groups: dict[str, list[Any]] = {}
    for product in products:
        groups.setdefault(stack_id(product.properties), []).append(product)
    result = {}
    for stack in sorted(groups):
        if is_cancelled and is_cancelled():
            raise CancelledError("Baseline calculation cancelled.")
        result[stack] = stack_baselines(groups[stack], stack=stack)
    return result
