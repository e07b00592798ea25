"""Vertical and east-west motion from ascending and descending LOS results (``insarhub:decompose``).

* :mod:`.inputs` - the velocity GeoTIFFs of ``insarhub:runtimeseries`` and what they name (std,
  displacement, LOS geometry);
* :mod:`.grid` - the common grid and the regridding onto it;
* :mod:`.run` - referencing, the common dates, MintPy's ``asc_desc2horz_vert`` in MintPy's own
  interpreter (:mod:`.mintpy_worker`), the mask and the GeoTIFFs;
* :mod:`.results` - the output layout, and :class:`Decomposition` to read vertical and east (and their
  time series) at a pixel.
"""

from __future__ import annotations

from .inputs import LosInput, check_directions, open_los_input
from .results import ROLES, Decomposition, PixelValues
from .run import (
    DEFAULT_DATE_TOLERANCE_DAYS,
    DEFAULT_GEOMETRY_WINDOW,
    DEFAULT_MAX_CONDITION,
    DecomposeError,
    DecompositionResult,
    decompose,
    match_dates,
    stable_pixels,
)

__all__ = [
    "DEFAULT_DATE_TOLERANCE_DAYS",
    "DEFAULT_GEOMETRY_WINDOW",
    "DEFAULT_MAX_CONDITION",
    "ROLES",
    "DecomposeError",
    "Decomposition",
    "DecompositionResult",
    "LosInput",
    "PixelValues",
    "check_directions",
    "decompose",
    "match_dates",
    "open_los_input",
    "stable_pixels",
]
