"""The small base class every InSARHub algorithm derives from.

It supplies ids, groups, icon and help from ``help/<name>.html`` plus each parameter's
own help, checks the Python dependencies before running, and turns the domain's typed
errors into ``QgsProcessingException`` with the same message.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeatureSource,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..__about__ import __icon_path__
from ..core import deps
from ..core.errors import CancelledError, InsarhubError
from ..core.oserrors import describe_os_error
from .inputs import OwnInputs

HELP_DIR = Path(__file__).resolve().parent / "help"


class InsarhubAlgorithm(QgsProcessingAlgorithm):
    """Base of the InSARHub algorithms; subclasses implement ``initAlgorithm`` and ``execute`` (not ``run``: QgsProcessingAlgorithm.run is the framework's own)."""

    NAME = ""
    DISPLAY_NAME = ""
    GROUP_ID = ""
    GROUP = ""
    # Import names of the Python packages ``execute`` needs (checked before it runs).
    REQUIRES: tuple[str, ...] = ()

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("InSARHub", text)

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:  # noqa: N802
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        return self.tr(self.GROUP)

    def groupId(self) -> str:  # noqa: N802
        return self.GROUP_ID

    def icon(self) -> QIcon:
        return QIcon(str(__icon_path__))

    def createInstance(self):  # noqa: N802
        return type(self)()

    def shortHelpString(self) -> str:  # noqa: N802
        """The help file's text, then every parameter with its own help."""
        path = HELP_DIR / f"{self.NAME}.html"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        rows = []
        for parameter in self.parameterDefinitions():
            helptext = parameter.help() if hasattr(parameter, "help") else ""
            if helptext:
                rows.append(
                    f"<li><b>{html.escape(parameter.description())}</b> (<code>{parameter.name()}</code>): "
                    f"{html.escape(helptext)}</li>"
                )
        if rows:
            text += "<h3>Parameters</h3><ul>" + "".join(rows) + "</ul>"
        return text

    def missing_dependencies(self) -> list[str]:
        """Pip names of the packages ``execute`` needs that this Python cannot import."""
        return deps.missing_packages(self.REQUIRES)

    def prepareAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> bool:
        """Main thread, before the task starts: resolve the inputs so the task never reads a map layer."""
        self._inputs = OwnInputs()
        self._inputs.prepare(self, parameters, context)
        return True

    def _own_inputs(self) -> OwnInputs:
        return getattr(self, "_inputs", None) or OwnInputs()

    def input_source(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> QgsFeatureSource | None:
        """The feature source of the vector input ``name``, the algorithm's own (None: not given or invalid)."""
        return self._own_inputs().source(self, parameters, name, context)

    def input_extent(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> tuple | None:
        """``(QgsRectangle, QgsCoordinateReferenceSystem)`` of the extent ``name``; None: not given or empty."""
        return self._own_inputs().value(self, parameters, name, context)

    def input_point(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> tuple | None:
        """``(QgsPointXY, QgsCoordinateReferenceSystem)`` of the point ``name``; None: not given."""
        return self._own_inputs().value(self, parameters, name, context)

    def input_crs(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> QgsCoordinateReferenceSystem:
        """The CRS parameter ``name`` (invalid when not given)."""
        return self._own_inputs().value(self, parameters, name, context)

    def input_layer_paths(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> list[str]:
        """The file paths of the layers in the layer list ``name``."""
        return self._own_inputs().value(self, parameters, name, context)

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        try:
            deps.require(self.REQUIRES)
            return self.execute(parameters, context, feedback)
        except CancelledError as exc:
            raise QgsProcessingException(str(exc) or "Cancelled.") from exc
        except InsarhubError as exc:
            raise QgsProcessingException(str(exc)) from exc
        except OSError as exc:
            # A full disk, a read-only or unwritable folder, an over-long name met anywhere: a
            # message that says which file and what to do, not a traceback.
            raise QgsProcessingException(describe_os_error(exc)) from exc

    def execute(
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        raise NotImplementedError


def with_help(parameter, helptext: str):
    """Attach ``helptext`` to a parameter definition and return it (for compact ``initAlgorithm``)."""
    parameter.setHelp(helptext)
    return parameter
