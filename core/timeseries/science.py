"""What the time series does beyond MintPy's defaults, decided from the stack itself, and the run in segments.

Decisions (each with the sentence that explains it, for the log and the GeoTIFF metadata):

* **Unwrapping errors.** Pixel by pixel from the phase closure of the network's triangles, done while the
  products are prepared (:mod:`.closure`, :func:`~.prepare.prepare_products`); then MintPy's *bridging*
  between connected components (``mintpy.unwrapError.method = bridging``) where the components can hold
  an offset: an unwrapper's ``_conncomp.tif`` with more than one component, or (products without one) a
  valid area cut into several parts by nodata or masked water. MintPy's own ``phase_closure`` is not used:
  it corrects whole connected components only, never a patch the unwrapper did not separate.
* **Topographic residual (DEM error)** (``mintpy.topographicResidual``), on when the stack can tell a DEM
  error from motion: at least 10 dates, perpendicular baselines spread by at least 5 m (standard
  deviation over the dates), and baselines not tied to time (``|r| <= 0.8``; else DEM error and velocity
  trade off).
* **Annual term** (``mintpy.timeFunc.periodic = 1.0``) fitted with the velocity when the stack spans at
  least two years (shorter stacks cannot tell a season from a trend); the velocity is the linear term, the
  seasonal motion is not in it.
* **Reference date**: the first date (``mintpy.reference.date = no``), so the displacement GeoTIFF starts
  at 0 on its first band.
* **Machine**: ``mintpy.compute.maxMemory`` from the memory available (the power of two, 1-32 GB, below
  40 % of it: stable from run to run), reported with the cores; a local dask cluster gets a worker per
  core.

MintPy's ``quick_overview`` step is skipped (it is only a diagnostic, reads the whole stack twice and fails
on stacks whose triangles all close): smallbaselineApp runs as two segments, ``load_data`` to
``reference_point`` and ``correct_unwrap_error`` to the end, into one ``mintpy.log``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from ..errors import InputError
from .prepare import Prepared, load_quality

SCIENCE_NAME = "insarhub_science.json"
#: smallbaselineApp's segments: the steps before and after the skipped ``quick_overview``.
SEGMENTS: Tuple[Tuple[str, ...], ...] = (("--end", "reference_point"), ("--start", "correct_unwrap_error"))
CHOICES = ("auto", "yes", "no")
UNWRAP_CHOICES = ("auto", "closure", "bridging", "no")
MIN_DATES_DEM_ERROR = 10
MIN_BPERP_STD_M = 5.0
MAX_BPERP_TIME_CORRELATION = 0.8
MIN_YEARS_ANNUAL = 2.0

Log = Callable[[str], None]


def _noop(*_: object) -> None:
    pass


def _never() -> bool:
    return False


@dataclass
class Science:
    """The corrections and time function of one run, and why (``notes``: key -> sentence)."""

    n_dates: int
    span_years: float
    closure: bool  # the preparation corrected unwrapping errors from phase closure
    closure_corrected: int  # interferograms it changed
    bridging: bool
    dem_error: bool
    annual: bool
    perp_baseline_std_m: float
    max_memory_gb: float
    cores: int
    notes: Dict[str, str] = field(default_factory=dict)

    def lines(self) -> List[str]:
        """The notes in a fixed order, for the log."""
        order = ("unwrap_closure", "bridging", "dem_error", "annual", "machine")
        return [self.notes[k] for k in order if self.notes.get(k)]

    def metadata(self) -> Dict[str, str]:
        """GeoTIFF metadata items describing what was done."""
        methods = [
            m for m, on in (("phase closure (pixel-wise)", self.closure), ("bridging", self.bridging)) if on
        ]
        return {
            "UNWRAP_ERROR_CORRECTION": " + ".join(methods) or "none",
            "UNWRAP_ERROR_CORRECTED_INTERFEROGRAMS": str(self.closure_corrected),
            "DEM_ERROR_CORRECTION": "yes" if self.dem_error else "no",
            "ANNUAL_TERM": (
                "fitted with the velocity; the velocity is the linear term, without the seasonal motion"
                if self.annual
                else "not fitted"
            ),
            "TIME_SPAN_YEARS": f"{self.span_years:.2f}",
            "CORRECTIONS": " ".join(self.lines()[:4]),
        }

    def save(self, workdir: os.PathLike | str) -> Path:
        """Write ``workdir/insarhub_science.json``."""
        path = Path(workdir) / SCIENCE_NAME
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, workdir: os.PathLike | str) -> Science | None:
        """What :meth:`save` wrote into ``workdir``, or None."""
        try:
            return cls(**json.loads((Path(workdir) / SCIENCE_NAME).read_text()))
        except (OSError, ValueError, TypeError):
            return None


# ---------------------------------------------------------------------------------------------- stack
def date_baselines(prepared: Prepared) -> Dict[dt.date, float]:
    """Perpendicular baseline of every date (m, relative to the first), least squares over the products'
    pair baselines (each product's ``Baseline``)."""
    dates = prepared.dates
    index = {d: k for k, d in enumerate(dates)}
    if len(dates) < 2:
        return {d: 0.0 for d in dates}
    a = np.zeros((len(prepared.products), len(dates) - 1))
    b = np.zeros(len(prepared.products))
    for row, product in enumerate(prepared.products):
        i, j = index[product.reference_date], index[product.secondary_date]
        if j:
            a[row, j - 1] += 1.0
        if i:
            a[row, i - 1] -= 1.0
        b[row] = product.perp_baseline_m
    solution = np.linalg.lstsq(a, b, rcond=None)[0]
    return {d: (0.0 if k == 0 else float(solution[k - 1])) for k, d in enumerate(dates)}


def _span_years(dates: Sequence[dt.date]) -> float:
    return (dates[-1] - dates[0]).days / 365.25 if len(dates) > 1 else 0.0


def machine_resources(environ: Dict[str, str] | None = None) -> Tuple[int, float, float]:
    """``(cores, total memory GB, available memory GB)`` of this machine (psutil, /proc/meminfo or sysconf)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    total = available = 0.0
    try:
        import psutil

        vm = psutil.virtual_memory()
        total, available = vm.total / 1e9, vm.available / 1e9
    except ImportError:
        try:
            info = {
                line.split(":")[0]: float(line.split()[1]) * 1024
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.split(":")[0] in ("MemTotal", "MemAvailable")
            }
            total, available = info["MemTotal"] / 1e9, info.get("MemAvailable", info["MemTotal"] / 2) / 1e9
        except (OSError, KeyError, ValueError, IndexError):
            try:
                total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
                available = total / 2
            except (ValueError, OSError, AttributeError):
                total, available = 8.0, 4.0
    return max(1, int(cores)), total, available


def _regions(mask: np.ndarray, min_area: float) -> int:
    """Connected regions of ``mask`` with at least ``min_area`` pixels (-1 when scipy is missing)."""
    try:
        from scipy import ndimage
    except ImportError:
        return -1
    labels, n = ndimage.label(mask)
    if n == 0:
        return 0
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= min_area).sum())


def decide(
    prepared: Prepared,
    *,
    unwrap_error_correction: str = "auto",
    dem_error_correction: str = "auto",
    annual_term: str = "auto",
    max_memory_gb: float | None = None,
) -> Science:
    """The corrections and time function for ``prepared`` (see the module docstring); ``yes``/``no`` (for the
    unwrapping errors ``closure``/``bridging``/``no``) force a choice, ``auto`` decides from the stack."""
    for value, name, allowed in (
        (unwrap_error_correction, "UNWRAP_ERROR_CORRECTION", UNWRAP_CHOICES),
        (dem_error_correction, "DEM_ERROR_CORRECTION", CHOICES),
        (annual_term, "ANNUAL_TERM", CHOICES),
    ):
        if str(value).lower() not in allowed:
            raise InputError(f"{name} must be one of {', '.join(allowed)}, not '{value}'.")
    unwrap = unwrap_error_correction.lower()
    notes: Dict[str, str] = {}
    dates = prepared.dates
    span = _span_years(dates)

    # ---- unwrapping errors: closure (done by the preparation), then bridging where components can be offset
    closure = bool(prepared.unwrap_correction) and "cannot check" not in prepared.unwrap_correction
    closure_corrected = len(prepared.closure_corrected)
    if prepared.unwrap_correction:
        notes["unwrap_closure"] = prepared.unwrap_correction
    elif unwrap in ("auto", "closure"):
        notes["unwrap_closure"] = (
            "Unwrapping errors: the phase-closure correction was not run in the preparation."
        )
    has_conncomp = prepared.load_globs().get("mintpy.load.connCompFile", "no") != "no"
    bridging = False
    if unwrap in ("auto", "bridging") and has_conncomp:
        own = [p for p in prepared.products if not p.conncomp_derived]
        several = [p for p in own if p.conncomp_labels > 1]
        pixels = prepared.grid.width * prepared.grid.height
        min_area = min(2.5e3, pixels * 3e-3)  # MintPy's connCompMinArea default
        if own and several:
            bridging = True
            why = (
                f"{len(several)} of {len(prepared.products)} interferograms have several connected components"
            )
        elif own:
            why = "every interferogram is one connected component"
        else:
            quality = load_quality(prepared)
            parts = _regions(quality[1], min_area) if quality is not None else -1
            bridging = parts != 1
            why = "the products have no connected components; the area valid in every interferogram is " + (
                "in one piece"
                if parts == 1
                else (f"cut into {parts} parts" if parts > 1 else "of unknown shape (no scipy)")
            )
        whole = [p for p in own if p.conncomp_whole]
        if bridging and whole:
            # MintPy 1.6.4's bridging stops with an IndexError (conncomp.get_all_bridge) on an interferogram
            # whose one component fills the whole area: it finds no boundary. Small areas inside a single
            # component of some interferograms are common, so the run goes on without bridging.
            bridging = False
            why += (
                f"; but {len(whole)} of {len(prepared.products)} {'is' if len(whole) == 1 else 'are'} one component "
                "over the whole area, where MintPy 1.6.4's bridging stops with an error (the phase closure still "
                "corrects unwrapping errors)"
            )
        notes["bridging"] = (
            f"Unwrapping errors between connected components (MintPy's bridging): {'on' if bridging else 'off'}, "
            f"as {why}."
        )
    elif unwrap in ("auto", "bridging"):
        notes["bridging"] = (
            "Unwrapping errors between connected components: off, no connected components loaded."
        )
    else:
        notes["bridging"] = (
            f"Unwrapping errors between connected components: off (UNWRAP_ERROR_CORRECTION={unwrap})."
        )

    # ---- DEM error
    bperp = date_baselines(prepared)
    values = np.array([bperp[d] for d in dates])
    years = np.array([(d - dates[0]).days / 365.25 for d in dates])
    bperp_std = float(values.std()) if len(values) > 1 else 0.0
    correlation = (
        float(np.corrcoef(values, years)[0, 1])
        if len(values) > 2 and values.std() > 0 and years.std() > 0
        else 0.0
    )
    reasons = []
    if len(dates) < MIN_DATES_DEM_ERROR:
        reasons.append(f"only {len(dates)} dates (at least {MIN_DATES_DEM_ERROR} are needed)")
    if bperp_std < MIN_BPERP_STD_M:
        reasons.append(
            f"the perpendicular baselines spread by only {bperp_std:.1f} m (at least {MIN_BPERP_STD_M:g})"
        )
    if abs(correlation) > MAX_BPERP_TIME_CORRELATION:
        reasons.append(
            f"the baselines follow time (correlation {correlation:+.2f}), so a DEM error would absorb motion"
        )
    if dem_error_correction == "auto":
        dem_error = not reasons
        notes["dem_error"] = (
            f"Topographic residual (DEM error) correction: on ({len(dates)} dates, baselines spread by "
            f"{bperp_std:.0f} m, correlation with time {correlation:+.2f})."
            if dem_error
            else "Topographic residual (DEM error) correction: off, as " + "; ".join(reasons) + "."
        )
    else:
        dem_error = dem_error_correction == "yes"
        notes["dem_error"] = (
            f"Topographic residual (DEM error) correction: {dem_error_correction} (as asked)"
            + (f"; note: {'; '.join(reasons)}." if dem_error and reasons else ".")
        )

    # ---- annual term
    if annual_term == "auto":
        annual = span >= MIN_YEARS_ANNUAL
        notes["annual"] = (
            f"Annual (seasonal) term: fitted with the velocity, as the stack spans {span:.1f} years; the "
            "velocity is the linear term, the seasonal motion is not in it."
            if annual
            else f"Annual (seasonal) term: not fitted, as the stack spans {span:.1f} years (less than "
            f"{MIN_YEARS_ANNUAL:g}); seasonal motion, where there is any, can bias the velocity (ANNUAL_TERM=yes "
            "fits it anyway)."
        )
    else:
        annual = annual_term == "yes"
        notes["annual"] = f"Annual (seasonal) term: {'fitted' if annual else 'not fitted'} (as asked)."

    cores, total, available = machine_resources()
    # a power of two (1-32 GB) near 40 % of the free memory: stable from run to run, since a changed value
    # makes MintPy rewrite its metadata and redo steps
    memory = (
        float(max_memory_gb)
        if max_memory_gb
        else float(2 ** int(np.clip(np.floor(np.log2(max(0.4 * available, 1.0))), 0, 5)))
    )
    notes["machine"] = (
        f"MintPy uses up to {memory:.1f} GB of memory per block (mintpy.compute.maxMemory; {available:.1f} of "
        f"{total:.1f} GB are free) on {cores} cores."
    )
    return Science(
        n_dates=len(dates),
        span_years=span,
        closure=closure,
        closure_corrected=closure_corrected,
        bridging=bridging,
        dem_error=dem_error,
        annual=annual,
        perp_baseline_std_m=bperp_std,
        max_memory_gb=round(memory, 1),
        cores=cores,
        notes=notes,
    )


def science_config(science: Science) -> Dict[str, str]:
    """The ``mintpy.*`` keys that carry ``science`` out."""
    return {
        "mintpy.unwrapError.method": "bridging" if science.bridging else "no",
        "mintpy.topographicResidual": "yes" if science.dem_error else "no",
        "mintpy.timeFunc.polynomial": "1",
        "mintpy.timeFunc.periodic": "1.0" if science.annual else "no",
        "mintpy.reference.date": "no",
        "mintpy.compute.maxMemory": f"{science.max_memory_gb:g}",
    }


# -------------------------------------------------------------------------------------------------- run
def run_segments(
    cfg_path: os.PathLike | str,
    workdir: os.PathLike | str,
    python: str,
    *,
    log: Log = _noop,
    progress: Callable[[int, int, str], None] = _noop,
    progress_percent: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] = _never,
    poll_s: float = 0.5,
    env: Dict[str, str] | None = None,
    hold_fds: Sequence[int] = (),
):
    """Run smallbaselineApp without its ``quick_overview`` step: two segments into one ``mintpy.log``
    (:data:`SEGMENTS`). Returns the second segment's :class:`~.run.RunResult` with the steps of both.
    ``hold_fds``: see :func:`~.run.run_smallbaseline`."""
    from .run import run_smallbaseline

    shares = (0.25, 0.75)  # of the progress: loading is the first segment's work, inverting the second's
    steps: List[str] = []
    elapsed = 0.0
    result = None
    done = 0.0
    for k, (segment, share) in enumerate(zip(SEGMENTS, shares)):

        def percent(value: float, done: float = done, share: float = share) -> None:
            if progress_percent is not None:
                progress_percent(100.0 * done + share * value)

        result = run_smallbaseline(
            cfg_path,
            workdir,
            python,
            log=log,
            progress=progress,
            progress_percent=percent,
            is_cancelled=is_cancelled,
            poll_s=poll_s,
            extra_args=list(segment),
            env=env,
            append_log=k > 0,
            hold_fds=hold_fds,
        )
        steps += result.steps
        elapsed += result.elapsed_s
        done += share
    assert result is not None
    result.steps = steps
    result.elapsed_s = elapsed
    return result
