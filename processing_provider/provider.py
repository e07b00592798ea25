"""The ``insarhub`` Processing provider."""

from __future__ import annotations

from qgis.core import QgsMessageLog, QgsProcessingModelAlgorithm, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..__about__ import PLUGIN_DIR, __icon_path__, __version__
from .algorithms import all_algorithms

# The toolbox groups are the dock's steps, numbered as its tabs are (algorithm name -> group id, group).
STEP_GROUPS = {
    "searchscenes": ("search", "1 Search"),
    "summarizestacks": ("stacks", "2 Stacks"),
    "filterscenes": ("stacks", "2 Stacks"),
    "downloadscenes": ("stacks", "2 Stacks"),
    "selectpairs": ("pairs", "3 Pairs"),
    "submitjobs": ("hyp3", "4 HyP3"),
    "watchjobs": ("hyp3", "4 HyP3"),
    "downloadproducts": ("hyp3", "4 HyP3"),
    "runtimeseries": ("timeseries", "5 Time series"),
    "decompose": ("decompose", "6 Decompose"),
}


class InsarhubProvider(QgsProcessingProvider):
    """Registers every InSARHub algorithm under the id ``insarhub``."""

    def id(self) -> str:  # noqa: A003 (QGIS' name)
        return "insarhub"

    def name(self) -> str:
        return "InSARHub"

    def longName(self) -> str:  # noqa: N802
        return f"InSARHub {__version__} (Sentinel-1 InSAR time series)"

    def icon(self) -> QIcon:
        return QIcon(str(__icon_path__))

    def versionInfo(self) -> str:  # noqa: N802
        return __version__

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm in all_algorithms():
            step = STEP_GROUPS.get(algorithm.name())
            if step is not None:  # each class's group follows the dock's step (its instances too)
                type(algorithm).GROUP_ID, type(algorithm).GROUP = step
            self.addAlgorithm(algorithm)
        # The graphical models shipped with the plugin (models/*.model3).
        for path in sorted((PLUGIN_DIR / "models").glob("*.model3")):
            model = QgsProcessingModelAlgorithm()
            if model.fromFile(str(path)):
                self.addAlgorithm(model)
            else:
                QgsMessageLog.logMessage(f"Could not load the model {path}", "InSARHub")
