"""InSARHub for QGIS.

Importing this package touches no iface, no network and no MintPy: QGIS calls
``classFactory`` to create the plugin, and everything else happens there.
"""


def classFactory(iface):  # noqa: N802 (QGIS' name)
    """Create the plugin instance QGIS asks for."""
    from .plugin.plugin import InsarhubPlugin

    return InsarhubPlugin(iface)
