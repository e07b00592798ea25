"""Write the demo's QGIS project (every layer grouped and styled, as the plugin styles them)
and render a PNG map of the velocity over the footprints.

Usage: .venv/bin/python scripts/demo_project.py DEMO_OUTPUT_FOLDER
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".venv" / "qgis-plugins"))

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsLayoutExporter,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutItemScaleBar,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsPrintLayout,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsUnitTypes,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor, QFont  # noqa: E402


def main(out: Path) -> None:
    app = QgsApplication([], False)
    app.initQgis()
    from insarhub_qgis.core.stacks import StackSummary
    from insarhub_qgis.processing_provider.decompose_styling import ORDER, DecompositionPostProcessor
    from insarhub_qgis.processing_provider.raster_styling import TimeSeriesPostProcessor, band_descriptions
    from insarhub_qgis.processing_provider.styling import SearchLayersPostProcessor, style_footprints

    project = QgsProject.instance()
    project.setTitle("InSARHub demo (SANDBOX data: synthetic interferograms over real Sentinel-1 footprints)")
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()

    with open(out / "stacks.csv") as handle:
        summaries = [
            StackSummary(
                stack=row["stack"], pathNumber=int(row["pathNumber"] or 0), frameNumber=None, burstId=row["burstId"],
                flightDirection=row["flightDirection"], count=int(row["count"]), firstDate=row["firstDate"],
                lastDate=row["lastDate"], aoiCoverage=float(row["aoiCoverage"] or 0),
            )
            for row in csv.DictReader(handle)
        ]
    search_group = "InSARHub search (sandbox)"
    footprints = QgsVectorLayer(str(out / "footprints.gpkg"), "All footprints", "ogr")
    project.addMapLayer(footprints)
    SearchLayersPostProcessor(search_group, summaries, "footprints").postProcessLayer(footprints, context, feedback)
    table = QgsVectorLayer(str(out / "stacks.csv"), "Stack summary", "ogr")
    project.addMapLayer(table)
    SearchLayersPostProcessor(search_group, summaries, "summary").postProcessLayer(table, context, feedback)

    pairs = QgsVectorLayer(str(out / "pairs.gpkg"), "Pairs (footprint intersections)", "ogr")
    style_footprints(pairs, QColor("#7570b3"))
    project.addMapLayer(pairs, False)
    project.layerTreeRoot().findGroup(search_group).addLayer(pairs).setItemVisibilityChecked(False)

    series_group = "InSARHub time series (sandbox)"
    dates = band_descriptions(str(out / "displacement.tif"))
    rasters = {}
    for role, name in (("TEMPORAL_COHERENCE", "temporal_coherence"), ("VELOCITY_STD", "velocity_std"),
                       ("DISPLACEMENT", "displacement"), ("VELOCITY", "velocity")):
        layer = QgsRasterLayer(str(out / f"{name}.tif"), name, "gdal")
        project.addMapLayer(layer)
        TimeSeriesPostProcessor(series_group, role, dates).postProcessLayer(layer, context, feedback)
        rasters[role] = layer
    # the decomposition of the two stacks, in its own group, styled as insarhub:decompose styles it
    decomposition = {role: str(out / f"{role.lower()}.tif") for role in ORDER if (out / f"{role.lower()}.tif").is_file()}
    for role, path in decomposition.items():
        layer = QgsRasterLayer(path, role.lower(), "gdal")
        project.addMapLayer(layer)
        DecompositionPostProcessor("InSARHub vertical and east (sandbox)", role, decomposition).postProcessLayer(layer, context, feedback)
    project.setCrs(rasters["VELOCITY"].crs())
    if not project.write(str(out / "insarhub_demo.qgz")):
        raise SystemExit(f"could not write {out / 'insarhub_demo.qgz'}")

    stack_layers = [node.layer() for node in project.layerTreeRoot().findGroup(search_group).findLayers()
                    if node.isVisible() and isinstance(node.layer(), QgsVectorLayer) and node.layer().isSpatial()]
    render_map(project, rasters["VELOCITY"], stack_layers, out / "velocity_map.png")
    app.exitQgis()


def outline_copy(layer: QgsVectorLayer) -> QgsVectorLayer:
    """The same features drawn as outlines only (a map-only copy, not added to the project's tree)."""
    from insarhub_qgis.processing_provider.styling import style_footprints

    copy = layer.clone()
    renderer = layer.renderer()
    renderer = renderer.embeddedRenderer() or renderer  # a stack's outline: a merged-feature renderer
    colour = renderer.symbol().symbolLayer(0).strokeColor()
    style_footprints(copy, colour, outline_only=True)
    copy.setLabelsEnabled(False)
    QgsProject.instance().addMapLayer(copy, False)
    return copy


def render_map(project: QgsProject, velocity: QgsRasterLayer, overlays: list, path: Path) -> None:
    """A PNG map: velocity with the footprints over it, a legend in mm/yr, a scale bar, a title."""
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    page = layout.pageCollection().page(0)
    page.setPageSize(QgsLayoutSize(297, 210, QgsUnitTypes.LayoutMillimeters))

    title = QgsLayoutItemLabel(layout)
    title.setText("Line-of-sight velocity (mm/yr, + towards the satellite) — InSARHub demo, SANDBOX data")
    title.setFont(QFont("Sans", 14))
    title.attemptMove(QgsLayoutPoint(8, 5, QgsUnitTypes.LayoutMillimeters))
    title.attemptResize(QgsLayoutSize(280, 10, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(title)

    item = QgsLayoutItemMap(layout)
    item.attemptMove(QgsLayoutPoint(8, 18, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(190, 185, QgsUnitTypes.LayoutMillimeters))
    item.setCrs(velocity.crs())
    # Footprints as outlines under the velocity, zoomed out enough to see the burst's edges.
    outlines = [outline_copy(layer) for layer in overlays]
    item.setLayers([velocity, *outlines])
    extent = velocity.extent()
    extent.scale(2.6)
    item.setExtent(extent)
    item.setBackgroundColor(QColor("#f0f0f0"))
    layout.addLayoutItem(item)

    legend = QgsLayoutItemLegend(layout)
    legend.setLinkedMap(item)
    legend.setTitle("")
    legend.setAutoUpdateModel(False)
    root = legend.model().rootGroup()
    root.removeAllChildren()
    for layer in (velocity, *outlines):
        root.addLayer(layer)
    legend.setWrapString(",")
    legend.attemptMove(QgsLayoutPoint(203, 18, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(legend)

    scale = QgsLayoutItemScaleBar(layout)
    scale.setLinkedMap(item)
    scale.setStyle("Single Box")
    scale.setUnits(QgsUnitTypes.DistanceMeters)
    scale.setUnitLabel("m")
    scale.setMapUnitsPerScaleBarUnit(1)
    scale.setUnitsPerSegment(2000)
    scale.setNumberOfSegments(2)
    scale.setNumberOfSegmentsLeft(0)
    scale.attemptMove(QgsLayoutPoint(12, 190, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(scale)

    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 110
    settings.exportMetadata = False
    result = QgsLayoutExporter(layout).exportToImage(str(path), settings)
    if result != QgsLayoutExporter.Success:
        raise SystemExit(f"rendering the map failed ({result})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
