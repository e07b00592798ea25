"""Perpendicular and temporal baselines of a stack, offline, with asf_search's own calculation.

The numbers come from ``asf_search.baseline.get_baseline_from_stack`` (the function behind
``product.stack()``), fed with the state vectors that every Sentinel-1 SLC and burst CMR
record carries (``SV_POSITION_PRE/POST``, ``SV_VELOCITY_PRE/POST``, ``ASC_NODE_TIME``), so no
network is needed: the footprints' stored ``umm`` is enough. Like ASF, perpendicular
baselines are whole metres.

Reference: ASF measures a stack against whichever product the user stacked from, which is
arbitrary. Here the reference is the *middle acquisition* of the stack: of the products
with state vectors, sorted by start time (then name), the one at index ``(n - 1) // 2``.
It keeps the geometry error of the projection small for both ends of the stack and does
not depend on which scene a user happened to click. Any product (``sceneName``) or date
may be forced instead. Only baseline *differences* matter to a network, and those agree
with ASF's published values to a few metres whatever the reference.

Products without usable state vectors (or whose baseline ASF rejects) are never dropped
silently: they are listed in :attr:`StackBaselines.excluded` with the reason, by name.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .errors import CancelledError, InputError
from .records import stack_id

__all__ = [
    "StackBaselines",
    "acquisition_date",
    "baselines_by_stack",
    "choose_reference",
    "stack_baselines",
    "state_vector_problem",
]


@dataclass
class StackBaselines:
    """Baselines of the products of one stack against one reference product.

    ``perp_baseline_m`` and ``temporal_baseline_days`` are keyed by ``sceneName``;
    ``perp_baseline_m`` holds only the products that could be measured, ``excluded``
    the others with the reason (``sceneName -> reason``). ``temporal_baseline_days`` holds
    every product with a start time (a date difference, so it needs no state vectors).
    """

    stack: str
    reference: str | None
    reference_date: dt.date | None
    perp_baseline_m: dict[str, float] = field(default_factory=dict)
    temporal_baseline_days: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per fact: reference, how many measured, which excluded and why."""
        lines = [
            f"Stack {self.stack}: reference {self.reference or 'none'}"
            f" ({self.reference_date.isoformat() if self.reference_date else 'no date'}),"
            f" {len(self.perp_baseline_m)} products measured, {len(self.excluded)} excluded."
        ]
        for name, reason in sorted(self.excluded.items()):
            lines.append(f"  excluded {name}: {reason}")
        return "\n".join(lines)


def acquisition_date(product: Any) -> dt.date | None:
    """UTC date of a product's start time (None when the record has none)."""
    start = str(product.properties.get("startTime") or "")
    try:
        return dt.date.fromisoformat(start[:10])
    except ValueError:
        return None


def state_vector_problem(product: Any) -> str | None:
    """Why asf_search cannot compute this product's perpendicular baseline, or None when it can."""
    baseline = getattr(product, "baseline", None)
    if not baseline:
        return "the record has no baseline properties (not a stackable product)"
    if "insarBaseline" in baseline:  # pre-calculated missions (ALOS, RADARSAT, ERS...)
        return None
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
            ("ASC_NODE_TIME", baseline.get("ascendingNodeTime")),
        )
        if value is None
    ]
    if missing:
        return f"no state vectors in its CMR record (missing {', '.join(missing)})"
    if not product.properties.get("startTime") or not product.properties.get("stopTime"):
        return "the record has no start or stop time"
    if product.properties.get("centerLat") is None or product.properties.get("centerLon") is None:
        return "the record has no scene centre (centerLat/centerLon)"
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


def _working_copy(product: Any) -> Any:
    """A copy asf_search may write its results into, leaving the caller's product untouched."""
    clone = copy.copy(product)
    clone.properties = dict(product.properties)
    clone.baseline = copy.deepcopy(product.baseline)
    return clone


def stack_baselines(
    products: Sequence[Any], reference: str | dt.date | None = None, stack: str | None = None
) -> StackBaselines:
    """Perpendicular (m) and temporal (days) baselines of one stack's products.

    ``reference``: a ``sceneName`` in the stack, a date (the product with state vectors
    nearest to it), or None for the middle acquisition (see the module docstring).
    Products are not modified. Raises :class:`InputError` when a named reference is not in
    the stack or has no state vectors.
    """
    from asf_search.baseline import get_baseline_from_stack

    names = [str(p.properties.get("sceneName") or "") for p in products]
    stack = stack or (stack_id(products[0].properties) if products else "unknown")
    result = StackBaselines(stack=stack, reference=None, reference_date=None)
    for product, name in zip(products, names):
        day = acquisition_date(product)
        if day is None:
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

    working = [_working_copy(p) for p in usable]
    ref_copy = next(p for p in working if p.properties.get("sceneName") == result.reference)
    measured, _warnings = get_baseline_from_stack(ref_copy, working)
    for product in measured:
        name = str(product.properties.get("sceneName") or "")
        value = product.properties.get("perpendicularBaseline")
        if value is None:
            result.excluded[name] = (
                "asf_search could not compute its perpendicular baseline (its orbit does not match "
                f"the reference {result.reference}: |B| > 100 km or no state vectors)"
            )
        else:
            result.perp_baseline_m[name] = float(value)
    for product in usable:
        name = str(product.properties.get("sceneName") or "")
        if name not in result.perp_baseline_m:
            result.excluded.setdefault(name, "asf_search left it out of the baseline stack")
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
