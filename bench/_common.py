"""What the benchmarks share: paths, the machine and versions, Markdown tables, result files.

The project's rule: speed is measured here, as ratios against the alternative, run in one
process on the same data, recorded with the command that reproduces them; never asserted
as wall-clock limits in tests.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
README = BENCH / "README.md"
PLUGIN_PARENT = ROOT / ".venv" / "qgis-plugins"


def use_plugin_and_fakes() -> None:
    """Make ``insarhub_qgis`` (the repository root) and the test stand-ins (``fakes``) importable.

    Same set-up as tests/conftest.py: the plugin is the repository root, linked as
    ``.venv/qgis-plugins/insarhub_qgis``.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
    link = PLUGIN_PARENT / "insarhub_qgis"
    PLUGIN_PARENT.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(ROOT, target_is_directory=True)
    for path in (str(PLUGIN_PARENT), str(ROOT / "tests")):
        if path not in sys.path:
            sys.path.insert(0, path)


def command() -> str:
    """The command line that reproduces this run, relative to the repository root."""
    exe = Path(sys.executable)
    try:
        exe_text = str(exe.relative_to(ROOT)) if exe.is_absolute() else str(exe)
    except ValueError:
        exe_text = str(exe)
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = str(script)
    return " ".join([exe_text, script_text, *(shlex.quote(a) for a in sys.argv[1:])])


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (``unknown`` when it says nothing)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def memory_gib() -> str:
    try:
        text = Path("/proc/meminfo").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return f"{int(match.group(1)) / 2**20:.1f} GiB" if match else "unknown"


def machine_lines(versions: dict[str, str]) -> list[str]:
    """Markdown bullet lines: date, machine (nproc, CPU, memory), Python and package versions."""
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    lines = [
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: nproc {nproc}, CPU {cpu_model()}, memory {memory_gib()}, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        "- versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
    ]
    if blas:
        lines.append("- environment: " + ", ".join(f"{k}={v}" for k, v in sorted(blas.items())))
    return lines


def package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` has one letter per column (l or r, default r after the first)."""
    align = align or "l" + "r" * (len(headers) - 1)
    marks = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def timed(function: Callable[..., Any], totals: dict[str, float], key: str) -> Callable[..., Any]:
    """``function`` wrapped so that its wall time is added to ``totals[key]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start

    wrapper.__wrapped__ = function  # type: ignore[attr-defined]
    return wrapper


def write_result(name: str, title: str, body: str, versions: dict[str, str]) -> Path:
    """Write ``bench/results/<name>.md`` (command, date, machine, versions, then ``body``)
    and copy ``body`` into bench/README.md between the markers of ``name``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    header = [f"# {title}", "", "Reproduce (from the repository root):", "", "```bash", command(), "```", ""]
    text = "\n".join(header + machine_lines(versions) + ["", body.rstrip(), ""])
    path = RESULTS / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    _update_readme(name, text)
    return path


def _update_readme(name: str, result_text: str) -> None:
    """Replace the block between ``<!-- <name>:start -->`` and ``<!-- <name>:end -->`` in README.md."""
    if not README.exists():
        return
    readme = README.read_text(encoding="utf-8")
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in readme or end not in readme:
        return
    # The result file without its title: the README has its own heading per benchmark.
    body = result_text.split("\n", 1)[1].strip()
    before, rest = readme.split(start, 1)
    _, after = rest.split(end, 1)
    README.write_text(f"{before}{start}\n{body}\n{end}{after}", encoding="utf-8")
