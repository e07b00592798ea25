"""QGIS Processing provider ``insarhub``: thin algorithms over :mod:`insarhub_qgis.core`."""
