"""InSARHub for QGIS.

Importing this package touches no iface, no network and no MintPy: QGIS calls
``classFactory`` to create the plugin, and everything else happens there.
"""


def classFactory(iface):  # noqa: N802 (QGIS' name)
    """Create the plugin instance QGIS asks for."""
    from .plugin.deps_installer import use_installed_packages

    use_installed_packages()  # packages installed into the QGIS profile, before anything imports them
    from .plugin.plugin import InsarhubPlugin

    return InsarhubPlugin(iface)
