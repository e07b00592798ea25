"""Defaults of each workflow step, set on the options page and used by the dock.

Stored in QgsSettings under ``insarhub/defaults/<key>``. Each fallback is the algorithm's
own default, so an untouched options page changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qgis.core import QgsSettings

from ..core.schema import FLIGHT_DIRECTIONS, PROCESSING_LEVELS
from ..processing_provider.run_timeseries import CLUSTERS
from ..processing_provider.submit_jobs import JOB_TYPES, LOOKS

DEFAULTS_GROUP = "insarhub/defaults"


@dataclass(frozen=True)
class StepDefault:
    """One default: its settings key, the label on the options page, its type and fallback."""

    key: str
    label: str
    kind: str  # "choice", "int", "float" or "str"
    fallback: Any
    choices: tuple[str, ...] = ()
    minimum: float = 0
    maximum: float = 1_000_000
    special: str = ""  # shown for the minimum (e.g. "no limit")
    suffix: str = ""


STEP_DEFAULTS: tuple[StepDefault, ...] = (
    StepDefault("processing_level", "Search: product", "choice", "SLC", PROCESSING_LEVELS),
    StepDefault("flight_direction", "Search: flight direction", "choice", "ANY", FLIGHT_DIRECTIONS),
    StepDefault(
        "max_temporal_baseline",
        "Pairs: maximum temporal baseline",
        "float",
        48.0,
        maximum=10000,
        special="no limit",
        suffix=" days",
    ),
    StepDefault(
        "max_perp_baseline",
        "Pairs: maximum perpendicular baseline",
        "float",
        200.0,
        maximum=10000,
        special="no limit",
        suffix=" m",
    ),
    StepDefault("neighbours", "Pairs: neighbours", "int", 3, minimum=1, maximum=50),
    StepDefault("job_type", "HyP3: job type", "choice", "INSAR_GAMMA", JOB_TYPES),
    StepDefault("looks", "HyP3: looks", "choice", "20x4", LOOKS),
    StepDefault("project_name", "HyP3: project name", "str", "insarhub"),
    StepDefault(
        "refresh_interval_s",
        "HyP3: job status refresh interval",
        "int",
        60,
        minimum=10,
        maximum=3600,
        suffix=" s",
    ),
    StepDefault("compute_cluster", "Time series: compute cluster", "choice", "none", CLUSTERS),
    StepDefault("workers", "Time series: workers", "int", 0, maximum=512, special="MintPy default"),
)
BY_KEY = {d.key: d for d in STEP_DEFAULTS}


def _convert(default: StepDefault, value: Any) -> Any:
    if default.kind == "int":
        return int(float(value))
    if default.kind == "float":
        return float(value)
    text = str(value)
    if default.kind == "choice" and text not in default.choices:
        return default.fallback
    return text


def default_value(key: str) -> Any:
    """The user's default for ``key`` (options page), else the algorithm's own default."""
    default = BY_KEY[key]
    value = QgsSettings().value(f"{DEFAULTS_GROUP}/{key}", None)
    if value in (None, ""):
        return default.fallback
    try:
        return _convert(default, value)
    except (TypeError, ValueError):
        return default.fallback


def set_default_value(key: str, value: Any) -> None:
    """Store the user's default for ``key``; the fallback value removes the setting."""
    default = BY_KEY[key]
    settings = QgsSettings()
    if value is None or _convert(default, value) == default.fallback:
        settings.remove(f"{DEFAULTS_GROUP}/{key}")
    else:
        settings.setValue(f"{DEFAULTS_GROUP}/{key}", _convert(default, value))
