"""selectpairs through ./scripts/qgis_process on a saved footprint GeoPackage."""

from __future__ import annotations

import json
import sqlite3

import pytest
from fakes.cmr import CMRStandIn, load_fixture
from insarhub_qgis.core import records
from insarhub_qgis.core.pairs import select_pairs
from process_helpers import clean_env, run_algorithm

pytestmark = pytest.mark.slow
BURSTS = load_fixture("s1_burst_174_372326_IW3_stack")


@pytest.fixture(scope="module")
def saved_search(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    with CMRStandIn(BURSTS, tmpdir=folder) as cmr:
        env = clean_env(INSARHUB_CMR_HOST=cmr.host, INSARHUB_CA_BUNDLE=cmr.ca_file)
        out = folder / "bursts.gpkg"
        done, results = run_algorithm(
            "insarhub:searchscenes", {"GRANULES": ",".join(i["asf_properties"]["fileID"] for i in BURSTS), "OUTPUT": out}, env=env
        )
        assert done.returncode == 0, done.stderr
        assert results["COUNT"] == 166
    return out, folder


def _pairs(path):
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("select * from pairs order by referenceDate, secondaryDate")]


def test_pairs_from_a_saved_geopackage(saved_search):
    footprints, folder = saved_search
    out, plot = folder / "pairs.gpkg", folder / "network.png"
    parameters = {"INPUT": footprints, "MAX_TEMPORAL_BASELINE": 60, "MAX_PERP_BASELINE": 150, "NEIGHBOURS": 3, "MAX_DEGREE": 6, "OUTPUT": out, "PLOT": plot}
    done, results = run_algorithm("insarhub:selectpairs", parameters, env=clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert results["COMPONENTS"] == 1
    rows = _pairs(out)
    assert results["PAIR_COUNT"] == len(rows) > 166
    degree: dict[str, int] = {}
    for row in rows:
        assert set(row) >= {"reference", "secondary", "referenceDate", "secondaryDate", "temporalBaseline", "perpBaseline", "stack", "bridge"}
        assert row["stack"] == "174_372326_IW3"
        if not row["bridge"]:
            assert 0 < row["temporalBaseline"] <= 60 and abs(row["perpBaseline"]) <= 150
        for name in (row["reference"], row["secondary"]):
            degree[name] = degree.get(name, 0) + 1
    assert max(degree.values()) <= 6 or any(r["bridge"] for r in rows)
    assert plot.stat().st_size > 20_000

    # The same network as the domain computes from the live records (what the search returned).
    live = records.products_from_records({"umm": json.dumps(i["umm"]), "cmrMeta": json.dumps(i["meta"])} for i in BURSTS)
    network = select_pairs(live, 60, 150, 3, 6)
    expected = sorted((p.reference, p.secondary, p.bridge) for p in network.pairs)
    assert sorted((r["reference"], r["secondary"], bool(r["bridge"])) for r in rows) == expected


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"MAX_TEMPORAL_BASELINE": -5}, "MAX_TEMPORAL_BASELINE"),
        ({"NEIGHBOURS": 500}, "NEIGHBOURS"),
        ({"MONTHS": "13"}, "Month 13"),
    ],
)
def test_bad_parameters_are_explained(saved_search, parameters, message):
    footprints, folder = saved_search
    target = folder / "bad.gpkg"
    done, _ = run_algorithm("insarhub:selectpairs", {"INPUT": footprints, **parameters, "OUTPUT": target}, env=clean_env())
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert not target.exists()
