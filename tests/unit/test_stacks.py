"""Stack summaries and scene filters on real CMR records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from insarhub_qgis.core import records, stacks
from insarhub_qgis.core.errors import InputError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cmr"


def _rows(name):
    items = json.loads((FIXTURES / f"{name}.json").read_text())
    products = records.products_from_records(
        {"umm": json.dumps(i["umm"]), "cmrMeta": json.dumps(i["meta"])} for i in items
    )
    return [records.record_from_product(p) for p in products], items


def test_slc_records_carry_the_contract_fields():
    rows, items = _rows("s1_slc_fairbanks_p94_f210_stack")
    for (record, geometry), item in zip(rows, items):
        expected = item["asf_properties"]
        assert set(records.FOOTPRINT_FIELD_NAMES) <= set(record)
        assert record["sceneName"] == expected["sceneName"]
        assert record["pathNumber"] == expected["pathNumber"]
        assert record["frameNumber"] == expected["frameNumber"]
        assert record["flightDirection"] == expected["flightDirection"]
        assert record["stack"] == f"P{expected['pathNumber']}_F{expected['frameNumber']}"
        assert record["burstId"] == ""
        assert geometry.is_valid and geometry.area > 0


def test_burst_stack_is_its_full_burst_id_and_summary_counts_dates():
    rows, items = _rows("s1_burst_174_372326_IW3_stack")
    assert {r["stack"] for r, _ in rows} == {"174_372326_IW3"}
    (summary,) = stacks.summarize(rows)
    dates = sorted({i["asf_properties"]["startTime"][:10] for i in items})
    assert summary.count == len(dates)
    assert (summary.firstDate, summary.lastDate) == (dates[0], dates[-1])
    assert summary.burstId == "174_372326_IW3" and summary.frameNumber is None
    assert summary.flightDirection == "DESCENDING"
    assert summary.aoiCoverage is None


def test_aoi_coverage_of_a_stack():
    rows, _ = _rows("s1_slc_fairbanks_p94_f210_stack")
    union = shapely.union_all([g for _, g in rows])
    inside = shapely.box(*union.centroid.buffer(0.05).bounds)
    cy = union.centroid.y
    # Where the footprints' eastern edge crosses the centroid's latitude: a box centred there is half in.
    east = union.intersection(shapely.LineString([(-180, cy), (180, cy)])).bounds[2]
    half_out = shapely.box(east - 0.05, cy - 0.01, east + 0.05, cy + 0.01)
    assert stacks.summarize(rows, inside)[0].aoiCoverage == pytest.approx(100.0)
    assert stacks.summarize(rows, half_out)[0].aoiCoverage == pytest.approx(50.0, abs=5.0)


def test_ascending_listed_before_descending():
    rows, _ = _rows("s1_slc_fairbanks_p94_f210_stack")
    burst_rows, _ = _rows("s1_burst_single")
    summaries = stacks.summarize(burst_rows + rows)
    assert [s.flightDirection for s in summaries] == ["ASCENDING", "DESCENDING"]
    text = stacks.format_summary(summaries)
    assert text.index("Ascending") < text.index("Descending")


def test_parse_stacks_and_months():
    assert stacks.parse_stacks("100/466, 93/121") == ["P100_F466", "P93_F121"]
    assert stacks.parse_stacks("P94_F210 174_372326_iw3") == ["P94_F210", "174_372326_IW3"]
    with pytest.raises(InputError, match="not a stack"):
        stacks.parse_stacks("Fairbanks")
    assert stacks.parse_months("5-9") == [5, 6, 7, 8, 9]
    assert stacks.parse_months("11-2") == [1, 2, 11, 12]
    with pytest.raises(InputError, match="Month 13"):
        stacks.parse_months("13")


def test_filter_by_stack_dates_and_months():
    rows, _ = _rows("s1_burst_174_372326_IW3_stack")
    summer = stacks.SceneFilter.build(months="6-8", start="2018-01-01", end="2019-12-31")
    kept = [r for r, g in rows if summer.keep(r, g)]
    assert kept
    assert all(r["startTime"][5:7] in ("06", "07", "08") and r["startTime"][:4] in ("2018", "2019") for r in kept)
    expected = sum(1 for r, _ in rows if r["startTime"][5:7] in ("06", "07", "08") and r["startTime"][:4] in ("2018", "2019"))
    assert len(kept) == expected
    other = stacks.SceneFilter.build(stacks="P1_F1")
    assert not any(other.keep(r, g) for r, g in rows)


def test_filter_refuses_bad_values():
    with pytest.raises(InputError, match="after the end date"):
        stacks.SceneFilter.build(start="2020-02-01", end="2020-01-01")
    with pytest.raises(InputError, match="needs an AOI"):
        stacks.SceneFilter.build(min_coverage=50)
    with pytest.raises(InputError, match="0 to 100"):
        stacks.SceneFilter.build(min_coverage=150, aoi_geometry=shapely.box(0, 0, 1, 1))
