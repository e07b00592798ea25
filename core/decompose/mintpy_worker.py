"""Runs in MintPy's own interpreter: vertical and east from LOS data with MintPy's asc_desc2horz_vert.

Usage: ``<mintpy python> mintpy_worker.py JOB.json`` (started by :mod:`.run`, never imported by QGIS).
It imports only numpy and MintPy. The job file names ``.npy`` arrays, all on one common grid:

* ``los`` (n, rows, cols): LOS velocity of the n inputs (any unit; positive towards the satellite);
* ``los_std`` (n, rows, cols) or null: its standard deviation, same unit;
* ``incidence``, ``azimuth`` (n, rows, cols): LOS incidence and azimuth angles in degrees (MintPy's
  conventions);
* ``displacement`` (dates, n, rows, cols) or null: LOS displacement per common date;
* ``window``: MintPy's geometry window (``step``): each window x window block is inverted with the
  median geometry of the block, as ``asc_desc2horz_vert`` does; enlarged so that there are at most
  :data:`MAX_WINDOWS` windows (MintPy loops over them in Python);
* outputs: ``out_velocity`` (2, rows, cols) = east, up; ``out_std`` (2, rows, cols);
  ``out_condition`` (rows, cols): condition number of the window's design matrix;
  ``out_displacement`` (dates, 2, rows, cols).

The velocities come from ``mintpy.asc_desc2horz_vert.asc_desc2horz_vert`` with ``horz_az_angle=-90``
(east). That function is the pseudo-inverse ``P`` of MintPy's design matrix (``get_design_matrix4horz_vert``)
of each window's median geometry applied to the LOS values; the worker builds the same ``P`` per window
with MintPy's function, checks that it reproduces MintPy's velocity result, and applies it to every
displacement date (MintPy's window loop would run once per date) and to the variances: the standard
deviations are ``sqrt(sum_i P[k, i]^2 std_i^2)`` (the inputs are independent stacks). Progress lines ``INSARHUB_PROGRESS <percent>`` go to stdout.
"""

from __future__ import annotations

import json
import sys

import numpy as np

EAST_AZIMUTH_DEG = -90.0  # MintPy's horizontal azimuth of interest: from north, anticlockwise -> east
MAX_WINDOWS = 20_000


def _progress(percent: float) -> None:
    print(f"INSARHUB_PROGRESS {percent:.1f}", flush=True)


def _window_design(incidence, azimuth, window, design):
    """For each window: (pinv(G) (2, n), condition number), as arrays over the grid."""
    n, rows, cols = incidence.shape
    pinv = np.full((2, n, rows, cols), np.nan, dtype=np.float64)
    condition = np.full((rows, cols), np.nan, dtype=np.float64)
    for y0 in range(0, rows, window):
        y1 = min(y0 + window, rows)
        for x0 in range(0, cols, window):
            x1 = min(x0 + window, cols)
            block_inc = incidence[:, y0:y1, x0:x1]
            if not np.all(np.isfinite(block_inc).reshape(n, -1).any(axis=1)):
                continue  # an input has no geometry here: MintPy leaves the window NaN too
            inc = np.nanmedian(block_inc, axis=(1, 2))
            az = np.nanmedian(azimuth[:, y0:y1, x0:x1], axis=(1, 2))
            if not (np.all(np.isfinite(inc)) and np.all(np.isfinite(az))):
                continue
            g = design(inc, az, EAST_AZIMUTH_DEG).astype(np.float64)
            pinv[:, :, y0:y1, x0:x1] = np.linalg.pinv(g)[:, :, None, None]
            condition[y0:y1, x0:x1] = np.linalg.cond(g)
    return pinv, condition


def _decompose(decompose, dlos, incidence, azimuth, window):
    """MintPy's asc_desc2horz_vert over a (n, rows, cols) or (n, rows, cols * k) array."""
    horizontal, vertical = decompose(dlos, incidence, azimuth, horz_az_angle=EAST_AZIMUTH_DEG, step=window)
    return np.asarray(horizontal, dtype=np.float32), np.asarray(vertical, dtype=np.float32)


def main(job_path: str) -> int:
    from mintpy.asc_desc2horz_vert import asc_desc2horz_vert, get_design_matrix4horz_vert

    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    los = np.load(job["los"]).astype(np.float32)
    incidence = np.load(job["incidence"]).astype(np.float32)
    azimuth = np.load(job["azimuth"]).astype(np.float32)
    n, rows, cols = los.shape
    window = max(1, int(job.get("window", 1)))
    while -(-rows // window) * -(-cols // window) > MAX_WINDOWS:
        window += 1
    print(f"Decomposing {n} LOS inputs on a {cols} x {rows} grid (MintPy geometry window {window} px).", flush=True)
    if job.get("out_info"):
        with open(job["out_info"], "w", encoding="utf-8") as handle:
            json.dump({"window": window}, handle)
    _progress(0.0)

    east, up = _decompose(asc_desc2horz_vert, los, incidence, azimuth, window)
    np.save(job["out_velocity"], np.stack([east, up]))
    _progress(20.0)

    pinv, condition = _window_design(incidence, azimuth, window, get_design_matrix4horz_vert)
    np.save(job["out_condition"], condition.astype(np.float32))
    if job.get("los_std"):
        std = np.load(job["los_std"]).astype(np.float64)
        variance = np.einsum("kiyx,iyx->kyx", pinv**2, std**2)
        np.save(job["out_std"], np.sqrt(variance).astype(np.float32))
    _progress(40.0)

    # MintPy's result is pinv(G) of each window applied to the LOS: check, then apply the same to every date
    with np.errstate(invalid="ignore"):
        again = np.einsum("kiyx,iyx->kyx", pinv, los.astype(np.float64))
    both = np.isfinite(again[0]) & np.isfinite(east)
    if both.any():
        worst = max(float(np.max(np.abs(again[0][both] - east[both]))), float(np.max(np.abs(again[1][both] - up[both]))))
        scale = max(1.0, float(np.max(np.abs(los[np.isfinite(los)]))))
        print(f"Window pseudo-inverses reproduce MintPy's result to {worst:.2g} (of LOS values up to {scale:.3g}).", flush=True)
        if worst > 1e-3 * scale:
            raise SystemExit(f"the window pseudo-inverses differ from asc_desc2horz_vert's result by {worst}")

    if job.get("displacement"):
        displacement = np.load(job["displacement"], mmap_mode="r")
        dates = displacement.shape[0]
        out = np.lib.format.open_memmap(job["out_displacement"], mode="w+", dtype=np.float32, shape=(dates, 2, rows, cols))
        for t in range(dates):
            with np.errstate(invalid="ignore"):
                out[t] = np.einsum("kiyx,iyx->kyx", pinv, np.asarray(displacement[t], dtype=np.float64))
            _progress(40.0 + 60.0 * (t + 1) / dates)
        out.flush()
        del out
    _progress(100.0)
    print("Done.", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: mintpy_worker.py JOB.json")
    sys.exit(main(sys.argv[1]))
