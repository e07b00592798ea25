"""Issue 5: downloading finished HyP3 products, the plugin's engine versus hyp3_sdk.

Server: the loopback HyP3 stand-in (``tests/fakes/hyp3.py``) in this process, serving 20 product
zips (one top folder named like the zip, holding ``<name>.txt`` and ``<name>_unw_phase.tif`` of
20 MiB of incompressible random bytes, stored), with ``delay`` (latency before every answer) and
``bandwidth_limit`` (per connection). Byte accounting wraps the stand-in's body writer from here
(``_Handler._write``): every product-body byte handed to the socket is counted.

Timed, same process, same products, a fresh output folder per run, interleaved, median of ``--runs``:

(a)  ``core.hyp3.download_products(jobs_file, out, client=client)`` with its default 4 workers,
     as ``insarhub:downloadproducts`` runs it: ``.part`` files, size + MD5 (ETag) + zip CRC checks,
     unpacked into product folders, zips removed;
(a1) the same with ``workers=1`` (what the parallel downloads buy, apart from the checks);
(b)  hyp3_sdk's ``Batch.download_files(out)``: one job after the other, one file at a time, a new
     session per file, written straight to the final name, nothing verified;
(b+x) (b) followed by ``hyp3_sdk.util.extract_zipped_product`` on each zip, so that it ends with
     unpacked product folders like (a).

Interruptions (untimed except where a time is shown):

(c1) stop at 50 % of all product bytes, then run again: (a) is cancelled through ``is_cancelled``
     once the server has sent half the bytes (the plugin's Cancel button); (b) gets a
     ``KeyboardInterrupt`` at the same point (``_thread.interrupt_main``: Ctrl-C in a script or
     notebook). Then the same call again; the bytes the server sends on that rerun are counted.
(c2) every product's connection drops at half its size (``drop_download_after(size // 2,
     target=job_id)`` for each product): what each tool returns and leaves on disk, and the bytes
     fetched to end with 20 intact products.

Every run's products are checked afterwards against the served ones (size, MD5, ``testzip``).
Run: ``.venv/bin/python bench/bench_hyp3_download.py`` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import hashlib
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TQDM_DISABLE", "1")  # hyp3_sdk's progress bars: off (read when tqdm is imported)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

NAME = "bench_hyp3_download"
TOKEN = "bench-token-SECRET"
PRODUCTS = 20
PAYLOAD_BYTES = 20 * 2**20  # 20 MiB of random bytes per product (> 20 MB)
LATENCY_S = 0.2
BANDWIDTH_BPS = 20e6  # per connection


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=PRODUCTS, help="number of products")
    parser.add_argument("--mib", type=float, default=PAYLOAD_BYTES / 2**20, help="random MiB per product")
    parser.add_argument("--latency", type=float, default=LATENCY_S, help="seconds before every answer")
    parser.add_argument("--mbps", type=float, default=BANDWIDTH_BPS / 1e6, help="MB/s per connection")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each tool (median reported)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    return parser.parse_args()


# ---- the products -------------------------------------------------------------------------------


@dataclass
class Served:
    """What the stand-in serves for one product."""

    job_id: str
    name: str
    zip_size: int
    zip_md5: str
    tif_md5: str


def product_factory(bucket: Path, payload_bytes: int, served: dict[str, Served]) -> Callable[[dict], Path]:
    import numpy as np
    from fakes.hyp3 import product_name

    def factory(job: dict) -> Path:
        name = product_name(job)
        seed = int(job["job_id"].replace("-", ""), 16) % 2**32
        payload = np.random.default_rng(seed).bytes(payload_bytes)
        granules = job["job_parameters"]["granules"]
        text = f"Reference Granule: {granules[0]}\nSecondary Granule: {granules[1]}\n"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(f"{name}/{name}.txt", text)
            archive.writestr(f"{name}/{name}_unw_phase.tif", payload)
        data = buf.getvalue()
        path = bucket / job["job_id"] / f"{name}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        served[name] = Served(
            job["job_id"], name, len(data), hashlib.md5(data).hexdigest(), hashlib.md5(payload).hexdigest()
        )
        return path

    return factory


def slc(day: str) -> str:
    return f"S1A_IW_SLC__1SDV_{day}T204513_{day}T204540_061237_07A332_A16A"


def pairs(count: int) -> list[tuple[str, str]]:
    import datetime as dt

    days = [(dt.date(2024, 1, 6) + dt.timedelta(days=12 * k)).strftime("%Y%m%d") for k in range(count + 1)]
    return [(slc(days[k]), slc(days[k + 1])) for k in range(count)]


# ---- byte accounting on the server side -----------------------------------------------------------


class ByteMeter:
    """Product-body bytes the stand-in handed to its sockets; optionally trips at a threshold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.trip_at: int | None = None
        self.tripped = threading.Event()
        self.on_trip: Callable[[], None] | None = None

    def reset(self, trip_at: int | None = None, on_trip: Callable[[], None] | None = None) -> None:
        with self._lock:
            self.total = 0
            self.trip_at = trip_at
            self.on_trip = on_trip
            self.tripped.clear()

    def add(self, count: int) -> None:
        fire = None
        with self._lock:
            self.total += count
            if self.trip_at is not None and not self.tripped.is_set() and self.total >= self.trip_at:
                self.tripped.set()
                fire = self.on_trip
        if fire is not None:
            fire()


