"""The plugin object QGIS creates: registers the provider, adds and removes the GUI."""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication

from ..core import deps


class InsarhubPlugin:
    """Entry point: ``initProcessing`` (also headless, for qgis_process), ``initGui``, ``unload``."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS' name)
        """Register the ``insarhub`` provider (once), with or without a desktop GUI."""
        if self.provider is not None:
            return
        from ..processing_provider.provider import InsarhubProvider

        self.provider = InsarhubProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()
        self.notify_missing_dependencies()

    def notify_missing_dependencies(self) -> list[str]:
        """Say in the message bar which packages are missing and how to install them."""
        missing = deps.missing_packages()
        if missing and self.iface is not None:
            self.iface.messageBar().pushMessage(
                "InSARHub", deps.missing_message(missing), level=Qgis.Warning, duration=0
            )
        return missing

    def unload(self) -> None:
        """Remove everything this plugin added."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
