"""The interferogram stack written while the preparation reads the products (issue 17).

MintPy's ``load_data`` must end up with the very file it would have written itself from the prepared
windows (corrected phase, coherence, connected components, dates, baselines, attributes), without reading
the products again; anything that keeps the prepared stack from fitting falls back to MintPy's own
loading, and a stack writer that fails costs only the speed. Real MintPy, real h5py (in MintPy's
interpreter, as a subprocess).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import List

import pytest
from fakes.products import realistic_stack
from insarhub_qgis.core.errors import CancelledError, InputError
from insarhub_qgis.core.timeseries import prepare as prepare_module
from insarhub_qgis.core.timeseries import prepare_products, run_smallbaseline, write_config
from insarhub_qgis.core.timeseries.prepared_stack import PREPARED_FILES
from insarhub_qgis.core.timeseries.run import descendants

pytestmark = pytest.mark.slow

COMPARE = r"""
import json, sys
import h5py, numpy as np
out = {}
for label, path in (("a", sys.argv[1]), ("b", sys.argv[2])):
    with h5py.File(path, "r") as f:
        out[label] = {
            "datasets": {
                k: [str(f[k].dtype), list(f[k].shape), f[k].compression, sorted(f[k].attrs)] for k in f
            },
            "attrs": {k: str(v) for k, v in f.attrs.items() if k != "FILE_PATH"},
        }
        out[label]["file_path"] = str(f.attrs["FILE_PATH"])
        out[label]["data"] = {k: f[k][()] for k in f}