class _CountingWriter:
    def __init__(self, real: Any, meter: ByteMeter) -> None:
        self._real = real
        self._meter = meter

    def write(self, data: bytes) -> int:
        written = self._real.write(data)
        self._meter.add(len(data))
        return written

    def flush(self) -> None:
        self._real.flush()


def install_meter(meter: ByteMeter) -> None:
    """Wrap the stand-in's body writer so that product-zip body bytes are counted."""
    from fakes import hyp3 as fake

    original = fake._Handler._write

    def write(self: Any, payload: bytes, limit: int | None = None) -> None:
        if not (self.command == "GET" and self.path.startswith("/products/") and ".zip" in self.path):
            return original(self, payload, limit)
        real = self.wfile
        self.wfile = _CountingWriter(real, meter)
        try:
            return original(self, payload, limit)
        finally:
            self.wfile = real

    fake._Handler._write = write  # type: ignore[method-assign]

    handle_error = fake._Server.handle_error

    def quiet(self: Any, request: Any, client_address: Any) -> None:
        # a client that closed its kept-alive connection (hyp3_sdk after Ctrl-C): not worth a traceback
        if not isinstance(sys.exc_info()[1], ConnectionError):
            handle_error(self, request, client_address)

    fake._Server.handle_error = quiet  # type: ignore[method-assign]


def range_bytes(stand_in: Any, first_request: int, served: dict[str, Served]) -> int:
    """Bytes the product GETs since ``first_request`` asked for (size minus the Range start):
    the cross-check of the meter for runs without dropped connections."""
    sizes = {s.job_id: s.zip_size for s in served.values()}
    total = 0
    for request in stand_in.requests[first_request:]:
        if request.method != "GET" or not request.path.startswith("/products/") or ".zip" not in request.path:
            continue
        if request.status not in (200, 206):
            continue
        size = sizes[request.path.split("/")[2]]
        header = request.headers.get("range", "")
        start = int(header.split("=", 1)[1].split("-", 1)[0]) if header.startswith("bytes=") else 0
        total += size - start
    return total


# ---- checking what a tool left ----------------------------------------------------------------------


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Check:
    intact: int = 0
    damaged: list[str] = field(default_factory=list)  # under the final name, but short/corrupt
    resumable: int = 0  # .part files (never under the final name)
    missing: int = 0
    kept_bytes: int = 0  # usable bytes on disk: intact products + resumable .part files

    def text(self, total: int) -> str:
        out = f"{self.intact}/{total} intact"
        if self.damaged:
            out += f", {len(self.damaged)} damaged ({'; '.join(sorted(set(self.damaged)))})"
        if self.resumable:
            out += f", {self.resumable} resumable `.part`"
        if self.missing:
            out += f", {self.missing} not started"
        return out


