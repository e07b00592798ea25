"""Names and field lists of the public contract (shared/API.md), with no third-party imports.

Kept apart so that the Processing provider can declare its parameters and outputs even in
a QGIS whose Python lacks asf_search/shapely: the plugin must load there and say what is
missing, not vanish.
"""

from __future__ import annotations

PROCESSING_LEVELS = ("SLC", "BURST")
FLIGHT_DIRECTIONS = ("ANY", "ASCENDING", "DESCENDING")

# (name, type) of every footprint attribute, in layer order; types: str, int, int64, float
FOOTPRINT_FIELDS: list[tuple[str, str]] = [
    ("sceneName", "str"),
    ("fileID", "str"),
    ("startTime", "str"),
    ("stopTime", "str"),
    ("pathNumber", "int"),
    ("frameNumber", "int"),
    ("burstId", "str"),
    ("flightDirection", "str"),
    ("polarization", "str"),
    ("processingLevel", "str"),
    ("beamModeType", "str"),
    ("platform", "str"),
    ("orbit", "int"),
    ("groupID", "str"),
    ("url", "str"),
    ("bytes", "int64"),
    ("md5sum", "str"),
    ("centerLat", "float"),
    ("centerLon", "float"),
    ("stack", "str"),
    ("umm", "str"),
    ("cmrMeta", "str"),
]
FOOTPRINT_FIELD_NAMES = [name for name, _ in FOOTPRINT_FIELDS]

SUMMARY_FIELDS: list[tuple[str, str]] = [
    ("stack", "str"),
    ("pathNumber", "int"),
    ("frameNumber", "int"),
    ("burstId", "str"),
    ("flightDirection", "str"),
    ("count", "int"),
    ("firstDate", "str"),
    ("lastDate", "str"),
    ("aoiCoverage", "float"),
]

PAIR_FIELDS: list[tuple[str, str]] = [
    ("reference", "str"),  # scene or burst name(s); several bursts comma-separated (multi-burst)
    ("secondary", "str"),
    ("referenceDate", "str"),
    ("secondaryDate", "str"),
    ("temporalBaseline", "int"),  # days
    ("perpBaseline", "float"),  # metres
    ("stack", "str"),
    ("bridge", "bool"),  # added only to keep the network connected (or across a season)
    ("burstCount", "int"),  # bursts per acquisition (1 for SLC and single-burst pairs)
]