a, b = out["a"]["data"], out["b"]["data"]
out["same"] = {
    k: bool(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f")) for k in a if k in b
}
ua, ub = a["unwrapPhase"], b["unwrapPhase"]
differ = ~((ua == ub) | (np.isnan(ua) & np.isnan(ub)))
out["phase_differ"] = int(differ.sum())
out["phase_max_abs"] = float(np.abs(ua - ub)[differ].max()) if differ.any() else 0.0
del out["a"]["data"], out["b"]["data"]
print(json.dumps(out))
"""


def _stack(folder: Path, job_type: str) -> None:
    # six interferograms with whole-cycle unwrapping errors: the phase-closure correction changes them
    mixed = job_type == "INSAR_ISCE_BURST"
    realistic_stack(folder, job_type=job_type, n_dates=8, n_pairs=18, seed=3, as_zip=not mixed)
    if mixed:  # two (unpacked) products without an unwrapper's connected components
        conncomps = sorted(folder.glob("*/*_conncomp.tif"))
        assert len(conncomps) == 18
        for conncomp in conncomps[:2]:
            conncomp.unlink()


def _load(work: Path, python: str, user_cfg: str = "", **prepare_kwargs) -> Path:
    prepared = prepare_products(work.parent / "products", work, **prepare_kwargs)
    user = work.parent / f"{work.name}.cfg"
    user.write_text("mintpy.load.connCompFile = inputs/*/*_conncomp.vrt\n" + user_cfg)
    cfg = write_config(prepared, work, user_cfg_path=user)
    run_smallbaseline(cfg, work, python, extra_args=["--dostep", "load_data"])
    return work / "mintpy.log"


def _compare(python: str, a: Path, b: Path) -> dict:
    import json
    import subprocess

    done = subprocess.run([python, "-c", COMPARE, str(a), str(b)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("job_type", ["INSAR_GAMMA", "INSAR_ISCE_BURST"])
def test_mintpy_loads_the_stack_written_while_preparing_as_it_would_load_the_products(
    tmp_path: Path, mintpy_python: str, job_type: str
) -> None:
    _stack(tmp_path / "products", job_type)
    plain_log = _load(tmp_path / "plain", mintpy_python)
    messages: List[str] = []
    log = _load(tmp_path / "stack", mintpy_python, mintpy_python=mintpy_python, log=messages.append)

    assert any("Wrote the interferogram stack for MintPy while reading" in m for m in messages)
    text = log.read_text()
    assert "InSARHub: ifgramStack.h5 from insarhub_stack.h5" in text and "stack_worker.py smallbaselineApp" in text
    assert "InSARHub" not in plain_log.read_text()
    inputs = tmp_path / "stack" / "inputs"
    assert not [name for name in PREPARED_FILES if (inputs / name).exists()]

    cmp = _compare(mintpy_python, tmp_path / "plain/inputs/ifgramStack.h5", inputs / "ifgramStack.h5")
    a, b = cmp["a"], cmp["b"]
    assert set(a["datasets"]) == {
        "unwrapPhase", "coherence", "connectComponent", "date", "bperp", "dropIfgram"
    }  # fmt: skip
    assert a["datasets"] == b["datasets"] and a["attrs"] == b["attrs"]  # dtypes, shapes, lzf, attributes
    assert len(cmp["same"]) == 6 and all(v for k, v in cmp["same"].items() if k != "unwrapPhase")
    # The phase is the products' own plus whole cycles where phase closure corrected it. The prepared stack
    # adds them in double and rounds once, as the corrected VRT does on GDAL 3.6 and 3.10 (identical there);
    # through GDAL 3.13's VRT (forky) MintPy's own load differs at corrected pixels only, by a few 1e-7 rad
    # (up to a few hundred float32 steps near 0): some float32 rounding in its sum, not pinned down.
    prepared = prepare_module.load_prepared(tmp_path / "stack")
    corrected = sum(p.closure_corrected_px for p in prepared.products)
    assert cmp["phase_differ"] <= corrected and cmp["phase_max_abs"] <= 2e-6
    assert a["file_path"].replace(str(tmp_path / "plain"), "") == b["file_path"].replace(str(tmp_path / "stack"), "")
    assert corrected > 100
    assert sum(p.conncomp_derived for p in prepared.products) == (18 if job_type == "INSAR_GAMMA" else 2)


def test_a_subset_in_the_users_configuration_makes_mintpy_read_the_products_itself(
    tmp_path: Path, mintpy_python: str
) -> None:
    _stack(tmp_path / "products", "INSAR_GAMMA")
    log = _load(tmp_path / "stack", mintpy_python, "mintpy.subset.yx = 10:60,20:90\n", mintpy_python=mintpy_python)
    text = log.read_text()
    assert "the prepared stack is not used (MintPy loads a subset of it" in text
    assert not [name for name in PREPARED_FILES if (tmp_path / "stack/inputs" / name).exists()]
    cmp = _compare(mintpy_python, tmp_path / "stack/inputs/ifgramStack.h5", tmp_path / "stack/inputs/ifgramStack.h5")
    assert cmp["a"]["datasets"]["unwrapPhase"][1] == [18, 50, 70]
    assert cmp["a"]["attrs"]["LENGTH"] == "50" and cmp["a"]["attrs"]["WIDTH"] == "70"


def _writers_left() -> List[int]:
    """Processes below this one that are a stack writer (real or fake): none may outlive a preparation.
    (Not every descendant: Python 3.14's multiprocessing keeps a forkserver of its own once used.)"""
    left = []
    for pid in descendants(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "stack_worker.py" in command or "python.py" in command:
            left.append(pid)
    return left


def _script(tmp_path: Path, name: str, body: str) -> str:
    script = tmp_path / f"{name}.py"
    script.write_text(body)
    exe = tmp_path / name
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    exe.chmod(0o755)
    return str(exe)


def test_a_failing_stack_writer_costs_only_the_speed(tmp_path: Path) -> None:
    _stack(tmp_path / "products", "INSAR_GAMMA")
    # an interpreter without h5py, then one that answers, takes a little of the first block and crashes
    bodies = {
        "no h5py": "import sys\nsys.exit('ModuleNotFoundError: No module named h5py')\n",
        "crashed": "import sys\nsys.stdin.buffer.readline()\nprint('CHUNK_ROWS 8', flush=True)\n"
        "sys.stdin.buffer.read(100000)\nsys.exit('Segmentation fault')\n",
    }
    for why, body in bodies.items():
        warnings: List[str] = []
        prepared = prepare_products(
            tmp_path / "products", tmp_path / why, mintpy_python=_script(tmp_path, why.replace(" ", "") + "python", body),
            warn=warnings.append,
        )
        assert len(prepared.products) == 18
        said = [w for w in warnings if "interferogram stack could not be written" in w]
        assert len(said) == 1 and body.split("'")[-2] in said[0] and "MintPy reads the products itself" in said[0]
        assert not [name for name in PREPARED_FILES if (tmp_path / why / "inputs" / name).exists()]
        assert not _writers_left()


def test_a_full_disk_while_writing_the_stack_says_so_and_loses_nothing(tmp_path: Path) -> None:
    _stack(tmp_path / "products", "INSAR_GAMMA")
    before = sorted(p.name for p in (tmp_path / "products").iterdir())
    full = _script(
        tmp_path,
        "fullpython",
        "import sys\nsys.stdin.buffer.readline()\nprint('CHUNK_ROWS 8', flush=True)\n"
        "sys.stdin.buffer.read(100000)\nsys.exit('OSError: [Errno 28] No space left on device')\n",
    )
    with pytest.raises(InputError) as err:
        prepare_products(tmp_path / "products", tmp_path / "work", mintpy_python=full)
    message = str(err.value)
    assert "disk of the work folder" in message and "is full" in message and "GiB" in message
    assert "Free space on that disk or choose a work folder on a larger one" in message
    assert not [name for name in PREPARED_FILES if (tmp_path / "work/inputs" / name).exists()]
    assert sorted(p.name for p in (tmp_path / "products").iterdir()) == before
    assert not _writers_left()


def test_cancelling_the_preparation_stops_the_stack_writer_and_removes_its_files(
    tmp_path: Path, mintpy_python: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stack(tmp_path / "products", "INSAR_GAMMA")
    original = prepare_module._window_pass
    monkeypatch.setattr(  # many small blocks, so that the cancel comes between two of them
        prepare_module, "_window_pass", lambda *a, **k: original(*a, **{**k, "block_bytes": 1})
    )
    seen: List[float] = []
    with pytest.raises(CancelledError):
        prepare_products(
            tmp_path / "products",
            tmp_path / "work",
            mintpy_python=mintpy_python,
            progress=seen.append,
            is_cancelled=lambda: bool(seen) and seen[-1] > 40.0,
        )
    assert 40.0 < seen[-1] < 100.0
    assert not [name for name in PREPARED_FILES if (tmp_path / "work/inputs" / name).exists()]
    assert not _writers_left()
    # and a new preparation writes it whole
    shutil.rmtree(tmp_path / "work")
    prepare_products(tmp_path / "products", tmp_path / "work", mintpy_python=mintpy_python)
    assert (tmp_path / "work/inputs/insarhub_stack.h5").is_file()