def zip_problem(path: Path, expected: Served) -> str | None:
    size = path.stat().st_size
    if size != expected.zip_size:
        kind = "short" if size < expected.zip_size else "long"
        try:
            with zipfile.ZipFile(path) as archive:
                archive.testzip()
            return f"{kind}, testzip passes"
        except (zipfile.BadZipFile, OSError, EOFError):
            return f"{kind}, not a readable zip"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError):
        return "not a readable zip"
    if bad is not None:
        return "CRC error"
    if md5_of(path) != expected.zip_md5:
        return "other bytes"
    return None


def check_zips(out: Path, served: dict[str, Served]) -> Check:
    """hyp3_sdk's result: ``<name>.zip`` in ``out`` (or unpacked ``<name>/`` after extraction)."""
    check = Check()
    for name, expected in served.items():
        zip_path, folder = out / f"{name}.zip", out / name
        if zip_path.exists():
            problem = zip_problem(zip_path, expected)
            if problem:
                check.damaged.append(problem)
            else:
                check.intact += 1
                check.kept_bytes += expected.zip_size
        elif folder.is_dir():
            tif = folder / f"{name}_unw_phase.tif"
            if tif.is_file() and md5_of(tif) == expected.tif_md5 and (folder / f"{name}.txt").is_file():
                check.intact += 1
                check.kept_bytes += expected.zip_size
            else:
                check.damaged.append("unpacked product differs")
        else:
            check.missing += 1
    return check


def check_plugin(out: Path, served: dict[str, Served]) -> Check:
    """download_products' result: product folders; partial downloads stay ``<name>.zip.part``."""
    check = Check()
    for name, expected in served.items():
        folder, zip_path, part = out / name, out / f"{name}.zip", out / f"{name}.zip.part"
        if folder.is_dir():
            tif = folder / f"{name}_unw_phase.tif"
            if tif.is_file() and md5_of(tif) == expected.tif_md5 and (folder / f"{name}.txt").is_file():
                check.intact += 1
                check.kept_bytes += expected.zip_size
            else:
                check.damaged.append("unpacked product differs")
        elif zip_path.exists():
            problem = zip_problem(zip_path, expected)
            if problem:
                check.damaged.append(problem)
            else:
                check.intact += 1
                check.kept_bytes += expected.zip_size
        elif part.exists():
            check.resumable += 1
            check.kept_bytes += part.stat().st_size
        else:
            check.missing += 1
    return check


