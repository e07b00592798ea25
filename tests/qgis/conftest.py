"""Set-up shared by the QGIS tests (pytest-qgis, offscreen)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def real_layer_tree_view(qgis_iface):
    """Give pytest-qgis's stand-in ``iface`` a real layer tree view.

    pytest-qgis answers every interface method it does not implement with a MagicMock. From
    QGIS 3.44 on, Processing's post-processing (which the dock runs after each step, as the
    toolbox does) passes ``iface.layerTreeView()`` to the C++
    ``QgsProcessingGuiUtils.addResultLayers``, which refuses a MagicMock. A real
    ``QgsLayerTreeView`` over the project's layer tree is what QGIS itself passes.
    """
    from qgis.core import QgsLayerTreeModel, QgsProject
    from qgis.gui import QgsLayerTreeView

    view = QgsLayerTreeView()
    view.setModel(QgsLayerTreeModel(QgsProject.instance().layerTreeRoot(), view))
    qgis_iface.layerTreeView = lambda: view
    yield view


# The dock's fixtures (a plugin with its dock, a workspace root in the test's folder).
from dock_helpers import dock, plugin, workspace_root  # noqa: E402, F401
