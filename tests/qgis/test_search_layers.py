"""searchscenes inside QGIS (as the toolbox runs it): AOI from selected features, results in one
group named by its stacks and dates, each stack drawn as its outline (labelled once, outside), the
per-date footprints off, earlier searches hidden; an empty search loads nothing."""

from __future__ import annotations

import insarhub_qgis
import pytest
import shapely
from dock_helpers import stack_labels
from fakes.cmr import CMRStandIn, load_fixture
from insarhub_qgis.processing_provider.styling import ROLE_PROPERTY, SEARCH_ROLE
from qgis.core import (
    QgsApplication,
    QgsFeature,
    QgsGeometry,
    QgsMergedFeatureRenderer,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProject,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)

BURSTS = load_fixture("s1_burst_174_372326_IW3_stack")
SLCS = load_fixture("s1_slc_fairbanks_p94_f210_stack")


def _centre(items):
    points = items[0]["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]
    return shapely.Polygon([(p["Longitude"], p["Latitude"]) for p in points]).centroid


@pytest.fixture()
def cmr(tmp_path, monkeypatch):
    with CMRStandIn(BURSTS + SLCS, tmpdir=tmp_path) as stand_in:
        monkeypatch.setenv("INSARHUB_CMR_HOST", stand_in.host)
        monkeypatch.setenv("INSARHUB_CA_BUNDLE", stand_in.ca_file)
        yield stand_in


@pytest.fixture()
def provider(qgis_iface, qgis_processing, qgis_new_project):
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initProcessing()
    yield QgsApplication.processingRegistry().providerById("insarhub")
    plugin.unload()


def _aoi_layer():
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "aoi", "memory")
    features = []
    for centre in (_centre(BURSTS), _centre(SLCS)):
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromWkt(centre.buffer(0.01).wkt))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(layer)
    return layer


def test_selected_features_are_the_aoi_and_results_are_grouped_per_stack(cmr, provider, tmp_path):
    import processing

    layer = _aoi_layer()
    ids = sorted(f.id() for f in layer.getFeatures())
    layer.selectByIds([ids[1]])  # only the Fairbanks polygon
    results = processing.runAndLoadResults(
        "insarhub:searchscenes",
        {
            "AOI": QgsProcessingFeatureSourceDefinition(layer.id(), selectedFeaturesOnly=True),
            "PROCESSING_LEVEL": "SLC",
            "OUTPUT": str(tmp_path / "footprints.gpkg"),
            "SUMMARY": str(tmp_path / "summary.gpkg"),
        },
    )
    assert results["COUNT"] == len(SLCS) and results["STACK_COUNT"] == 1
    groups = [g for g in QgsProject.instance().layerTreeRoot().findGroups() if g.customProperty(ROLE_PROPERTY) == SEARCH_ROLE]
    assert len(groups) == 1
    days = sorted({i["asf_properties"]["startTime"][:10] for i in SLCS})
    assert groups[0].name() == f"P94_F210 · {days[0]}–{days[-1]}"  # what and when, readable in the panel
    nodes = groups[0].findLayers()
    assert [node.name() for node in nodes] == [f"P94_F210 (ascending, {len(days)} dates)", "Footprints, one per date", "Stack summary"]
    stack_layer = nodes[0].layer()
    assert stack_layer.subsetString() == "\"stack\" = 'P94_F210'"
    assert stack_layer.featureCount() == len(SLCS)
    assert stack_layer.labelsEnabled()
    texts, latest = stack_labels(stack_layer)
    assert texts == {latest: f"P94_F210 · {len(days)}"}  # labelled once, on the latest footprint
    assert isinstance(stack_layer.renderer(), QgsMergedFeatureRenderer)  # the stack's outline, drawn once
    assert stack_layer.renderer().embeddedRenderer().symbol().color().alpha() == 0
    assert nodes[0].isVisible() and not nodes[1].isVisible()

    # A second search: its own group on top; the first one hidden.
    again = processing.runAndLoadResults(
        "insarhub:searchscenes",
        {
            "AOI": QgsProcessingFeatureSourceDefinition(layer.id(), selectedFeaturesOnly=True),
            "OUTPUT": str(tmp_path / "again.gpkg"),
        },
    )
    assert again["COUNT"] == len(SLCS)
    groups = [g for g in QgsProject.instance().layerTreeRoot().findGroups() if g.customProperty(ROLE_PROPERTY) == SEARCH_ROLE]
    assert [g.name() for g in groups] == [f"P94_F210 · {days[0]}–{days[-1]} (2)", f"P94_F210 · {days[0]}–{days[-1]}"]
    assert groups[0].isVisible() and not groups[1].isVisible()


