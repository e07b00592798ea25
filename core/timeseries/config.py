"""The MintPy ``smallbaselineApp`` configuration for prepared HyP3 products.

Defaults work offline and in a plain environment: no weather-model download, no ramp removal, no plots,
no Google Earth / HDF-EOS5 export; unwrapping-error correction, the topographic residual (DEM error) and an
annual term as :mod:`.science` decides from the stack. The reference pixel is always pinned
(``mintpy.reference.yx``) because MintPy's automatic choice is a random coherent pixel: a user's point,
or else :func:`choose_reference`. A user's own ``.cfg`` overrides any key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Mapping, Sequence, Tuple

import numpy as np

from ..errors import ConfigurationError, InputError
from .prepare import Prepared, _gdal_errors, _srs, load_quality

#: File name of the configuration :func:`write_config` writes into the work folder. Not
#: ``smallbaselineApp.cfg``: MintPy keeps its own full template under that name there.
CONFIG_NAME = "insarhub.cfg"
COMPUTE_CLUSTERS = ("none", "local", "slurm", "pbs")

Log = Callable[[str], None]


def _noop(_: str) -> None:
    pass


# ------------------------------------------------------------------------------------ reference
def _read_band(path: Path) -> np.ndarray:
    from osgeo import gdal

    with _gdal_errors():
        ds = gdal.Open(str(path))
        data = ds.GetRasterBand(1).ReadAsArray().astype(np.float32)
        ds = None
    return data


def _read_pixel(path: Path, row: int, col: int) -> float:
    from osgeo import gdal

    with _gdal_errors():
        ds = gdal.Open(str(path))
        value = float(ds.GetRasterBand(1).ReadAsArray(col, row, 1, 1)[0, 0])
        ds = None
    return value


def _box_mean(values: np.ndarray, half: int) -> np.ndarray:
    """Mean over a ``(2 half + 1)``-pixel square window (edges: over the part inside the array)."""
    if half <= 0:
        return values.astype(np.float64)
    k = 2 * half + 1
    c = np.zeros((values.shape[0] + 2 * half + 1, values.shape[1] + 2 * half + 1))
    np.cumsum(values, axis=0, dtype=np.float64, out=c[half + 1 : half + 1 + values.shape[0], half + 1 : -half])
    c[half + 1 + values.shape[0] :, half + 1 : -half] = c[half + values.shape[0], half + 1 : -half]
    np.cumsum(c, axis=1, out=c)
    sums = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]

    def inside(n: int) -> np.ndarray:  # pixels of the window within the array, along one axis
        i = np.arange(n)
        return (np.minimum(i + half, n - 1) - np.maximum(i - half, 0) + 1).astype(np.float64)

    return sums / np.outer(inside(values.shape[0]), inside(values.shape[1]))


def stack_quality(prepared: Prepared, in_conncomp: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(average coherence, valid in every interferogram, stacked phase rate in rad/year)`` on the grid.

    The rate is a quick stack (sum of phases over sum of time spans) of the interferograms, each first
    shifted by its own median (unwrapped phase has an arbitrary constant): a rough deformation-rate map
    relative to the scene's typical pixel, good enough to tell stable ground from moving ground.
    :func:`~.prepare.prepare_products` gathers these while it reads every window once; they are only
    computed here (reading every window again) when its saved statistics are missing. ``in_conncomp``:
    "valid" also requires a non-zero connected component in every interferogram (where MintPy's
    unwrapping-error bridging needs its reference point).
    """
    saved = load_quality(prepared, in_conncomp)
    if saved is not None:
        return saved
    shape = prepared.grid.shape
    coh_sum = np.zeros(shape, dtype=np.float64)
    phase_sum = np.zeros(shape, dtype=np.float64)
    years_sum = np.zeros(shape, dtype=np.float64)
    valid = np.ones(shape, dtype=bool)
    for product in prepared.products:
        phase = _read_band(product.raster("unw_phase"))
        coh = _read_band(product.raster("corr"))
        ok = np.isfinite(phase) & (phase != 0.0) & np.isfinite(coh) & (coh > 0.0)
        if in_conncomp and "conncomp" in product.suffixes:
            ok &= _read_band(product.raster("conncomp")) > 0
        valid &= ok
        coh_sum += np.where(ok, coh, 0.0)
        if ok.any():
            years = (product.secondary_date - product.reference_date).days / 365.25
            phase_sum += np.where(ok, phase - np.median(phase[ok]), 0.0)
            years_sum += np.where(ok, years, 0.0)
    rate = np.where(years_sum > 0, phase_sum / np.maximum(years_sum, 1e-9), np.nan)
    return coh_sum / max(len(prepared.products), 1), valid, rate


