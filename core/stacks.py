"""Stacks: the scenes (or bursts) of one track footprint, and their summary.

SLC stacks are path/frame (``P94_F210``); burst stacks are full burst ids
(``174_372326_IW3``). Ascending and descending stacks are listed apart.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from .aoi import coverage_percent
from .errors import InputError
from .schema import SUMMARY_FIELDS
from .search import parse_date


@dataclass
class StackSummary:
    """One row of the stack summary."""

    stack: str
    pathNumber: int | None  # noqa: N815 (the contract's field names)
    frameNumber: int | None  # noqa: N815
    burstId: str  # noqa: N815
    flightDirection: str  # noqa: N815
    count: int
    firstDate: str  # noqa: N815
    lastDate: str  # noqa: N815
    aoiCoverage: float | None  # noqa: N815 (percent)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name, _ in SUMMARY_FIELDS}


def stack_sort_key(direction: str, path: int | None, frame: int | None, stack: str) -> tuple:
    """Ascending first, then path, frame (or burst id)."""
    return ({"ASCENDING": 0, "DESCENDING": 1}.get(direction, 2), path or 0, frame or 0, stack)


def summarize(
    records: Iterable[tuple[Mapping[str, Any], BaseGeometry]], aoi_geometry: BaseGeometry | None = None
) -> list[StackSummary]:
    """Summarise footprints ``(record, geometry)`` per stack, sorted by direction, path, frame.

    ``count`` is the number of distinct acquisition dates (a scene listed twice, or two
    bursts of one date, count once); ``aoiCoverage`` is the percent of the AOI that the
    union of the stack's footprints covers (None without an AOI).
    """
    groups: dict[str, list[tuple[Mapping[str, Any], BaseGeometry]]] = {}
    for record, geometry in records:
        groups.setdefault(record.get("stack") or "unknown", []).append((record, geometry))
    summaries = []
    for stack, members in groups.items():
        first = members[0][0]
        dates = sorted({str(r.get("startTime", ""))[:10] for r, _ in members if r.get("startTime")})
        coverage = None
        if aoi_geometry is not None:
            coverage = coverage_percent(aoi_geometry, unary_union([g for _, g in members if g is not None]))
        summaries.append(
            StackSummary(
                stack=stack,
                pathNumber=first.get("pathNumber"),
                frameNumber=first.get("frameNumber") if not first.get("burstId") else None,
                burstId=first.get("burstId") or "",
                flightDirection=first.get("flightDirection") or "",
                count=len(dates),
                firstDate=dates[0] if dates else "",
                lastDate=dates[-1] if dates else "",
                aoiCoverage=coverage,
            )
        )
    summaries.sort(key=lambda s: stack_sort_key(s.flightDirection, s.pathNumber, s.frameNumber, s.stack))
    return summaries


def format_summary(summaries: Sequence[StackSummary]) -> str:
    """A plain-text table of the summary, ascending and descending listed apart."""
    lines = []
    for direction in ("ASCENDING", "DESCENDING", ""):
        rows = [s for s in summaries if (s.flightDirection or "") == direction]
        if not rows:
            continue
        lines.append(f"{direction.title() or 'Unknown direction'}:")
        for s in rows:
            coverage = "" if s.aoiCoverage is None else f", AOI coverage {s.aoiCoverage:.1f}%"
            lines.append(f"  {s.stack}: {s.count} acquisitions, {s.firstDate} to {s.lastDate}{coverage}")
    return "\n".join(lines)


def parse_stacks(text: str | None) -> list[str]:
    """``"100/466,93/121"`` or stack ids (``P100_F466``, ``174_372326_IW3``) to stack ids."""
    if not text:
        return []
    result = []
    for item in re.split(r"[,\s;]+", text.strip()):
        if not item:
            continue
        match = re.fullmatch(r"[Pp]?(\d{1,3})\s*[/_\-:]\s*[Ff]?(\d{1,4})", item)
        if match:
            result.append(f"P{int(match.group(1))}_F{int(match.group(2))}")
        elif re.fullmatch(r"\d{1,3}_\d{6}_IW[123]", item, re.IGNORECASE):
            result.append(item.upper())
        else:
            raise InputError(
                f"'{item}' is not a stack: write path/frame (e.g. 100/466) or a full burst id "
                "(e.g. 174_372326_IW3), separated by commas."
            )
    return result


def parse_months(text: str | Sequence[int] | None) -> list[int]:
    """``"5,6,7"`` or ``"5-9"`` to month numbers; ranges may wrap (``"11-2"``)."""
    if text is None or text == "":
        return []
    items = re.split(r"[,\s;]+", text.strip()) if isinstance(text, str) else [str(m) for m in text]
    months: list[int] = []
    for item in items:
        if not item:
            continue
        match = re.fullmatch(r"(\d{1,2})\s*-\s*(\d{1,2})", item)
        try:
            if match:
                low, high = int(match.group(1)), int(match.group(2))
                span = range(low, high + 1) if low <= high else list(range(low, 13)) + list(range(1, high + 1))
                values = list(span)
            else:
                values = [int(item)]
        except ValueError as exc:
            raise InputError(f"'{item}' is not a month number; write months as 1-12 (e.g. 5,6,7 or 5-9).") from exc
        for month in values:
            if not 1 <= month <= 12:
                raise InputError(f"Month {month} does not exist; months are 1 to 12.")
            if month not in months:
                months.append(month)
    return sorted(months)


@dataclass
class SceneFilter:
    """Which footprints to keep (every criterion optional)."""

    stacks: list[str]
    start: dt.datetime | None
    end: dt.datetime | None
    months: list[int]
    min_coverage: float  # percent of the AOI a single footprint must cover
    aoi_geometry: BaseGeometry | None = None

    @classmethod
    def build(
        cls,
        stacks: str | None = None,
        start: Any = None,
        end: Any = None,
        months: str | Sequence[int] | None = None,
        min_coverage: float = 0.0,
        aoi_geometry: BaseGeometry | None = None,
    ) -> SceneFilter:
        """Parse and check the user's filter values."""
        start_dt = parse_date(start, "start date")
        end_dt = parse_date(end, "end date", end_of_day=True)
        if start_dt and end_dt and start_dt > end_dt:
            raise InputError(f"The start date {start_dt.date()} is after the end date {end_dt.date()}; swap them.")
        if not 0 <= min_coverage <= 100:
            raise InputError(f"MIN_COVERAGE is a percent of the AOI: 0 to 100, not {min_coverage:g}.")
        if min_coverage > 0 and aoi_geometry is None:
            raise InputError("MIN_COVERAGE needs an AOI to measure coverage against; give AOI or set MIN_COVERAGE to 0.")
        return cls(parse_stacks(stacks), start_dt, end_dt, parse_months(months), float(min_coverage), aoi_geometry)

    def keep(self, record: Mapping[str, Any], geometry: BaseGeometry | None) -> bool:
        """True when the footprint passes every criterion."""
        if self.stacks and str(record.get("stack", "")).upper() not in {s.upper() for s in self.stacks}:
            return False
        when = parse_date(record.get("startTime") or None, "startTime")
        if when is None:
            return not (self.start or self.end or self.months)
        if self.start and when < self.start:
            return False
        if self.end and when > self.end:
            return False
        if self.months and when.month not in self.months:
            return False
        if self.min_coverage > 0 and self.aoi_geometry is not None:
            if geometry is None or coverage_percent(self.aoi_geometry, geometry) < self.min_coverage:
                return False
        return True
