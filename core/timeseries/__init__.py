"""MintPy small-baseline time series from HyP3 InSAR products.

The four stages, each usable on its own from plain Python (no ``qgis`` import):

* :mod:`.prepare` - find and check products, present them on one common pixel grid in the work folder
  as windows (VRTs, no copies), correct unwrapping errors from phase closure (:mod:`.closure`), and
  write MintPy's interferogram stack while reading them (:mod:`.prepared_stack`, :mod:`.stack_worker`);
* :mod:`.config` - write the MintPy configuration (offline defaults, reference pixel, dask cluster,
  the corrections :mod:`.science` decides from the stack, the user's own overrides);
* :mod:`.run` - run ``smallbaselineApp`` as a cancellable subprocess with per-step progress
  (:func:`.science.run_segments`: without its ``quick_overview`` diagnostic);
* :mod:`.export` - GeoTIFFs (velocity, its standard deviation, temporal coherence, displacement) and an
  InSAR Explorer point layer.
"""

from __future__ import annotations

from .config import CONFIG_NAME, choose_reference, reference_from_point, write_config
from .export import export_insar_explorer_points, export_results, final_timeseries_file
from .prepare import (
    Prepared,
    PreparedGrid,
    PreparedProduct,
    SkippedProduct,
    load_prepared,
    parse_product_name,
    prepare_products,
)
from .run import MINTPY_STEPS, MintpyRunError, RunResult, run_smallbaseline
from .science import Science, run_segments

__all__ = [
    "CONFIG_NAME",
    "MINTPY_STEPS",
    "MintpyRunError",
    "Prepared",
    "PreparedGrid",
    "PreparedProduct",
    "RunResult",
    "Science",
    "SkippedProduct",
    "choose_reference",
    "export_insar_explorer_points",
    "export_results",
    "final_timeseries_file",
    "load_prepared",
    "parse_product_name",
    "prepare_products",
    "reference_from_point",
    "run_segments",
    "run_smallbaseline",
    "write_config",
]
