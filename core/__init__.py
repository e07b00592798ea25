"""Qt-free domain logic of InSARHub: usable from plain Python, never imports ``qgis``."""
