"""InSARHub's SANDBOX: a local emulator of ASF's CMR and HyP3 for trying the plugin offline.

It serves real Sentinel-1 records (ASF's own test records) over HTTPS like CMR, and answers
like HyP3; for every submitted pair it makes an interferogram consistent with the two scenes
(dates, track, burst, footprint and its UTM zone, perpendicular baseline from the orbits)
that contains a known deformation signal, so the time series the plugin computes can be
checked against the truth. Nothing it serves is real InSAR data.

Run it with ``python -m sandbox`` (from the repository) and point QGIS at it with the
environment variables it prints, or use it in-process (:class:`Sandbox`), as ``make demo``
and the tests do.
"""

from .server import SANDBOX_TOKEN, Sandbox

__all__ = ["SANDBOX_TOKEN", "Sandbox"]