def _background(values: np.ndarray) -> float:
    """The most common value (histogram mode) of ``values``: the rate of the scene's stable ground, which
    the median misses when a deformation zone covers much of the scene."""
    lo, hi = np.percentile(values, [1, 99])
    if not hi > lo:
        return float(np.median(values))
    counts, edges = np.histogram(values, bins=int(np.clip(values.size // 50, 10, 50)), range=(lo, hi))
    k = int(np.argmax(counts))
    return float(0.5 * (edges[k] + edges[k + 1]))


def choose_reference(
    prepared: Prepared,
    *,
    window_px: int = 5,
    stable_percent: float = 10.0,
    log: Log = _noop,
    in_conncomp: bool = False,
) -> Tuple[int, int]:
    """A deterministic reference pixel ``(row, column)`` for MintPy.

    MintPy subtracts the reference pixel's phase from every interferogram, so its noise and motion end up in
    every velocity. The choice, from a quick stack of the interferograms (:func:`stack_quality`):

    1. candidates: valid (non-zero phase) in every interferogram together with their whole ``window_px``
       square, at least 5 % of the grid size (2 pixels minimum) from the edges;
    2. stable ground: the ``stable_percent`` of them whose window-averaged stacked rate is closest to the
       scene's most common rate;
    3. coherent: of those, the half with the highest window-averaged coherence;
    4. quiet: of those, the pixel whose stacked rate differs least from its 8 neighbours' mean (its own
       noise; unwrapping errors and noisy pixels stand out there). Ties go to the first in row-major order.

    Margin and window are relaxed on tiny grids; :class:`InputError` when no pixel is valid in every
    interferogram. ``in_conncomp``: "valid" also requires a connected component (non-zero) in every
    interferogram, where MintPy's bridging needs its reference.
    """
    avg_coh, valid, rate = stack_quality(prepared, in_conncomp)
    rows, cols = prepared.grid.shape
    half = max(0, min(window_px // 2, (min(rows, cols) - 1) // 4))
    smooth = _box_mean(avg_coh, half)
    window_valid = _box_mean(valid.astype(np.float64), half) > 1.0 - 1e-9
    deviation = np.full(rate.shape, np.inf)
    roughness = np.full(rate.shape, np.inf)
    if valid.any():
        filled = np.where(valid, rate, 0.0)
        weight = np.maximum(_box_mean(valid * 1.0, half), 1e-9)
        smooth_rate = _box_mean(filled, half) / weight
        deviation = np.where(valid, np.abs(smooth_rate - _background(smooth_rate[valid])), np.inf)
        n_valid = _box_mean(valid * 1.0, 1) * 9.0 - valid  # valid neighbours in the 3x3 square
        neighbours = (_box_mean(filled, 1) * 9.0 - filled) / np.maximum(n_valid, 1.0)
        roughness = np.where(valid & (n_valid > 0), np.abs(rate - neighbours), np.inf)
    for margin in (max(2, int(0.05 * min(rows, cols))), 1, 0):
        inner = np.zeros_like(valid)
        if rows > 2 * margin and cols > 2 * margin:
            inner[margin : rows - margin, margin : cols - margin] = True
        for candidates in (inner & window_valid, inner & valid):
            if not candidates.any():
                continue
            for narrowed in (
                deviation <= np.percentile(deviation[candidates], stable_percent),
                smooth >= np.percentile(smooth[candidates], 50),
            ):
                if (candidates & narrowed).any():
                    candidates = candidates & narrowed
            score = np.where(candidates, roughness, np.inf)
            if not np.isfinite(score).any():
                score = np.where(candidates, -smooth, np.inf)
            row, col = np.unravel_index(int(np.argmin(score)), score.shape)
            x, y = prepared.grid.xy_of(int(row), int(col))
            log(
                f"Reference pixel: row {row}, column {col} (x {x:.0f}, y {y:.0f}, EPSG:{prepared.grid.epsg}), "
                f"average coherence {avg_coh[row, col]:.2f}, on stable ground."
            )
            return (int(row), int(col))
    raise InputError(
        "No pixel has valid data in every interferogram, so MintPy has no reference point. "
        "Remove the products with little coverage or choose a smaller AOI."
    )


def reference_from_point(
    prepared: Prepared, x: float, y: float, crs: str = "EPSG:4326", *, min_valid_fraction: float = 1.0
) -> Tuple[int, int]:
    """``(row, column)`` of the prepared grid pixel under the point ``(x, y)`` given in ``crs``.

    ``crs`` is anything OSR understands (``EPSG:4326`` = longitude, latitude). Raises :class:`InputError`
    when the point is outside the grid or has no data in some interferogram (MintPy needs the reference
    pixel valid everywhere).
    """
    from osgeo import osr

    source = _srs(crs)
    target = _srs(prepared.grid.crs_wkt)
    px, py = x, y
    if not source.IsSame(target):
        px, py = osr.CoordinateTransformation(source, target).TransformPoint(x, y)[:2]
    row, col = prepared.grid.rowcol_of(px, py)
    rows, cols = prepared.grid.shape
    if not (0 <= row < rows and 0 <= col < cols):
        xmin, ymin, xmax, ymax = prepared.grid.bounds
        raise InputError(
            f"The reference point ({x}, {y}) in {crs} lies outside the processed area "
            f"(x {xmin:.0f} to {xmax:.0f}, y {ymin:.0f} to {ymax:.0f} in EPSG:{prepared.grid.epsg}); "
            "pick a point inside it or leave it empty for an automatic one."
        )
    bad = []
    for product in prepared.products:
        value = _read_pixel(product.raster("unw_phase"), row, col)
        if not (np.isfinite(value) and value != 0.0):
            bad.append(product.name)
    if len(bad) > (1.0 - min_valid_fraction) * len(prepared.products):
        raise InputError(
            f"The reference point ({x}, {y}) has no data in {len(bad)} of {len(prepared.products)} "
            f"interferograms (e.g. {bad[0]}); pick a point on coherent ground inside every product."
        )
    return (row, col)


# --------------------------------------------------------------------------------------- config
def read_cfg(path: os.PathLike | str) -> Dict[str, str]:
    """``key = value`` pairs of a MintPy template, read the way MintPy reads them (comments dropped)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    out: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("%", "#", "!")) or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        value = value.split("#", 1)[0].strip()
        if key and value:
            out[key] = value
    return out


def _cds_credentials(environ: Mapping[str, str]) -> Path | None:
    """The CDS API key file pyaps3 reads for ERA5, or None."""
    if environ.get("CDSAPI_URL") and environ.get("CDSAPI_KEY"):
        return Path("(environment CDSAPI_URL/CDSAPI_KEY)")
    rc = Path(environ.get("CDSAPI_RC") or Path(environ.get("HOME") or Path.home()) / ".cdsapirc")
    return rc if rc.is_file() else None


def default_config(prepared: Prepared) -> Dict[str, str]:
    """The offline defaults and load globs for ``prepared`` (before reference, cluster and user keys)."""
    cfg: Dict[str, str] = {
        "mintpy.compute.cluster": "none",
        "mintpy.load.processor": "hyp3",
        # stale loaded stacks are removed by prepare_products when the products change, so MintPy's
        # update mode can skip re-loading identical inputs
        "mintpy.load.updateMode": "auto",
        "mintpy.load.compression": "auto",
    }
    cfg.update(prepared.load_globs())
    cfg.update(
        {
            "mintpy.troposphericDelay.method": "no",
            "mintpy.deramp": "no",
            "mintpy.topographicResidual": "no",
            "mintpy.geocode": "no",  # HyP3 products are already geocoded
            "mintpy.save.kmz": "no",
            "mintpy.save.hdfEos5": "no",
            "mintpy.plot": "no",
        }
    )
    return cfg


def _in_conncomp(prepared: Prepared, row: int, col: int) -> bool:
    """True when pixel ``(row, col)`` is in a non-zero connected component of every interferogram."""
    saved = load_quality(prepared, in_conncomp=True)
    if saved is not None:
        return bool(saved[1][row, col])
    return all(
        _read_pixel(p.raster("conncomp"), row, col) > 0 for p in prepared.products if "conncomp" in p.suffixes
    )


def _reconcile(science, cfg: Mapping[str, str], user: Mapping[str, str]) -> None:
    """Make ``science`` say what ``cfg`` does after the user's own keys."""
    method = cfg.get("mintpy.unwrapError.method", "no").lower()
    if "mintpy.unwrapError.method" in user:
        science.bridging = "bridging" in method
        science.notes["bridging"] = f"Unwrapping-error correction in MintPy: {method} (your configuration)."
    if "mintpy.topographicResidual" in user:
        science.dem_error = cfg["mintpy.topographicResidual"].lower() in ("yes", "true", "auto")
        science.notes["dem_error"] = (
            f"Topographic residual (DEM error) correction: {cfg['mintpy.topographicResidual']} (your configuration)."
        )
    if "mintpy.timeFunc.periodic" in user:
        periods = cfg["mintpy.timeFunc.periodic"].lower()
        science.annual = periods not in ("no", "none", "auto", "")
        science.notes["annual"] = f"Periodic terms fitted with the velocity: {periods} (your configuration)."


def write_config(
    prepared: Prepared,
    workdir: os.PathLike | str,
    *,
    reference_yx: Sequence[int] | None = None,
    reference_point: Tuple[float, float, str] | None = None,
    compute_cluster: str = "none",
    workers: int | None = None,
    compute_config: str | None = None,
    tropospheric_correction: bool = False,
    user_cfg_path: os.PathLike | str | None = None,
    environ: Mapping[str, str] | None = None,
    log: Log = _noop,
    unwrap_error_correction: str = "auto",
    dem_error_correction: str = "auto",
    annual_term: str = "auto",
    max_memory_gb: float | None = None,
) -> Path:
    """Write ``workdir/insarhub.cfg`` for ``smallbaselineApp`` and return its path.

    Parameters
    ----------
    prepared: the result of :func:`~.prepare.prepare_products` (the load globs are relative to ``workdir``).
    reference_yx: a reference pixel ``(row, column)`` on the prepared grid; ``reference_point`` instead:
        ``(x, y, crs)`` of a point (converted with :func:`reference_from_point`); neither: the pixel
        :func:`choose_reference` picks. A ``mintpy.reference.yx``/``lalo`` in the user's cfg wins.
    compute_cluster: ``none`` (one process), ``local`` (a dask cluster of ``workers`` processes on this
        machine), ``slurm`` or ``pbs`` (dask-jobqueue with ``workers`` jobs, settings from the
        ``compute_config`` section of the dask configuration, by default the section named like the
        cluster, e.g. ``~/.config/dask/mintpy.yaml``).
    workers: number of dask workers (default: MintPy's, 4 local / 40 jobqueue, capped to the CPUs locally).
    tropospheric_correction: correct the troposphere with ERA5 through pyaps3 - needs internet access,
        pyaps3 in MintPy's Python and a Copernicus CDS key (``~/.cdsapirc``); :class:`ConfigurationError`
        when no key is found.
    user_cfg_path: a MintPy template whose keys override everything above.
    environ: environment to look for CDS credentials in (default ``os.environ``).
    unwrap_error_correction, dem_error_correction, annual_term, max_memory_gb: see
        :func:`~.science.decide` (``auto``: decided from the stack; the decisions and their reasons are
        logged and saved to ``workdir/insarhub_science.json`` for the GeoTIFF metadata).
    """
    from .science import decide, science_config

    environ = os.environ if environ is None else environ
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = (compute_cluster or "none").strip().lower()
    if cluster not in COMPUTE_CLUSTERS:
        raise InputError(
            f"COMPUTE_CLUSTER must be one of {', '.join(COMPUTE_CLUSTERS)}, not '{compute_cluster}'."
        )
    if workers is not None and int(workers) < 1:
        raise InputError(f"WORKERS must be a positive number, not {workers}.")

    user: Dict[str, str] = {}
    if user_cfg_path:
        path = Path(user_cfg_path)
        if not path.is_file():
            raise InputError(f"The MintPy configuration file '{path}' does not exist.")
        user = read_cfg(path)

    science = decide(
        prepared,
        unwrap_error_correction=unwrap_error_correction,
        dem_error_correction=dem_error_correction,
        annual_term=annual_term,
        max_memory_gb=max_memory_gb,
    )
    cfg = default_config(prepared)
    cfg.update(science_config(science))
    cfg["mintpy.compute.cluster"] = cluster
    if cluster != "none":
        if workers is not None:
            n = int(workers)
            if cluster == "local":
                n = min(n, science.cores)
            cfg["mintpy.compute.numWorker"] = str(n)
        else:
            cfg["mintpy.compute.numWorker"] = "auto" if cluster != "local" else str(science.cores)
        if cluster in ("slurm", "pbs"):
            cfg["mintpy.compute.config"] = compute_config or "auto"
            log(
                f"MintPy submits {cfg['mintpy.compute.numWorker']} {cluster} jobs through dask-jobqueue "
                f"(installed in MintPy's Python); queue, cores, memory and walltime come from the "
                f"'{compute_config or cluster}' section of your dask configuration (~/.config/dask/)."
            )

    if tropospheric_correction:
        credentials = _cds_credentials(environ)
        if credentials is None:
            raise ConfigurationError(
                "Tropospheric correction downloads ERA5 weather data from the Copernicus Climate Data Store: "
                "it needs internet access, pyaps3 in MintPy's Python and a CDS API key in ~/.cdsapirc "
                "(see https://cds.climate.copernicus.eu/how-to-api). No ~/.cdsapirc was found: create it, "
                "or run without TROPOSPHERIC_CORRECTION."
            )
        cfg["mintpy.troposphericDelay.method"] = "pyaps"
        cfg["mintpy.troposphericDelay.weatherModel"] = "ERA5"
        log(
            f"Tropospheric correction: ERA5 through pyaps3 (CDS key {credentials}); MintPy downloads the "
            "weather data for every date, which needs internet access and can take a long time."
        )

    user_reference = any(
        user.get(k, "auto").lower() not in ("auto", "no", "none")
        for k in ("mintpy.reference.yx", "mintpy.reference.lalo")
    )
    if not user_reference:
        if reference_point is not None:
            x, y, crs = reference_point
            row, col = reference_from_point(prepared, float(x), float(y), crs or "EPSG:4326")
            log(f"Reference pixel from the reference point: row {row}, column {col}.")
        elif reference_yx is not None:
            row, col = (int(v) for v in reference_yx)
            rows, cols = prepared.grid.shape
            if not (0 <= row < rows and 0 <= col < cols):
                raise InputError(f"The reference pixel ({row}, {col}) is outside the {rows} x {cols} grid.")
        else:
            try:  # MintPy's bridging needs the reference inside a connected component of every interferogram
                row, col = choose_reference(prepared, log=log, in_conncomp=science.bridging)
            except InputError:
                if not science.bridging:
                    raise
                row, col = choose_reference(prepared, log=log)
        if science.bridging and not _in_conncomp(prepared, row, col):
            science.bridging = False
            cfg["mintpy.unwrapError.method"] = "no"
            science.notes["bridging"] = (
                "Unwrapping errors between connected components (MintPy's bridging): off, as the reference "
                f"pixel (row {row}, column {col}) is outside a connected component in some interferogram; pick "
                "a reference point on coherent ground valid in every interferogram to have it run."
            )
        cfg["mintpy.reference.yx"] = f"{row},{col}"

    overridden = []
    for key, value in user.items():
        if key in cfg and cfg[key] != value:
            overridden.append(f"{key} = {value} (instead of {cfg[key]})")
        cfg[key] = value
    if overridden:
        log("Your MintPy configuration overrides: " + "; ".join(overridden))
    method = cfg.get("mintpy.unwrapError.method", "no").strip().lower()
    if method in ("no", "none", "false", "") and "mintpy.load.connCompFile" not in user:
        # nothing in MintPy reads the connected components then: not loading them spares a dataset
        cfg["mintpy.load.connCompFile"] = "no"
    if (
        method not in ("no", "none", "auto", "false", "")
        and cfg.get("mintpy.load.connCompFile", "no") == "no"
    ):
        raise InputError(
            f"mintpy.unwrapError.method = {method} needs MintPy's connectComponent dataset, but no connected "
            "components are loaded (mintpy.load.connCompFile = no in your configuration). Remove that key "
            "(InSARHub loads the products' _conncomp.tif, or derives one), or set mintpy.unwrapError.method = no."
        )
    _reconcile(science, cfg, user)
    for key in ("bridging", "dem_error", "annual", "machine"):  # the preparation logged the phase closure
        if science.notes.get(key):
            log(science.notes[key])
    science.save(workdir)

    lines = [
        "## MintPy smallbaselineApp configuration written by InSARHub for QGIS.",
        f"## {len(prepared.products)} interferograms, {len(prepared.dates)} dates, grid "
        f"{prepared.grid.width} x {prepared.grid.height}, EPSG:{prepared.grid.epsg}.",
    ]
    if user_cfg_path:
        lines.append(f"## Keys from {user_cfg_path} override the defaults.")
    width = max(len(k) for k in cfg)
    lines += [f"{key:<{width}} = {value}" for key, value in cfg.items()]
    path = workdir / CONFIG_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path
