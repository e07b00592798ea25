""""Edit model…" in the Processing toolbox for the graphical models InSARHub ships.

QGIS offers "Edit Model…" only for models of the Models provider; a plugin's model is otherwise
run-only. This registers the same kind of toolbox context action for the ``insarhub`` provider's
models: it opens a copy of the model in the Model Designer, with no file behind it, so saving
asks where (the user's models folder, where it then appears under Models) and the shipped model
stays as it is.
"""

from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingModelAlgorithm
from qgis.PyQt.QtCore import QCoreApplication


def tr(text: str) -> str:
    return QCoreApplication.translate("InSARHub", text)


def editable_copy(model: QgsProcessingModelAlgorithm) -> QgsProcessingModelAlgorithm:
    """A copy of ``model`` that saving writes elsewhere (never over the plugin's own file)."""
    copy = QgsProcessingModelAlgorithm()
    copy.loadVariant(model.toVariant())
    copy.setSourceFilePath("")
    return copy


def _action_class() -> Any:
    from processing.gui.ContextAction import ContextAction

    class EditInsarhubModelAction(ContextAction):
        """The toolbox's right-click action on an InSARHub model."""

        def __init__(self) -> None:
            super().__init__()
            self.name = tr("Edit model…")
            self.dialog = None

        def isEnabled(self) -> bool:  # noqa: N802 (Processing's name)
            model = getattr(self, "itemData", None)
            provider = model.provider() if isinstance(model, QgsProcessingModelAlgorithm) else None
            return provider is not None and provider.id() == "insarhub"

        def execute(self) -> Any:
            from processing.modeler.ModelerDialog import ModelerDialog

            self.dialog = ModelerDialog.create(editable_copy(self.itemData))
            self.dialog.update_model.connect(_refresh_models)
            self.dialog.show()
            self.dialog.activate()
            return self.dialog

    return EditInsarhubModelAction


def _refresh_models() -> None:
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("model")
    if provider is not None:
        provider.refreshAlgorithms()


def register_model_actions() -> list[Any]:
    """Add the action to the toolbox's context menu (nothing when the Processing plugin is absent)."""
    try:
        from processing.gui.ProviderActions import ProviderContextMenuActions
    except ImportError:
        return []
    actions = [_action_class()()]
    ProviderContextMenuActions.registerProviderContextMenuActions(actions)
    return actions


def unregister_model_actions(actions: list[Any]) -> None:
    try:
        from processing.gui.ProviderActions import ProviderContextMenuActions
    except ImportError:
        return
    ProviderContextMenuActions.deregisterProviderContextMenuActions(actions)