# ---- the tools ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    seconds: float
    sent: int
    check: Check
    error: str = ""
    extract_s: float | None = None
    range_sent: int | None = None


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.served: dict[str, Served] = {}
        self.meter = ByteMeter()
        self.run_no = 0

    # set-up
    def start(self) -> None:
        from fakes.hyp3 import HyP3StandIn
        from hyp3_sdk import Batch, HyP3
        from insarhub_qgis.core.config import Endpoints
        from insarhub_qgis.core.hyp3 import Credentials, Hyp3Client, plan_jobs, refresh, submit_jobs

        install_meter(self.meter)
        bucket = self.tmp / "bucket"
        bucket.mkdir()
        payload = int(self.args.mib * 2**20)
        self.stand_in = HyP3StandIn(
            credits=None,
            token=TOKEN,
            polls_per_state=0,
            tmpdir=bucket,
            product_factory=product_factory(bucket, payload, self.served),
        )
        self.client = Hyp3Client.connect(Endpoints(hyp3_url=self.stand_in.url), Credentials.from_token(TOKEN))
        self.jobs_file = self.tmp / "jobs.json"
        submit_jobs(
            plan_jobs(pairs(self.args.products), "INSAR_GAMMA", {}, "bench"), self.jobs_file, self.client
        )
        started = time.perf_counter()
        self.stand_in.finish_all()  # makes the product zips
        print(f"  {len(self.served)} products made in {time.perf_counter() - started:.1f} s", flush=True)
        refresh(self.jobs_file, self.client)  # the jobs file now lists every product file
        hyp3 = HyP3(api_url=self.stand_in.url, token=TOKEN)
        self.batch = Batch([hyp3.get_job_by_id(job_id) for job_id in self.stand_in.jobs])
        assert all(job.succeeded() for job in self.batch)
        self.total = sum(s.zip_size for s in self.served.values())
        self.stand_in.delay(self.args.latency)
        self.stand_in.bandwidth_limit(self.args.mbps * 1e6)

    def close(self) -> None:
        self.stand_in.close()
        if self.stand_in.errors:
            print(f"stand-in errors: {self.stand_in.errors}", file=sys.stderr)

    def fresh(self, label: str) -> tuple[Path, Path]:
        self.run_no += 1
        folder = self.tmp / f"run{self.run_no:02d}-{label}"
        folder.mkdir()
        jobs = folder / "jobs.json"
        shutil.copy(self.jobs_file, jobs)
        return folder / "products", jobs

    def cleanup(self, out: Path) -> None:
        shutil.rmtree(out.parent, ignore_errors=True)

    # the plugin
    def plugin(
        self, out: Path, jobs: Path, workers: int | None = None, cancel_at: int | None = None
    ) -> Outcome:
        from insarhub_qgis.core.errors import CancelledError
        from insarhub_qgis.core.hyp3 import download_products

        self.meter.reset(trip_at=cancel_at)
        first = len(self.stand_in.requests)
        kwargs: dict[str, Any] = {} if workers is None else {"workers": workers}
        seen: list[int] = []
        error = ""
        started = time.perf_counter()
        try:
            result = download_products(
                jobs,
                out,
                client=self.client,
                progress=lambda done, total, eta: seen.append(done),
                is_cancelled=self.meter.tripped.is_set,
                **kwargs,
            )
            if result.failed:
                error = f"{len(result.failed)} failed"
        except CancelledError:
            error = "cancelled"
        seconds = time.perf_counter() - started
        time.sleep(0.3)  # let the server threads notice closed connections
        return Outcome(
            seconds, self.meter.total, check_plugin(out, self.served), error,
            range_sent=range_bytes(self.stand_in, first, self.served),
        )  # fmt: skip

    # hyp3_sdk
    def sdk(self, out: Path, extract: bool = False, interrupt_at: int | None = None) -> Outcome:
        from hyp3_sdk.util import extract_zipped_product

        self.meter.reset(trip_at=interrupt_at, on_trip=_thread.interrupt_main if interrupt_at else None)
        first = len(self.stand_in.requests)
        error = ""
        files: list[Path] = []
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                files = self.batch.download_files(out)
        except KeyboardInterrupt:
            error = "KeyboardInterrupt"
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        extract_s = None
        if extract and not error:
            started = time.perf_counter()
            for path in files:
                extract_zipped_product(path)
            extract_s = time.perf_counter() - started
        time.sleep(0.3)
        return Outcome(
            seconds, self.meter.total, check_zips(out, self.served), error, extract_s,
            range_sent=range_bytes(self.stand_in, first, self.served),
        )  # fmt: skip


def mb(count: float) -> str:
    return f"{count / 1e6:.0f} MB"


