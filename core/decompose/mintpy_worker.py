"""Runs in MintPy's own interpreter: vertical and east from LOS data with MintPy's asc_desc2horz_vert.

Usage: ``<mintpy python> mintpy_worker.py JOB.json`` (started by :mod:`.run`, never imported by QGIS).
It imports only numpy and MintPy. The job file names ``.npy`` arrays, all on one common grid:

* ``los`` (n, rows, cols): LOS velocity of the n inputs (any unit; positive towards the satellite);
* ``los_std`` (n, rows, cols) or null: its standard deviation, same unit;
* ``incidence``, ``azimuth`` (n, rows, cols): LOS incidence and azimuth angles in degrees (MintPy's
  conventions);
* ``displacement`` (dates, n, rows, cols) or null: LOS displacement per common date;
* ``window``: MintPy's geometry window (``step``): each window x window block is inverted with the
  median geometry of the block, as ``asc_desc2horz_vert`` does;
* outputs: ``out_velocity`` (2, rows, cols) = east, up; ``out_std`` (2, rows, cols);
  ``out_condition`` (rows, cols): condition number of the window's design matrix;
  ``out_displacement`` (dates, 2, rows, cols).

The values come from ``mintpy.asc_desc2horz_vert.asc_desc2horz_vert`` with ``horz_az_angle=-90`` (east).
The standard deviations propagate each input's standard deviation through the pseudo-inverse of MintPy's
design matrix (``get_design_matrix4horz_vert``) of the same window: ``var_k = sum_i P[k, i]^2 std_i^2``
(the inputs are independent stacks). Progress lines ``INSARHUB_PROGRESS <percent>`` go to stdout.
"""

from __future__ import annotations

import json
import sys

import numpy as np

EAST_AZIMUTH_DEG = -90.0  # MintPy's horizontal azimuth of interest: from north, anticlockwise -> east
_CHUNK_BYTES = 256 * 1024 * 1024


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


def _decompose_dates(decompose, displacement, incidence, azimuth, window, out):
    """All dates at once per chunk: the dates side by side along the columns, each padded to whole
    windows, so MintPy's windows (and thus its geometry) are exactly those of a single date."""
    dates, n, rows, cols = displacement.shape
    padded = -(-cols // window) * window
    per_date = n * rows * padded * 4 * 3
    chunk = max(1, min(dates, _CHUNK_BYTES // max(per_date, 1)))
    geometry_inc = np.full((n, rows, padded), np.nan, dtype=np.float32)
    geometry_az = np.full((n, rows, padded), np.nan, dtype=np.float32)
    geometry_inc[:, :, :cols] = incidence
    geometry_az[:, :, :cols] = azimuth
    for start in range(0, dates, chunk):
        stop = min(dates, start + chunk)
        k = stop - start
        dlos = np.full((n, rows, padded * k), np.nan, dtype=np.float32)
        for j in range(k):
            dlos[:, :, j * padded : j * padded + cols] = displacement[start + j]
        east, up = _decompose(decompose, dlos, np.tile(geometry_inc, (1, 1, k)), np.tile(geometry_az, (1, 1, k)), window)
        for j in range(k):
            out[start + j, 0] = east[:, j * padded : j * padded + cols]
            out[start + j, 1] = up[:, j * padded : j * padded + cols]
        _progress(40.0 + 60.0 * stop / dates)


def main(job_path: str) -> int:
    from mintpy.asc_desc2horz_vert import asc_desc2horz_vert, get_design_matrix4horz_vert

    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    window = max(1, int(job.get("window", 1)))
    los = np.load(job["los"]).astype(np.float32)
    incidence = np.load(job["incidence"]).astype(np.float32)
    azimuth = np.load(job["azimuth"]).astype(np.float32)
    n, rows, cols = los.shape
    print(f"Decomposing {n} LOS inputs on a {cols} x {rows} grid (MintPy geometry window {window} px).", flush=True)
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

    if job.get("displacement"):
        displacement = np.load(job["displacement"], mmap_mode="r")
        out = np.lib.format.open_memmap(
            job["out_displacement"], mode="w+", dtype=np.float32, shape=(displacement.shape[0], 2, rows, cols)
        )
        _decompose_dates(asc_desc2horz_vert, displacement, incidence, azimuth, window, out)
        out.flush()
        del out
    _progress(100.0)
    print("Done.", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: mintpy_worker.py JOB.json")
    sys.exit(main(sys.argv[1]))
