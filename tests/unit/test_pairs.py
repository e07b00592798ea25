"""Baselines and interferogram networks on real CMR records (and synthetic stacks for scale)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
from insarhub_qgis.core import baselines, pairs, records
from insarhub_qgis.core.errors import CancelledError, InputError
from insarhub_qgis.core.network_plot import plot_network

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cmr"
BURST_STACK = "s1_burst_174_372326_IW3_stack"
SLC_STACK = "s1_slc_fairbanks_p94_f210_stack"


def _items(name: str) -> list[dict]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _products(items: list[dict]) -> list:
    return records.products_from_records(
        {"umm": json.dumps(i["umm"]), "cmrMeta": json.dumps(i["meta"])} for i in items
    )


@pytest.fixture(scope="module")
def burst_items() -> list[dict]:
    return _items(BURST_STACK)


@pytest.fixture(scope="module")
def burst_products(burst_items) -> list:
    return _products(burst_items)


@pytest.fixture(scope="module")
def burst_acquisitions(burst_products) -> pairs.AcquisitionSet:
    return pairs.acquisitions_from_products(burst_products)


def _asf(items: list[dict]) -> dict[str, dict]:
    return {i["asf_properties"]["sceneName"]: i["asf_properties"] for i in items}


def _asf_reference(items: list[dict]) -> str:
    (name,) = [n for n, p in _asf(items).items() if p["temporalBaseline"] == 0]
    return name


def _renamed(item: dict, suffix: str, **attributes: str) -> dict:
    """A copy of a CMR item under another granule name, with some AdditionalAttributes replaced."""
    item = copy.deepcopy(item)
    item["umm"]["GranuleUR"] = item["umm"]["GranuleUR"] + suffix
    for attribute in item["umm"]["AdditionalAttributes"]:
        if attribute["Name"] in attributes:
            attribute["Values"] = [attributes[attribute["Name"]]]
    return item


def _without_state_vectors(item: dict) -> dict:
    item = copy.deepcopy(item)
    item["umm"]["AdditionalAttributes"] = [
        a for a in item["umm"]["AdditionalAttributes"] if not a["Name"].startswith("SV_")
    ]
    return item


def _params(**kwargs) -> pairs.NetworkParameters:
    defaults = dict(max_temporal_baseline_days=48, max_perp_baseline_m=150, neighbours=3, max_degree=6)
    defaults.update(kwargs)
    return pairs.NetworkParameters.build(**defaults)


def _check_constraints(network: pairs.Network, parameters: pairs.NetworkParameters) -> None:
    for pair in network.pairs:
        assert pair.reference_date < pair.secondary_date
        assert pair.temporal_baseline_days == (pair.secondary_date - pair.reference_date).days
        if pair.bridge:
            continue
        assert pair.temporal_baseline_days <= parameters.max_temporal_baseline_days
        assert abs(pair.perp_baseline_m) <= parameters.max_perp_baseline_m


def _graph(network: pairs.Network, stack: str) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(a.date for a in network.acquisitions_of(stack))
    graph.add_edges_from((p.reference_date, p.secondary_date) for p in network.pairs_of(stack))
    return graph


def _fingerprint(network: pairs.Network) -> list[tuple]:
    return [
        (tuple(sorted(p.as_record().items())), p.geometry.wkt if p.geometry else None) for p in network.pairs
    ]


# ------------------------------------------------------------------------------------------- baselines


def test_burst_baselines_follow_asf_loosely(burst_items, burst_products):
    # The orbit geometry itself is tested against an independent calculation in test_baselines.py; ASF's
    # published values (whole metres, linear interpolation, another reference) are a loose oracle.
    asf = _asf(burst_items)
    result = baselines.stack_baselines(burst_products)
    assert result.stack == "174_372326_IW3" and not result.excluded
    assert len(result.perp_baseline_m) == 166
    # The middle acquisition is the reference; ASF used another, so compare after moving ours to ASF's zero.
    by_time = sorted(burst_products, key=lambda p: p.properties["startTime"])
    assert result.reference == by_time[82].properties["sceneName"]
    assert result.perp_baseline_m[result.reference] == 0
    asf_reference = _asf_reference(burst_items)
    zero = result.perp_baseline_m[asf_reference]
    differences = [abs(result.perp_baseline_m[n] - zero - p["perpendicularBaseline"]) for n, p in asf.items()]
    assert np.median(differences) < 3 and max(differences) < 15
    shift = result.temporal_baseline_days[asf_reference]
    assert all(result.temporal_baseline_days[n] - shift == p["temporalBaseline"] for n, p in asf.items())
    assert "perpendicularBaseline" not in burst_products[0].properties


def test_slc_baselines_follow_asf_and_the_reference_only_shifts_them(burst_items):
    items = _items(SLC_STACK)
    products = _products(items)
    asf = _asf(items)
    same = baselines.stack_baselines(products, reference=_asf_reference(items))
    assert all(abs(same.perp_baseline_m[n] - p["perpendicularBaseline"]) <= 2.5 for n, p in asf.items())
    middle = baselines.stack_baselines(products)
    assert middle.reference_date == dt.date(2021, 1, 14)
    zero = middle.perp_baseline_m[_asf_reference(items)]
    assert all(abs(middle.perp_baseline_m[n] - zero - same.perp_baseline_m[n]) <= 0.05 for n in asf)
    with pytest.raises(InputError, match="not in stack P94_F210"):
        baselines.stack_baselines(products, reference="S1A_NOT_A_SCENE")


def test_footprints_without_state_vectors_are_reported_by_name(burst_items):
    items = [_without_state_vectors(burst_items[5])] + burst_items[:5] + burst_items[6:40]
    bare = items[0]["umm"]["GranuleUR"]
    result = baselines.stack_baselines(_products(items))
    assert bare not in result.perp_baseline_m
    assert "no state vectors" in result.excluded[bare] and "SV_POSITION_PRE" in result.excluded[bare]

    network = pairs.select_pairs(_products(items), 48, 150, 3)
    (excluded,) = network.excluded
    assert excluded.names == (bare,) and "no state vectors" in excluded.reason
    assert bare not in {n for p in network.pairs for n in (*p.reference_names, *p.secondary_names)}
    assert bare in network.summary() and network.is_connected()
    with pytest.raises(InputError, match="cannot be used: no state vectors"):
        baselines.stack_baselines(_products(items), reference=bare)


# --------------------------------------------------------------------------------------------- network


def test_burst_network_is_connected_within_limits_and_degree(burst_acquisitions):
    parameters = _params()
    network = pairs.build_network(burst_acquisitions, parameters)
    assert network.stacks() == ["174_372326_IW3"] and len(network.acquisitions) == 166
    assert network.is_connected() and len(network.components) == 1
    assert (network.components[0].first_date, network.components[0].last_date) == (
        dt.date(2014, 10, 17),
        dt.date(2021, 12, 21),
    )
    _check_constraints(network, parameters)
    graph = _graph(network, "174_372326_IW3")
    assert nx.is_connected(graph) and max(d for _, d in graph.degree) <= 6
    assert len({(p.reference_date, p.secondary_date) for p in network.pairs}) == len(network.pairs)
    footprints = {a.date: a.footprint for a in network.acquisitions}
    for pair in network.pairs:
        assert pair.geometry.area > 0
        assert pair.geometry.difference(footprints[pair.reference_date]).area < 1e-9
        record = pair.as_record()
        assert record["reference"].endswith("-BURST") and record["stack"] == "174_372326_IW3"
        assert set(record) == {
            "reference", "secondary", "referenceDate", "secondaryDate",
            "temporalBaseline", "perpBaseline", "stack", "bridge",
        }  # fmt: skip
    summary = network.summary()
    assert (
        f"{len(network.pairs)} pairs ({network.bridge_count} bridges)" in summary and "1 component" in summary
    )


def test_each_date_links_its_nearest_valid_later_dates(burst_acquisitions):
    parameters = _params(max_degree=None)
    network = pairs.build_network(burst_acquisitions, parameters)
    acqs = network.acquisitions
    expected = set()
    for i, acq in enumerate(acqs):
        later = [
            b
            for b in acqs[i + 1 :]
            if (b.date - acq.date).days <= 48 and abs(b.perp_baseline_m - acq.perp_baseline_m) <= 150
        ]
        expected |= {(acq.date, b.date) for b in later[:3]}
    assert {(p.reference_date, p.secondary_date) for p in network.pairs if not p.bridge} == expected
    bridges = [p for p in network.pairs if p.bridge]
    unbridged = pairs.build_network(burst_acquisitions, _params(max_degree=None, force_connected=False))
    assert len(bridges) == len(unbridged.components) - 1  # the fewest edges that connect


def test_network_is_deterministic(burst_items):
    first = pairs.select_pairs(_products(burst_items), 48, 150, 3, 6)
    shuffled = list(burst_items)
    random.Random(7).shuffle(shuffled)
    second = pairs.select_pairs(_products(shuffled), 48, 150, 3, 6)
    assert _fingerprint(first) == _fingerprint(second)
    assert first.summary() == second.summary()


def test_a_missing_year_is_bridged_and_flagged(burst_acquisitions):
    kept = [a for a in burst_acquisitions.acquisitions if a.date.year != 2017]
    parameters = _params()
    apart = pairs.build_network(kept, _params(force_connected=False))
    assert len(apart.components) >= 2
    text = apart.summary()
    assert "Not connected" in text and "2016-12-29 (12 acquisitions); 2018-01-11 to 2021-12-21" in text

    network = pairs.build_network(kept, parameters)
    assert network.is_connected() and nx.is_connected(_graph(network, "174_372326_IW3"))
    bridges = [p for p in network.pairs if p.bridge]
    assert len(bridges) == len(apart.components) - 1
    (gap,) = [p for p in bridges if p.reference_date.year == 2016 and p.secondary_date.year == 2018]
    assert gap.temporal_baseline_days > 365 and gap.as_record()["bridge"] is True
    assert f"bridge {gap.reference_date} -> {gap.secondary_date}" in network.summary()
    _check_constraints(network, parameters)
    # Non-bridge pairs are exactly those of the unconnected network: bridges only add.
    assert [p for p in network.pairs if not p.bridge] == apart.pairs


def test_season_filter_keeps_months_and_bridges_the_years(burst_acquisitions):
    parameters = _params(months="6-9")
    network = pairs.build_network(burst_acquisitions, parameters)
    assert {a.date.month for a in network.acquisitions} <= {6, 7, 8, 9}
    outside = [a for a in burst_acquisitions.acquisitions if a.date.month not in (6, 7, 8, 9)]
    assert len(network.excluded) == len(outside)
    assert all(e.reason == "acquired outside MONTHS=6,7,8,9" for e in network.excluded)
    assert network.is_connected()
    _check_constraints(network, parameters)
    years = sorted({a.date.year for a in network.acquisitions})
    for year, following in zip(years, years[1:]):
        crossing = [
            p for p in network.pairs if p.reference_date.year == year and p.secondary_date.year == following
        ]
        assert crossing and all(p.bridge for p in crossing), (year, following)
    degrees = _graph(network, "174_372326_IW3").degree
    assert max(d for _, d in degrees) <= 6
    # Without FORCE_CONNECTED the year-to-year pairs are still there: they are part of MONTHS.
    seasonal = pairs.build_network(burst_acquisitions, _params(months="6-9", force_connected=False))
    assert any(p.bridge and p.temporal_baseline_days > 200 for p in seasonal.pairs)


def test_winter_season_wraps_the_new_year(burst_acquisitions):
    network = pairs.build_network(burst_acquisitions, _params(months="11-2"))
    assert {a.date.month for a in network.acquisitions} <= {11, 12, 1, 2}
    # Dec 2018 and Jan 2019 are one season: their pairs are regular ones.
    inside = [p for p in network.pairs if p.reference_date.month == 12 and p.secondary_date.month == 1]
    assert inside and not all(p.bridge for p in inside)
    assert network.is_connected()


def test_single_acquisition_two_and_same_date(burst_products, burst_items):
    with pytest.raises(InputError, match=r"1 acquisition date \(2014-10-17\)"):
        pairs.select_pairs(burst_products[:1], 48, 150)

    two = pairs.select_pairs(burst_products[1:3])
    (pair,) = two.pairs
    assert not pair.bridge and pair.reference_date < pair.secondary_date
    assert pair.reference_names == (burst_products[1].properties["sceneName"],)
    assert two.is_connected()

    same_day = [burst_items[0]] + [_renamed(burst_items[0], f"_COPY{k}") for k in range(2)]
    acquisitions = pairs.acquisitions_from_products(_products(same_day))
    (only,) = acquisitions.acquisitions
    assert only.names == (burst_items[0]["umm"]["GranuleUR"],) and len(only.merged) == 2
    with pytest.raises(InputError, match="1 acquisition date"):
        pairs.build_network(acquisitions)


def test_one_date_stack_beside_a_real_stack_is_reported(burst_acquisitions):
    lonely = pairs.Acquisition("OTHER", dt.date(2020, 1, 1), (pairs.Granule("X", "OTHER"),), 0.0)
    network = pairs.build_network([*burst_acquisitions.acquisitions, lonely], _params())
    assert network.stacks() == ["174_372326_IW3", "OTHER"] and not network.pairs_of("OTHER")
    assert "Stack OTHER: a single acquisition (2020-01-01), no pairs possible." in network.summary()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_temporal_baseline_days=-12), "MAX_TEMPORAL_BASELINE must be more than 0 days"),
        (dict(max_temporal_baseline_days=0), "MAX_TEMPORAL_BASELINE must be more than 0 days"),
        (dict(max_temporal_baseline_days="soon"), "MAX_TEMPORAL_BASELINE must be a number"),
        (dict(max_perp_baseline_m=0), "MAX_PERP_BASELINE must be more than 0 metres"),
        (dict(max_perp_baseline_m=float("nan")), "MAX_PERP_BASELINE must be more than 0 metres"),
        (dict(neighbours=0), "NEIGHBOURS must be at least 1"),
        (dict(neighbours=2.5), "NEIGHBOURS must be a whole number"),
        (dict(max_degree=1), "MAX_DEGREE must be at least 2"),
        (dict(months="13"), "Month 13 does not exist"),
        (dict(months="summer"), "not a month number"),
    ],
)
def test_invalid_parameters_say_what_to_change(kwargs, message):
    with pytest.raises(InputError, match=message):
        pairs.NetworkParameters.build(**kwargs)


def test_neighbours_larger_than_the_stack(burst_products, burst_acquisitions):
    with pytest.raises(InputError, match="NEIGHBOURS=166 is more than any date can have.*165 or less"):
        pairs.build_network(burst_acquisitions, _params(neighbours=166))
    with pytest.raises(InputError, match="NEIGHBOURS=3 .* Set NEIGHBOURS to 1 or less"):
        pairs.select_pairs(burst_products[1:3], neighbours=3)
    assert pairs.build_network(burst_acquisitions, _params(neighbours=165, max_degree=None)).is_connected()
    with pytest.raises(InputError, match="no footprints"):
        pairs.build_network([])


def test_slc_fairbanks_stack():
    network = pairs.select_pairs(_products(_items(SLC_STACK)), 48, 150, neighbours=2)
    assert network.stacks() == ["P94_F210"]
    assert [(p.reference_date.day, p.secondary_date.day) for p in network.pairs] == [
        (2, 14),
        (2, 26),
        (14, 26),
    ]
    assert network.is_connected() and network.bridge_count == 0
    for pair in network.pairs:
        assert pair.reference.startswith("S1") and "_SLC__" in pair.secondary
        assert pair.geometry.area > 0.5  # square degrees: whole-frame overlap at 65 N
    asf = _asf(_items(SLC_STACK))
    by_date = {dt.date.fromisoformat(p["startTime"][:10]): p["perpendicularBaseline"] for p in asf.values()}
    for pair in network.pairs:
        assert abs(pair.perp_baseline_m - (by_date[pair.secondary_date] - by_date[pair.reference_date])) <= 5


def test_multi_burst_acquisitions_hold_the_bursts_of_a_pass(burst_items):
    base = burst_items[:30]
    # A second burst id of the same track: ASF's records of the first, renamed, on all but three dates.
    neighbour = [
        _renamed(i, "_B2", BURST_ID_FULL="174_372327_IW3", BURST_ID_RELATIVE="372327") for i in base[3:]
    ]
    acquisitions = pairs.acquisitions_from_products(_products(base + neighbour), multi_burst=True)
    assert {a.stack for a in acquisitions.acquisitions} == {"P174_DESCENDING"}
    assert len(acquisitions.acquisitions) == 30
    assert [len(a.granules) for a in acquisitions.acquisitions] == [1] * 3 + [2] * 27
    network = pairs.build_network(acquisitions, _params(neighbours=2))
    assert network.is_connected()
    for pair in network.pairs:
        assert len(pair.reference_names) == len(pair.secondary_names)
        expected = 2 if pair.reference_date >= acquisitions.acquisitions[3].date else 1
        assert len(pair.reference_names) == expected
        assert pair.reference.count(",") == expected - 1
    with pytest.raises(InputError, match="Multi-burst pairs need burst footprints"):
        pairs.acquisitions_from_products(_products(_items(SLC_STACK)), multi_burst=True)


def test_cancel_is_honoured(burst_acquisitions):
    with pytest.raises(CancelledError):
        pairs.build_network(burst_acquisitions, _params(), is_cancelled=lambda: True)


# ------------------------------------------------------------------------------------------------ plot


def test_plot_is_a_png_with_content(burst_acquisitions, tmp_path):
    import matplotlib.image

    kept = [a for a in burst_acquisitions.acquisitions if a.date.year != 2017]
    network = pairs.build_network(
        pairs.AcquisitionSet(kept, burst_acquisitions.excluded), _params(months="5-10")
    )
    path = plot_network(network, tmp_path / "plots" / "network.png", title="174_372326_IW3")
    assert path.stat().st_size > 20_000
    image = matplotlib.image.imread(str(path))
    assert image.shape[0] > 300 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.05  # not a blank canvas

    apart = pairs.build_network(kept, _params(force_connected=False))
    assert plot_network(apart, tmp_path / "apart.png").stat().st_size > 20_000


# -------------------------------------------------------------------------------------------- synthetic


def _synthetic(count: int, seed: int = 0, stack: str = "SYN") -> list[pairs.Acquisition]:
    """``count`` acquisitions 6 days apart with baselines drawn from a 60 m orbital tube."""
    rng = np.random.default_rng(seed)
    footprint = shapely.box(0, 0, 1, 1)
    perp = rng.normal(0.0, 60.0, count)
    start = dt.date(2015, 1, 1)
    return [
        pairs.Acquisition(
            stack,
            start + dt.timedelta(days=6 * k),
            (pairs.Granule(f"{stack}_{k:05d}", stack, footprint),),
            float(perp[k]),
        )
        for k in range(count)
    ]


def test_synthetic_stack_of_1000_acquisitions(tmp_path):
    parameters = _params(max_temporal_baseline_days=36, max_perp_baseline_m=100, neighbours=3, max_degree=6)
    network = pairs.build_network(_synthetic(1000), parameters)
    assert len(network.acquisitions) == 1000 and network.is_connected()
    _check_constraints(network, parameters)
    assert max(d for _, d in _graph(network, "SYN").degree) <= 6
    seasonal = pairs.build_network(_synthetic(1000, seed=1), _params(months="4-9"))
    assert seasonal.is_connected()


def test_pair_baselines_are_the_pairs_own(burst_products, burst_acquisitions):
    """A pair's perpendicular baseline comes from its own two orbits, not from a reference scene."""
    network = pairs.build_network(burst_acquisitions.acquisitions, _params(neighbours=2))
    orbits = {p.properties["sceneName"]: baselines.orbit_of(p) for p in burst_products}
    by_date = {a.date: a.perp_baseline_m for a in burst_acquisitions.acquisitions}
    assert len(network.pairs) > 100
    for pair in network.pairs:
        own = baselines.perpendicular_baseline_m(orbits[pair.reference], orbits[pair.secondary])
        assert pair.perp_baseline_m == round(own, 2)
        # the acquisitions' values (against the middle date) differ from it by centimetres only
        assert abs(pair.perp_baseline_m - (by_date[pair.secondary_date] - by_date[pair.reference_date])) < 0.1
