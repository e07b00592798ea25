"""Runs in MintPy's own interpreter: the interferogram stack written while the preparation reads the products.

The preparation (:func:`~.prepare.prepare_products`) reads every window of every product once, in blocks of
rows, to validate them and correct unwrapping errors. MintPy's ``load_data`` would then read them all again
to write ``inputs/ifgramStack.h5``: in HyP3's DEFLATE-zipped products that is a second inflate of every
raster, the largest share of what the plugin added to a frame's run. So the preparation hands each block it
has read (and corrected) to this worker, which writes MintPy's datasets as MintPy lays them out, and
``load_data`` takes the result instead of reading the products again. Never imported by QGIS (an h5py
wheel cannot be used inside QGIS next to its GDAL); it imports only the standard library, numpy, h5py and,
in ``smallbaselineApp`` mode, MintPy.

``<python> stack_worker.py write INPUTS_DIR`` (started by :class:`~.prepared_stack.StackWriter`)
    reads from stdin one JSON line ``{"pairs": [["YYYYMMDD", "YYYYMMDD"], ...], "height", "width",
    "derived": [bool, ...]}``, answers ``CHUNK_ROWS <rows>`` (blocks should start at multiples of it), then
    takes blocks: a header of two little-endian int64 ``r0, r1`` followed by the rows ``r0:r1`` of every
    interferogram's unwrapped phase (float32, interferogram by interferogram), of the coherence (float32)
    and of the connected components (int16) of the interferograms that are not ``derived`` (those whose
    products have an unwrapper's). A header ``-1, -1`` ends: the files are closed and renamed from
    ``.partial`` and ``DONE`` is answered.

    Written: ``INPUTS_DIR/insarhub_stack.h5`` (``unwrapPhase``, ``coherence``: float32, no compression)
    and, when some products have their own connected components, ``INPUTS_DIR/insarhub_conncomp.h5``
    (``connectComponent``: int16, lzf; 0 for the derived ones), each dataset of shape ``(interferograms,
    height, width)``, ``chunks=True`` and ``maxshape (None, height, width)``, all as
    ``mintpy.objects.stackDict.ifgramStackDict.write2hdf5`` creates them. The derived connected components
    (1 where the phase is valid, as the preparation's derived VRT has them:
    :func:`~.prepare._derived_conncomp_vrt`) are made only if MintPy loads ``connectComponent``, from the
    stack's phase: it does only for its unwrapping-error corrections.

``<python> stack_worker.py smallbaselineApp ARGS...`` runs ``mintpy.cli.smallbaselineApp.main(ARGS)``
    with one change: when ``load_data`` writes ``inputs/ifgramStack.h5`` and the prepared stack beside it
    holds exactly what it would load (the same interferograms, datasets and size; no subset, multilook or
    compression), the prepared stack becomes ``ifgramStack.h5``: ``connectComponent`` is copied in if
    MintPy loads it, and the rest of ``write2hdf5`` (``date``, ``bperp``, ``dropIfgram`` and the
    attributes, from MintPy's own objects) is carried out as MintPy does. Otherwise the prepared files are
    deleted and MintPy loads the products itself, saying why.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time

PREPARED_STACK = "insarhub_stack.h5"
PREPARED_CONNCOMP = "insarhub_conncomp.h5"
PARTIAL = ".partial"
_BLOCK_HEADER = struct.Struct("<qq")
_PREPARED_DATASETS = ("unwrapPhase", "coherence")
_PAIRS_ATTR = "insarhub_pairs"
_DERIVED_ATTR = "insarhub_derived"


# ------------------------------------------------------------------------------------ write
def _read_exactly(stream, buffer) -> None:  # noqa: ANN001
    view = memoryview(buffer).cast("B")
    got = 0
    while got < len(view):
        count = stream.readinto(view[got:])
        if not count:
            raise EOFError(f"the preparation stopped sending after {got} of {len(view)} bytes")
        got += count


def write(inputs_dir: str) -> None:
    import h5py  # before anything that could load another HDF5 library
    import numpy as np

    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    pairs = [tuple(p) for p in header["pairs"]]
    derived = [bool(d) for d in header["derived"]]
    n, height, width = len(pairs), int(header["height"]), int(header["width"])
    shape, maxshape = (n, height, width), (None, height, width)
    stack_path = os.path.join(inputs_dir, PREPARED_STACK + PARTIAL)
    conncomp_path = os.path.join(inputs_dir, PREPARED_CONNCOMP + PARTIAL)
    measured = [k for k in range(n) if not derived[k]]
    with h5py.File(stack_path, "w") as stack:
        datasets = [
            stack.create_dataset(name, shape=shape, maxshape=maxshape, dtype=np.float32, chunks=True)
            for name in _PREPARED_DATASETS
        ]
        conncomp = None
        if measured:
            # the chunks straddling two blocks stay in the cache until both halves came
            ccf = h5py.File(conncomp_path, "w", rdcc_nbytes=256 << 20)
            conncomp = ccf.create_dataset(
                "connectComponent", shape=shape, maxshape=maxshape, dtype=np.int16, chunks=True, compression="lzf"
            )
        stack.attrs[_PAIRS_ATTR] = json.dumps(pairs)
        stack.attrs[_DERIVED_ATTR] = json.dumps(derived)
        print(f"CHUNK_ROWS {datasets[0].chunks[1]}", flush=True)
        while True:
            block = bytearray(_BLOCK_HEADER.size)
            _read_exactly(stdin, block)
            r0, r1 = _BLOCK_HEADER.unpack(block)
            if r0 < 0:
                break
            if not 0 <= r0 < r1 <= height:
                raise ValueError(f"rows {r0}:{r1} are outside the grid of {height} rows")
            rows = r1 - r0
            for dataset in datasets:
                data = np.empty((n, rows, width), dtype=np.float32)
                _read_exactly(stdin, data)
                dataset[:, r0:r1, :] = data
                del data
            if conncomp is not None:
                labels = np.zeros((n, rows, width), dtype=np.int16)
                sent = np.empty((len(measured), rows, width), dtype=np.int16)
                _read_exactly(stdin, sent)
                labels[measured] = sent
                conncomp[:, r0:r1, :] = labels
                del sent, labels
        if conncomp is not None:
            ccf.close()
    os.replace(stack_path, os.path.join(inputs_dir, PREPARED_STACK))
    if measured:
        os.replace(conncomp_path, os.path.join(inputs_dir, PREPARED_CONNCOMP))
    print("DONE", flush=True)


def _derived_conncomp(stack, derived) -> None:  # noqa: ANN001
    """Fill ``connectComponent`` of the ``derived`` interferograms from the stack's phase, a chunk of
    interferograms at a time: 1 where the phase is valid, 0 where it is 0 (nodata), as the lookup table of
    the preparation's derived VRT maps it (NaN to 1)."""
    import numpy as np

    phase, conncomp = stack["unwrapPhase"], stack["connectComponent"]
    step = conncomp.chunks[0] if conncomp.chunks else 1
    for k0 in range(0, len(derived), step):
        ks = [k for k in range(k0, min(len(derived), k0 + step)) if derived[k]]
        if not ks:
            continue
        values = conncomp[k0 : k0 + step] if len(ks) < min(step, len(derived) - k0) else None
        block = phase[k0 : k0 + step]
        out = values if values is not None else np.zeros(block.shape, dtype=np.int16)
        for k in ks:
            out[k - k0] = ~(np.abs(block[k - k0]) < 1e-30)
        conncomp[k0 : k0 + step] = out