def benchmark(args: argparse.Namespace, tmp: Path) -> str:
    bench = Bench(args, tmp)
    print(
        f"Setting up {args.products} products of {args.mib:g} MiB (latency {args.latency} s, "
        f"{args.mbps:g} MB/s per connection) ...",
        flush=True,
    )
    bench.start()
    n, total = args.products, bench.total
    try:
        # ---- timed runs, interleaved
        runs: dict[str, list[Outcome]] = {"a": [], "a1": [], "b": []}
        order = ["a", "b", "a1"]
        for rep in range(args.runs):
            for key in order[rep % 3 :] + order[: rep % 3]:
                out, jobs = bench.fresh(key)
                if key == "a":
                    outcome = bench.plugin(out, jobs)
                elif key == "a1":
                    outcome = bench.plugin(out, jobs, workers=1)
                else:
                    outcome = bench.sdk(out, extract=True)
                runs[key].append(outcome)
                extra = f" + extract {outcome.extract_s:.1f} s" if outcome.extract_s is not None else ""
                print(
                    f"  run {rep + 1} {key:>2}: {outcome.seconds:6.1f} s{extra}, sent {mb(outcome.sent)}, "
                    f"{outcome.check.text(n)} {outcome.error}",
                    flush=True,
                )
                if outcome.range_sent != outcome.sent:
                    print(f"    note: meter {outcome.sent} B, Range arithmetic {outcome.range_sent} B")
                bench.cleanup(out)

        def med(key: str, extract: bool = False) -> float:
            values = [o.seconds + ((o.extract_s or 0.0) if extract else 0.0) for o in runs[key]]
            return _common.median(values)

        base = med("a")
        labels = [
            ("a", False, "(a) plugin `download_products`, default 4 workers (verify + unpack)"),
            ("a1", False, "(a1) plugin `download_products`, `workers=1` (verify + unpack)"),
            ("b", False, "(b) hyp3_sdk `Batch.download_files` (sequential, no checks, zips only)"),
            ("b", True, "(b+x) (b) + `extract_zipped_product` per zip"),
        ]
        rows = []
        for key, extract, label in labels:
            values = [o.seconds + ((o.extract_s or 0.0) if extract else 0.0) for o in runs[key]]
            checks = {o.check.text(n) for o in runs[key]}
            rows.append(
                [
                    label,
                    " / ".join(_common.seconds(v) for v in values),
                    _common.seconds(med(key, extract)),
                    f"{med(key, extract) / base:.2f}",
                    f"{mb(_common.median([o.sent for o in runs[key]]))}",
                    "; ".join(sorted(checks)),
                ]
            )
        timing = _common.table(
            ["tool", "runs (s)", "median (s)", "time / (a)", "bytes sent", "products afterwards"],
            rows,
            "lrrrrl",
        )

        # ---- (c1) interrupted at 50 % of the bytes, then run again
        half = total // 2
        print("Interruption at 50 % of the bytes, then a rerun ...", flush=True)
        c1_rows = []
        for label, first_call in (
            ("(a) plugin, Cancel (`is_cancelled`)", "plugin"),
            ("(b) hyp3_sdk, Ctrl-C (`KeyboardInterrupt`)", "sdk"),
        ):
            out, jobs = bench.fresh("c1")
            if first_call == "plugin":
                stopped = bench.plugin(out, jobs, cancel_at=half)
                again = bench.plugin(out, jobs)
            else:
                stopped = bench.sdk(out, interrupt_at=half)
                again = bench.sdk(out)
            missing = total - stopped.check.kept_bytes
            print(
                f"  {first_call}: stopped after {mb(stopped.sent)} ({stopped.error}), kept "
                f"{mb(stopped.check.kept_bytes)}, {stopped.check.text(n)}; rerun sent {mb(again.sent)} "
                f"in {again.seconds:.1f} s, {again.check.text(n)}",
                flush=True,
            )
            c1_rows.append(
                [
                    label,
                    f"{mb(stopped.sent)} ({stopped.sent / total:.0%})",
                    f"{mb(stopped.check.kept_bytes)}",
                    str(len(stopped.check.damaged)),
                    f"{mb(again.sent)}",
                    f"{again.sent / max(missing, 1):.2f}",
                    _common.seconds(again.seconds),
                    again.check.text(n),
                ]
            )
            bench.cleanup(out)
        c1 = _common.table(
            [
                "tool, how it was stopped",
                "sent before the stop",
                "usable on disk after the stop",
                "damaged files under their final name",
                "sent on the rerun",
                "rerun sent / still missing",
                "rerun (s)",
                "after the rerun",
            ],
            c1_rows,
            "lrrrrrrl",
        )

        # ---- (c2) every product's connection drops at half its size
        print("Every connection dropped at half its file ...", flush=True)
        c2_rows = []
        for label, tool in (("(a) plugin", "plugin"), ("(b) hyp3_sdk", "sdk")):
            out, jobs = bench.fresh("c2")
            for s in bench.served.values():
                bench.stand_in.drop_download_after(s.zip_size // 2, count=1, target=s.job_id)
            first = bench.plugin(out, jobs) if tool == "plugin" else bench.sdk(out)
            repair = ""
            repair_sent = 0
            if first.check.intact < n:
                again = bench.plugin(out, jobs) if tool == "plugin" else bench.sdk(out)
                repair_sent = again.sent
                repair = f"{mb(again.sent)} in {_common.seconds(again.seconds)} s -> {again.check.text(n)}"
            print(f"  {tool}: {first.seconds:.1f} s, sent {mb(first.sent)}, {first.check.text(n)}; {repair}")
            c2_rows.append(
                [
                    label,
                    _common.seconds(first.seconds),
                    first.error or "none (returned normally)",
                    first.check.text(n),
                    mb(first.sent),
                    repair or "not needed",
                    f"{(first.sent + repair_sent) / total:.2f}",
                ]
            )
            bench.cleanup(out)
        c2 = _common.table(
            [
                "tool",
                "call (s)",
                "error raised",
                "products after the call",
                "sent",
                "fetched again to repair (a second call)",
                "all bytes sent / product bytes",
            ],
            c2_rows,
            "lrllrll",
        )
    finally:
        bench.close()

    ratio_b = med("b") / base
    ratio_bx = med("b", True) / base
    return "\n".join(
        [
            f"{n} HyP3 products of {total / n / 1e6:.1f} MB each ({mb(total)} in all; {args.mib:g} MiB of "
            f"random bytes per zip, stored), served by the loopback HyP3 stand-in in the same process with "
            f"{args.latency:g} s latency before every answer and {args.mbps:g} MB/s per connection. "
            f"Fresh output folder per run; runs interleaved; median of {args.runs}.",
            "",
            "### Wall time",
            "",
            timing,
            "",
            f"hyp3_sdk takes {ratio_b:.2f}x the plugin's time for the zips alone and {ratio_bx:.2f}x "
            "to end with unpacked products like the plugin. 'bytes sent' counts product-body bytes "
            "the stand-in handed to its sockets.",
            "",
            "### (c1) Stopped at 50 % of the bytes, then the same call again",
            "",
            c1,
            "",
            "'still missing' = all product bytes minus the usable bytes on disk after the stop "
            "(intact products and resumable `.part` files); 1.00 means nothing is fetched twice.",
            "",
            "### (c2) Every product's connection dropped at half its size",
            "",
            c2,
        ]
    )


def main() -> int:
    args = parse_args()
    _common.use_plugin_and_fakes()
    with tempfile.TemporaryDirectory(prefix="bench-hyp3-download-") as tmp_name:
        started = time.perf_counter()
        load_before = os.getloadavg()[0]
        body = benchmark(args, Path(tmp_name))
        elapsed = time.perf_counter() - started
        print(f"\n(total {elapsed:.0f} s)\n")
    body += (
        f"\n\nWhole benchmark: {elapsed:.0f} s; 1-minute load average {load_before:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end (server and clients share this process and the 2 cores)."
    )
    print(body)
    if not args.no_write:
        import dask
        import requests
        import urllib3
        from insarhub_qgis.__about__ import __version__

        versions = {
            "InSARHub for QGIS": __version__,
            "hyp3_sdk": _common.package_version("hyp3_sdk"),
            "requests": requests.__version__,
            "urllib3": urllib3.__version__,
            "MintPy": _common.package_version("mintpy"),
            "dask": dask.__version__,
        }
        path = _common.write_result(NAME, "Benchmark: downloading HyP3 products (issue 5)", body, versions)
        print(f"\nWritten {path.relative_to(_common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
