"""A decomposition on the map: its own group, vertical first, one diverging ramp symmetric about zero for
vertical and east with a legend in mm/yr, the mask's classes, the displacement stepping through the common dates with the Temporal Controller.
The outputs are a real decomposition (MintPy in its own interpreter) of synthetic asc/desc velocities."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from fakes.los import enu_to_los, motion_for_box, s1_geometry, utm_grid, write_los_result
from insarhub_qgis.core.decompose import decompose
from insarhub_qgis.core.mintpy_env import find_mintpy_python
from insarhub_qgis.processing_provider.decompose_styling import NAMES, style_decomposition_outputs
from insarhub_qgis.processing_provider.raster_styling import PER_BAND_TIME_RANGES
from qgis.core import (
    Qgis,
    QgsLayerTreeLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def decomposition(tmp_path_factory):
    root = tmp_path_factory.mktemp("decomposition")
    grid, x, y = utm_grid(32611, 400_000.0, 3_900_000.0, 400.0, 60, 50)
    motion = motion_for_box(400_000.0, 3_880_000.0, 424_000.0, 3_900_000.0)
    dates = [dt.date(2021, 1, 1) + dt.timedelta(days=12 * k) for k in range(4)]
    velocities = []
    for direction, swath in (("ASCENDING", (300_000.0, 550_000.0)), ("DESCENDING", (330_000.0, 580_000.0))):
        incidence, azimuth = s1_geometry(direction, x, y, swath)
        los = enu_to_los(*motion.enu(x, y), incidence, azimuth)
        years = np.array([(d - dates[0]).days / 365.25 for d in dates])
        files = write_los_result(root / direction.lower(), grid, los, incidence, azimuth, direction,
                                 std_mm_yr=np.ones(los.shape), dates=dates, displacement_mm=los[None] * years[:, None, None])
        velocities.append(files["VELOCITY"])
    out = {role: root / f"{role.lower()}.tif" for role in NAMES}
    result = decompose(velocities, out, find_mintpy_python().python, displacement=True)
    return result.written


def test_outputs_grouped_and_styled(qgis_new_project, decomposition):
    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    feedback = QgsProcessingFeedback()
    for path in decomposition.values():
        context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails("", project))
    group_name = style_decomposition_outputs(context, decomposition)
    # load in an order unlike the outputs' own, as Processing may
    layers = {}
    for role in sorted(decomposition, reverse=True):
        path = decomposition[role]
        layer = QgsRasterLayer(path, role, "gdal")
        project.addMapLayer(layer)
        context.layerToLoadOnCompletionDetails(path).postProcessor().postProcessLayer(layer, context, feedback)
        layers[role] = layer
    group = project.layerTreeRoot().findGroup(group_name)
    assert group is not None and group_name.startswith("InSARHub vertical and east")
    names = [child.name() for child in group.children() if isinstance(child, QgsLayerTreeLayer)]
    assert names == [NAMES[role] for role in NAMES]  # vertical first, in the outputs' order
    assert group.findLayer(layers["VERTICAL"].id()).isVisible()
    vertical, east = layers["VERTICAL"].renderer(), layers["EAST"].renderer()
    # one symmetric ramp for both: equal colours mean equal speeds
    assert vertical.classificationMin() == -vertical.classificationMax() == east.classificationMin()
    assert vertical.classificationMax() >= 20  # the bowl reaches -30 mm/yr
    labels = [item.label for item in vertical.shader().rasterShaderFunction().colorRampItemList()]
    assert labels[0].endswith("mm/yr") and "0 mm/yr" in labels
    mask = layers["MASK"].renderer()
    assert isinstance(mask, QgsPalettedRasterRenderer)
    assert [c.value for c in mask.classes()] == [0, 1, 2]
    subgroups = [child.name() for child in group.children() if not isinstance(child, QgsLayerTreeLayer)]
    if PER_BAND_TIME_RANGES:  # QGIS 3.38+
        assert subgroups == []  # the displacement layers step through their bands themselves
        vertical_displacement = layers["VERTICAL_DISPLACEMENT"]
        assert vertical_displacement.temporalProperties().mode() == Qgis.RasterTemporalMode.FixedRangePerBand
        assert len(vertical_displacement.temporalProperties().fixedRangePerBand()) == 4
    else:
        assert "Vertical displacement by date (Temporal Controller)" in subgroups
        by_date = group.findGroup("Vertical displacement by date (Temporal Controller)").findLayers()
        assert len(by_date) == 4 and by_date[0].layer().temporalProperties().isActive()