# ------------------------------------------------------------------------------------ load_data
def _mismatch(stack, prepared_pairs, names, box, xstep, ystep, compression, geom_obj, access_mode):  # noqa: ANN001
    """Why the prepared stack is not what ``write2hdf5`` is about to write (``None``: it is)."""
    n, length, width = stack["unwrapPhase"].shape
    if access_mode != "w":
        return f"MintPy appends to the stack (mode {access_mode})"
    if xstep != 1 or ystep != 1:
        return f"MintPy multilooks it ({xstep} x {ystep})"
    if compression not in (None, "none", "None"):
        return f"MintPy compresses it ({compression})"
    if geom_obj is not None:
        return "MintPy resizes it to the geometry"
    if box and tuple(int(v) for v in box) != (0, 0, width, length):
        return f"MintPy loads a subset of it ({tuple(box)})"
    if sorted(prepared_pairs) != sorted(tuple(p) for p in json.loads(stack.attrs[_PAIRS_ATTR])):
        return "MintPy loads other interferograms than were prepared"
    if not {"unwrapPhase", "coherence"} <= set(names) <= {"unwrapPhase", "coherence", "connectComponent"}:
        return f"MintPy loads other datasets ({', '.join(names)})"
    return None


def install_prepared_stack_loader() -> None:
    """Make MintPy's ``ifgramStackDict.write2hdf5`` take the prepared stack (see the module's doc)."""
    import h5py
    import numpy as np
    from mintpy.objects import stackDict
    from mintpy.objects.stack import IFGRAM_DSET_NAMES
    from mintpy.utils import attribute as attr

    original = stackDict.ifgramStackDict.write2hdf5
    if getattr(original, "_insarhub", False):
        return

    def write2hdf5(
        self,
        outputFile="ifgramStack.h5",  # noqa: N803 (MintPy's names)
        access_mode="w",
        box=None,
        xstep=1,
        ystep=1,
        mli_method="nearest",
        compression=None,
        extra_metadata=None,
        geom_obj=None,
    ):
        folder = os.path.dirname(os.path.abspath(outputFile))
        prepared = os.path.join(folder, PREPARED_STACK)
        prepared_cc = os.path.join(folder, PREPARED_CONNCOMP)
        if os.path.basename(outputFile) == "ifgramStack.h5" and os.path.isfile(prepared):
            pairs = sorted(self.pairsDict.keys())
            names = [i for i in IFGRAM_DSET_NAMES if i in self.pairsDict[pairs[0]].datasetDict]
            try:
                with h5py.File(prepared, "r") as stack:
                    why = _mismatch(stack, pairs, names, box, xstep, ystep, compression, geom_obj, access_mode)
                    if why is None and stack["unwrapPhase"].shape != self.get_size(box=box):
                        why = f"its size {stack['unwrapPhase'].shape} is not MintPy's {self.get_size(box=box)}"
                    measured = not all(json.loads(stack.attrs[_DERIVED_ATTR]))
                if why is None and "connectComponent" in names and measured and not os.path.isfile(prepared_cc):
                    why = f"{PREPARED_CONNCOMP} is missing"
            except (OSError, KeyError, ValueError) as exc:
                why = f"it cannot be read ({exc})"
            if why is None:
                _finish(self, prepared, prepared_cc, outputFile, pairs, names, box, extra_metadata)
                return outputFile
            print(f"InSARHub: the prepared stack is not used ({why}); MintPy reads the products itself.")
        for path in (prepared, prepared_cc):
            if os.path.basename(outputFile) == "ifgramStack.h5" and os.path.isfile(path):
                os.remove(path)
        return original(
            self,
            outputFile=outputFile,
            access_mode=access_mode,
            box=box,
            xstep=xstep,
            ystep=ystep,
            mli_method=mli_method,
            compression=compression,
            extra_metadata=extra_metadata,
            geom_obj=geom_obj,
        )

    def _finish(self, prepared, prepared_cc, outputFile, pairs, names, box, extra_metadata):  # noqa: ANN001, N803
        started = time.time()
        print("-" * 50)
        print(
            f"InSARHub: {os.path.basename(outputFile)} from {PREPARED_STACK}, written while the preparation read "
            "the products (no second read of them): " + ", ".join(names)
        )
        self.pairs = pairs
        self.dsNames = names
        n = len(pairs)
        with h5py.File(prepared, "r+") as f:
            derived = json.loads(f.attrs[_DERIVED_ATTR])
            if "connectComponent" in names:
                if os.path.isfile(prepared_cc):  # the unwrapper's, already compressed: copied as they are
                    with h5py.File(prepared_cc, "r") as src:
                        f.copy(src["connectComponent"], "connectComponent")
                else:
                    shape = f["unwrapPhase"].shape
                    f.create_dataset(
                        "connectComponent",
                        shape=shape,
                        maxshape=(None, *shape[1:]),
                        dtype=np.int16,
                        chunks=True,
                        compression="lzf",
                    )
                _derived_conncomp(f, derived)
            # the rest is MintPy's write2hdf5 (mintpy.objects.stackDict, MintPy 1.6.4), after its datasets
            for name in names:
                f[name].attrs["MODIFICATION_TIME"] = str(time.time())
            f.create_dataset("date", data=np.array(pairs, dtype=np.bytes_))
            bperp = np.zeros(n, dtype=np.float32)
            for i in range(n):
                bperp[i] = self.pairsDict[pairs[i]].get_perp_baseline(family=self.dsName0)
            f.create_dataset("bperp", data=bperp)
            f.create_dataset("dropIfgram", data=np.ones((n,), dtype=np.bool_))
            meta = self.get_metadata()
            if extra_metadata:
                meta.update(extra_metadata)
                print(f"add extra metadata: {extra_metadata}")
            if box:
                print("update metadata due to subset")
                meta = attr.update_attribute4subset(meta, box)
            meta["FILE_TYPE"] = self.name
            del f.attrs[_PAIRS_ATTR], f.attrs[_DERIVED_ATTR]
            for key, value in meta.items():
                f.attrs[key] = value
        os.replace(prepared, outputFile)
        if os.path.isfile(prepared_cc):
            os.remove(prepared_cc)
        print(f"Finished writing to {outputFile} in {time.time() - started:.1f} s")

    write2hdf5._insarhub = True  # type: ignore[attr-defined]
    stackDict.ifgramStackDict.write2hdf5 = write2hdf5


def main(argv) -> None:  # noqa: ANN001
    if len(argv) >= 2 and argv[0] == "write":
        write(argv[1])
    elif argv and argv[0] == "smallbaselineApp":
        import h5py  # noqa: F401  (first, as MintPy itself does)

        install_prepared_stack_loader()
        from mintpy.cli.smallbaselineApp import main as app

        app(list(argv[1:]))
    else:
        sys.exit("usage: stack_worker.py write INPUTS_DIR | stack_worker.py smallbaselineApp ARGS...")


if __name__ == "__main__":
    main(sys.argv[1:])