def test_a_search_that_finds_nothing_loads_nothing(cmr, provider, tmp_path):
    import processing

    project = QgsProject.instance()
    before = len(project.mapLayers())
    results = processing.runAndLoadResults(
        "insarhub:searchscenes",
        {"WKT": "POLYGON((0 0, 0.1 0, 0.1 0.1, 0 0.1, 0 0))", "OUTPUT": str(tmp_path / "none.gpkg"), "SUMMARY": str(tmp_path / "none_summary.gpkg")},
    )
    assert results["COUNT"] == 0
    assert len(project.mapLayers()) == before and not project.layerTreeRoot().findGroups()
    assert (tmp_path / "none.gpkg").exists()  # the (empty) file is still written, as asked


def test_empty_selection_is_refused_with_advice(cmr, provider, tmp_path):
    import processing

    layer = _aoi_layer()
    layer.removeSelection()
    with pytest.raises(QgsProcessingException, match="select at least one feature"):
        processing.run(
            "insarhub:searchscenes",
            {"AOI": QgsProcessingFeatureSourceDefinition(layer.id(), selectedFeaturesOnly=True), "OUTPUT": str(tmp_path / "x.gpkg")},
        )
    assert not (tmp_path / "x.gpkg").exists()


def test_all_features_used_when_none_selected_flag_off(cmr, provider, tmp_path):
    import processing

    layer = _aoi_layer()
    # Without a selection flag every feature counts: the Sitka polygon finds the bursts,
    # the Fairbanks polygon the SLCs.
    slc = processing.run("insarhub:searchscenes", {"AOI": layer, "OUTPUT": str(tmp_path / "slc.gpkg")})
    burst = processing.run("insarhub:searchscenes", {"AOI": layer, "PROCESSING_LEVEL": "BURST", "OUTPUT": str(tmp_path / "b.gpkg")})
    assert (slc["COUNT"], burst["COUNT"]) == (len(SLCS), len(BURSTS))


def test_a_project_saved_with_the_old_aggregate_label_is_relabelled_when_read(cmr, plugin, tmp_path):
    """Stack outlines of earlier versions were labelled with ``maximum("startTime", group_by:="stack")``,
    which the map's render threads evaluate against the layer and the project (a crash, rarely):
    reading such a project gives them the plain label, on the same footprint."""
    import processing

    project = QgsProject.instance()
    processing.runAndLoadResults("insarhub:searchscenes", {"AOI": _aoi_layer(), "OUTPUT": str(tmp_path / "f.gpkg")})
    stack_layer = next(x for x in project.mapLayers().values() if x.customProperty(ROLE_PROPERTY) == "stack")
    days = len({i["asf_properties"]["startTime"][:10] for i in SLCS})
    settings = stack_layer.labeling().settings()
    settings.fieldName = f"CASE WHEN \"startTime\" = maximum(\"startTime\", group_by:=\"stack\") THEN 'P94_F210 · {days}' END"
    stack_layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    assert project.write(str(tmp_path / "old.qgz"))
    project.clear()
    assert project.read(str(tmp_path / "old.qgz"))
    stack_layer = next(x for x in project.mapLayers().values() if x.customProperty(ROLE_PROPERTY) == "stack")
    assert "maximum(" not in stack_layer.labeling().settings().fieldName
    texts, latest = stack_labels(stack_layer)
    assert texts == {latest: f"P94_F210 · {days}"}
