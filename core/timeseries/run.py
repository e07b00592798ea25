"""Run MintPy's ``smallbaselineApp`` as a cancellable subprocess.

MintPy never runs inside the calling process (which may be QGIS): it changes directory, switches the
matplotlib backend and may start dask workers. It runs as ``<python> -m mintpy.cli.smallbaselineApp CFG``
in a session (process group) of its own, so that cancelling kills the whole tree, dask workers included.
Its output streams to a callback and to ``WORKDIR/mintpy.log``; the step headers MintPy prints
(``******************** step - load_data ********************``) drive the progress. A rerun in the same
work folder reuses what MintPy considers up to date (its own update checks).
"""

from __future__ import annotations

import ast
import codecs
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Deque, Dict, List, Mapping, Sequence, Tuple

from ..errors import CancelledError, ConfigurationError, InsarhubError, MintpyNotFoundError
from .stack_worker import PREPARED_STACK

STACK_WORKER = Path(__file__).resolve().parent / "stack_worker.py"

#: smallbaselineApp's steps in MintPy 1.6.4 (``mintpy.defaults.template.STEP_LIST``); the run announces
#: its own list, which replaces this one.
MINTPY_STEPS: Tuple[str, ...] = (
    "load_data",
    "modify_network",
    "reference_point",
    "quick_overview",
    "correct_unwrap_error",
    "invert_network",
    "correct_LOD",
    "correct_SET",
    "correct_ionosphere",
    "correct_troposphere",
    "deramp",
    "correct_topography",
    "residual_RMS",
    "reference_date",
    "velocity",
    "geocode",
    "google_earth",
    "hdfeos5",
)
LOG_NAME = "mintpy.log"
_STEP_RE = re.compile(r"^\*{5,}\s*step - (\w+)\s*\*{5,}\s*$")
_PLOT_RE = re.compile(r"^\*{5,}\s*plot & save to pic\s*\*{5,}\s*$")
_STEPS_RE = re.compile(r"on steps: (\[[^\]]*\])")
_PERCENT_RE = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_TAIL_LINES = 20
# What an interrupted step leaves half-written and MintPy's own update check would take as done.
_PARTIAL_OUTPUTS: Dict[str, Tuple[str, ...]] = {
    "load_data": ("inputs/ifgramStack.h5", "inputs/geometryGeo.h5", "inputs/geometryRadar.h5"),
    "velocity": ("velocity.h5",),
}


class MintpyRunError(InsarhubError):
    """MintPy's smallbaselineApp stopped with an error.

    ``step`` is the step that failed (``startup`` before the first step), ``log_tail`` its last log lines,
    ``log_path`` the full log.
    """

    def __init__(self, message: str, *, step: str, returncode: int, log_tail: Sequence[str], log_path: Path):
        super().__init__(message)
        self.step = step
        self.returncode = returncode
        self.log_tail = list(log_tail)
        self.log_path = log_path


@dataclass
class RunResult:
    """A finished smallbaselineApp run."""

    returncode: int
    steps: List[str]  # the step headers seen, in order
    elapsed_s: float
    log_path: Path
    log_tail: List[str] = field(default_factory=list)


def _noop(*_: object) -> None:
    pass


def _never() -> bool:
    return False


# ----------------------------------------------------------------------------------- environment
def mintpy_environment(python: str, base: Mapping[str, str] | None = None) -> Dict[str, str]:
    """The environment MintPy runs in: the caller's without its Python paths, a non-GUI matplotlib
    backend, unbuffered output, and PROJ/GDAL data of the interpreter's own environment when it has them.

    The caller may be QGIS, whose ``PYTHONPATH``/``PYTHONHOME`` and PROJ database belong to another
    Python and PROJ version.
    """
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    prefix = Path(python).resolve().parent.parent
    # a conda environment ships its own PROJ/GDAL data; a venv or the system Python use the system's
    for var, sub, marker in (
        ("PROJ_DATA", "share/proj", "proj.db"),
        ("GDAL_DATA", "share/gdal", "gdalvrt.xsd"),
    ):
        own = prefix / sub
        if os.name == "nt":
            own = prefix / "Library" / sub
        if (own / marker).is_file():
            env[var] = str(own)
            if var == "PROJ_DATA":
                env.pop("PROJ_LIB", None)
    if "PROJ_DATA" not in env and "PROJ_LIB" not in env and Path("/usr/share/proj/proj.db").is_file():
        env["PROJ_DATA"] = "/usr/share/proj"
    return env


# --------------------------------------------------------------------------------- process tree
def _children_map() -> Dict[int, List[int]]:
    """ppid -> pids of every process (Linux /proc), or {} where there is no /proc."""
    children: Dict[int, List[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return children
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(pid: int) -> List[int]:
    """Process ids of every descendant of ``pid`` (psutil when installed, else /proc)."""
    try:
        import psutil

        try:
            return [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []
    except ImportError:
        pass
    tree = _children_map()
    out: List[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(tree.get(child, []))
    return out


def _signal_all(pgid: int, pids: Sequence[int], sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_process_tree(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """Terminate ``proc`` (started with ``start_new_session=True``) and everything it started.

    SIGTERM to the process group and every known descendant (some may have left the group), SIGKILL to
    what is left after ``grace_s`` seconds; Windows: ``taskkill /T /F``.
    """
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(proc.pid)], capture_output=True, check=False)
        proc.wait()
        return
    pgid = proc.pid  # the session leader's pid is its group id
    known = descendants(proc.pid)
    _signal_all(pgid, known, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _alive(pgid, known):
            break
        time.sleep(0.1)
    known = sorted(set(known) | set(descendants(proc.pid)))
    _signal_all(pgid, known, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + grace_s
    while _alive(pgid, known) and time.monotonic() < deadline:
        time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # gone
    return text[text.rfind(")") + 2 :].startswith("Z")


def _alive(pgid: int, pids: Sequence[int]) -> bool:
    """True while a (non-zombie) process of the group or of ``pids`` still runs."""
    members = list(pids)
    if Path("/proc").is_dir():
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == pgid:
                        members.append(int(entry.name))
                except (ProcessLookupError, PermissionError, OSError):
                    continue
    return any(not _is_zombie(pid) for pid in members if pid_exists(pid))


def pid_exists(pid: int) -> bool:
    """True when a process ``pid`` exists (zombies included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------------------- output
def _reader(stream, out: queue.Queue) -> None:
    """Split the child's output into full lines (``\\n``) and transient progress-bar updates (``\\r``)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    buf = ""
    fd = stream.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += decoder.decode(chunk)
        while True:
            i_n, i_r = buf.find("\n"), buf.find("\r")
            if i_n < 0 and i_r < 0:
                break
            if i_r >= 0 and (i_n < 0 or i_r < i_n):
                if i_r == len(buf) - 1:
                    break  # a \r\n may be split across reads
                if buf[i_r + 1] == "\n":
                    out.put(("line", buf[:i_r]))
                    buf = buf[i_r + 2 :]
                else:
                    out.put(("bar", buf[:i_r]))
                    buf = buf[i_r + 1 :]
            else:
                out.put(("line", buf[:i_n]))
                buf = buf[i_n + 1 :]
    buf += decoder.decode(b"", final=True)
    if buf.strip("\r"):
        out.put(("line", buf.rstrip("\r")))
    out.put(("eof", ""))


def _error_headline(lines: Sequence[str]) -> str:
    """The exception line of the last traceback, or the last ERROR line."""
    for line in reversed(lines):
        text = line.strip()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*", text) or text.startswith("ERROR"):
            return text
    return ""


def _remove_partial(workdir: Path, step: str | None, log: Callable[[str], None]) -> None:
    for rel in _PARTIAL_OUTPUTS.get(step or "", ()):
        path = workdir / rel
        if path.exists():
            path.unlink()
            log(f"Removed {rel}, left incomplete by the interrupted step {step}.")


# ------------------------------------------------------------------------- cluster jobs (dask-jobqueue)
#: The batch system's commands: submit, cancel.
JOBQUEUE_COMMANDS: Dict[str, Tuple[str, str]] = {"slurm": ("sbatch", "scancel"), "pbs": ("qsub", "qdel")}
CLUSTER_FOLDER = ".insarhub-cluster"  # in the work folder: the submit wrapper and the job ids
_SUBMITTED = "submitted.txt"

_CHECK_JOBQUEUE = r"""
import json, sys
out = {}
try:
    import dask
    import dask.config
except Exception as exc:
    print(json.dumps({"dask_error": f"{type(exc).__name__}: {exc}"}))
    sys.exit(0)
out["paths"] = [str(p) for p in getattr(dask.config, "paths", [])]
# What MintPy reads before it imports dask_jobqueue (mintpy/objects/cluster.py):
jobqueue = dask.config.get("jobqueue", None)
out["sections"] = sorted(jobqueue) if isinstance(jobqueue, dict) else None
section = jobqueue.get(sys.argv[1]) if isinstance(jobqueue, dict) else None
out["section"] = {k: v for k, v in section.items() if k in ("cores", "memory", "processes", "queue", "walltime")} if isinstance(section, dict) else None
try:
    import dask_jobqueue
    out["dask_jobqueue"] = getattr(dask_jobqueue, "__version__", "?")
except Exception as exc:
    out["dask_jobqueue_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out, default=str))
"""


def cluster_of(cfg_path: os.PathLike | str) -> Tuple[str, str] | None:
    """``(kind, dask config section)`` of a MintPy configuration that uses Slurm or PBS, else ``None``."""
    values: Dict[str, str] = {}
    for raw in Path(cfg_path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            values[key] = value
    kind = values.get("mintpy.compute.cluster", "none").lower()
    if kind not in JOBQUEUE_COMMANDS:
        return None
    section = values.get("mintpy.compute.config", "auto")
    return kind, (kind if section.lower() in ("", "auto", "none", "no") else section)


def _dask_config_file(environ: Mapping[str, str]) -> str:
    folder = environ.get("DASK_CONFIG") or "~/.config/dask"
    return f"{folder.rstrip('/')}/jobqueue.yaml"


def check_jobqueue_config(python: str, kind: str, section: str, env: Mapping[str, str]) -> None:
    """Check, with MintPy's Python, what MintPy will need to start ``kind`` workers; before it runs.

    MintPy reads the ``jobqueue`` section of the dask configuration *before* it imports
    dask-jobqueue, so without one it fails with ``KeyError: 'jobqueue'`` only after every earlier
    step ran. Raises :class:`ConfigurationError` saying which file and section to write (or what
    to install, or that the batch system's commands are missing).
    """
    submit = JOBQUEUE_COMMANDS[kind][0]
    if _which(submit, env) is None:
        raise ConfigurationError(
            f"COMPUTE_CLUSTER={kind} submits MintPy's workers with '{submit}', which is not on PATH here. Run "
            f"from a machine where the {kind.upper()} commands work (a login node of the cluster), or use "
            "COMPUTE_CLUSTER=local or none."
        )
    try:
        done = subprocess.run(
            [python, "-c", _CHECK_JOBQUEUE, section],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        raise ConfigurationError(
            f"Could not check MintPy's dask configuration with {python} ({type(exc).__name__}: {exc})."
        ) from None
    where = _dask_config_file(env)
    example = (
        f"jobqueue:\n  {section}:\n    cores: 4\n    memory: 16GB\n    processes: 1\n"
        f"    walltime: '01:00:00'\n    queue: <your queue>"
    )
    if "dask_error" in answer or not answer:
        raise ConfigurationError(
            f"MintPy's Python ({python}) cannot import dask ({answer.get('dask_error') or done.stderr.strip()[-300:]}); "
            f"COMPUTE_CLUSTER={kind} needs dask and dask-jobqueue installed there."
        )
    if answer.get("sections") is None:
        paths = ", ".join(answer.get("paths") or []) or "its configuration folders"
        raise ConfigurationError(
            f"COMPUTE_CLUSTER={kind} needs a 'jobqueue:' section with a '{section}:' entry in the dask "
            f"configuration of MintPy's Python, and it has none (MintPy would stop with KeyError: 'jobqueue' "
            f"after all earlier steps). Write it to {where} (dask reads {paths}), for example:\n{example}"
        )
    if answer.get("section") is None:
        have = ", ".join(answer["sections"]) or "none"
        raise ConfigurationError(
            f"The dask configuration's 'jobqueue:' section has no '{section}:' entry (it has: {have}). Add one "
            f"to {where}, for example:\n{example}"
        )
    missing = [key for key in ("cores", "memory") if not answer["section"].get(key)]
    if missing:
        raise ConfigurationError(
            f"The 'jobqueue: {section}:' entry of the dask configuration does not set {' and '.join(missing)}; "
            f"dask-jobqueue needs both to start workers. Set them in {where}, for example:\n{example}"
        )
    if "dask_jobqueue_error" in answer:
        raise ConfigurationError(
            f"MintPy's Python ({python}) cannot import dask-jobqueue ({answer['dask_jobqueue_error']}); install "
            f"it there: {python} -m pip install dask-jobqueue"
        )


def _which(command: str, env: Mapping[str, str]) -> str | None:
    import shutil

    return shutil.which(command, path=env.get("PATH") or os.defpath)


@dataclass
class ClusterJobs:
    """The batch jobs one MintPy run submits, recorded as dask-jobqueue submits them.

    A small ``sbatch``/``qsub`` in ``folder/bin`` (first on MintPy's ``PATH``) runs the real
    command and appends its answer to ``folder/submitted.txt``; :meth:`cancel` then cancels
    exactly those job ids (never anyone else's): on Cancel, at the end of a failed run, and when
    a later run in the same work folder finds ids an earlier, interrupted one left.
    """

    kind: str
    folder: Path
    submit: str  # the real sbatch/qsub
    cancel_command: str  # the real scancel/qdel
    env: Dict[str, str] = field(default_factory=dict)  # MintPy's environment (SLURM_CONF, PATH...)

    @classmethod
    def prepare(cls, workdir: Path, kind: str, env: Mapping[str, str], log: Callable[[str], None]) -> ClusterJobs:
        submit_name, cancel_name = JOBQUEUE_COMMANDS[kind]
        submit, cancel = _which(submit_name, env), _which(cancel_name, env)
        if submit is None or cancel is None:
            missing = submit_name if submit is None else cancel_name
            raise ConfigurationError(f"'{missing}' is not on PATH: COMPUTE_CLUSTER={kind} needs the {kind.upper()} commands.")
        jobs = cls(kind, workdir / CLUSTER_FOLDER, submit, cancel, dict(env))
        left = jobs.ids()
        if left:
            log(f"An earlier, interrupted run in this work folder left {kind} job(s) {', '.join(left)}: cancelling them.")
            jobs.cancel(log)
        bin_dir = jobs.folder / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        (jobs.folder / _SUBMITTED).write_text("", encoding="utf-8")
        import shlex

        wrapper = bin_dir / submit_name
        wrapper.write_text(
            "#!/bin/sh\n"
            f"# Written by InSARHub for QGIS: runs {submit} and records the job id, so that Cancel and a\n"
            "# failed run cancel exactly the jobs this MintPy run started.\n"
            f'out=$({shlex.quote(submit)} "$@")\n'
            "status=$?\n"
            '[ -n "$out" ] && printf \'%s\\n\' "$out"\n'
            f'[ $status -eq 0 ] && printf \'%s\\n\' "$out" >> {shlex.quote(str(jobs.folder / _SUBMITTED))}\n'
            "exit $status\n",
            encoding="utf-8",
        )
        wrapper.chmod(0o755)
        return jobs

    def environment(self, env: Mapping[str, str]) -> Dict[str, str]:
        """``env`` with the recording ``sbatch``/``qsub`` first on ``PATH``."""
        out = dict(env)
        out["PATH"] = os.pathsep.join([str(self.folder / "bin"), out.get("PATH") or os.defpath])
        return out

    def ids(self) -> List[str]:
        """The job ids submitted so far (in order, each once)."""
        try:
            text = (self.folder / _SUBMITTED).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        found: List[str] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            # Slurm: "Submitted batch job 123" (or "123;cluster" with --parsable); PBS: "123.server".
            match = re.search(r"(\d+)", line) if self.kind == "slurm" else re.match(r"\s*(\S+)", line)
            if match and match.group(1) not in found:
                found.append(match.group(1))
        return found

    def cancel(self, log: Callable[[str], None]) -> List[str]:
        """Cancel every recorded job (those already finished are ignored by the batch system)."""
        ids = self.ids()
        if not ids:
            return []
        command = [self.cancel_command, *ids]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=self.env or None)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log(f"Could not cancel the {self.kind} jobs {', '.join(ids)} ({exc}); cancel them by hand: {' '.join(command)}")
            return []
        if done.returncode != 0:
            log(
                f"{os.path.basename(self.cancel_command)} failed for the {self.kind} jobs {', '.join(ids)}: "
                f"{(done.stderr or done.stdout).strip()[:500]}. Cancel them by hand: {' '.join(command)}"
            )
            return []
        log(f"Cancelled the {len(ids)} {self.kind} job(s) this MintPy run started: {', '.join(ids)}.")
        try:
            (self.folder / _SUBMITTED).write_text("", encoding="utf-8")
        except OSError:
            pass
        return ids


def _error_text(lines: Sequence[str], limit: int = 40) -> str:
    """The last error in full: a traceback's exception with every line of its message (dask-jobqueue's
    errors run over several lines), or the last ERROR line."""
    for index in range(len(lines) - 1, -1, -1):
        text = lines[index].strip()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*", text) or text.startswith("ERROR"):
            # a multi-line message continues until the end (or the next log line)
            return "\n".join(line.rstrip() for line in lines[index : index + limit]).strip()
    return ""


# --------------------------------------------------------------------------------------- main
def run_smallbaseline(
    cfg_path: os.PathLike | str,
    workdir: os.PathLike | str,
    python: str,
    *,
    log: Callable[[str], None] = _noop,
    progress: Callable[[int, int, str], None] = _noop,
    progress_percent: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] = _never,
    poll_s: float = 0.5,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    append_log: bool = False,
    hold_fds: Sequence[int] = (),
) -> RunResult:
    """Run ``python -m mintpy.cli.smallbaselineApp cfg_path`` in ``workdir`` and wait for it. When the
    preparation wrote the interferogram stack (``workdir/inputs/insarhub_stack.h5``), ``python
    stack_worker.py smallbaselineApp cfg_path`` instead: the same run, whose ``load_data`` takes that stack
    rather than reading the products again (:mod:`.stack_worker`).

    Parameters
    ----------
    cfg_path: the configuration (e.g. from :func:`~.config.write_config`).
    workdir: MintPy's work folder (its outputs: ``velocity.h5``, ``timeseries.h5``, ...); the full output
        goes to ``workdir/mintpy.log`` (the previous run's to ``mintpy.log.1``).
    python: an interpreter with MintPy (:func:`~insarhub_qgis.core.mintpy_env.find_mintpy_python`).
    log: receives every non-empty output line (progress-bar redraws excluded, their final state kept).
    progress: ``(step_index, step_count, step_name)`` at the start of every step (index from 0).
    progress_percent: the overall percentage, including progress bars within a step.
    is_cancelled: polled every ``poll_s`` seconds; when True the whole process tree is killed and
        :class:`CancelledError` raised.
    extra_args: more smallbaselineApp arguments (e.g. ``["--dostep", "velocity"]``).
    env: base environment (default ``os.environ``), cleaned by :func:`mintpy_environment`.
    append_log: continue ``mintpy.log`` instead of starting it afresh (a run made of several segments).
    hold_fds: open files MintPy inherits, such as the work folder's lock (:func:`~insarhub_qgis.core.filelock.folder_lock`):
        the lock then lasts as long as MintPy does, even when the process that started it dies first.

    Raises
    ------
    MintpyNotFoundError: ``python`` does not exist or has no MintPy.
    MintpyRunError: MintPy exited with an error (message names the step and quotes the log's end).
    CancelledError: cancelled; no MintPy process is left running.
    """
    workdir = Path(workdir).resolve()
    cfg_path = Path(cfg_path).resolve()
    if not python or not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise MintpyNotFoundError(
            f"The MintPy interpreter '{python}' does not exist or is not executable. Set the python of an "
            "environment with MintPy in the InSARHub options or in INSARHUB_MINTPY_PYTHON."
        )
    if not cfg_path.is_file():
        raise FileNotFoundError(f"MintPy configuration not found: {cfg_path}")
    workdir.mkdir(parents=True, exist_ok=True)
    base_env = mintpy_environment(python, env)
    cluster = cluster_of(cfg_path)
    cluster_jobs: ClusterJobs | None = None
    if cluster is not None and os.name != "nt":
        # Before MintPy starts: a missing dask-jobqueue setting would stop it only at invert_network.
        check_jobqueue_config(python, cluster[0], cluster[1], base_env)
        cluster_jobs = ClusterJobs.prepare(workdir, cluster[0], base_env, log)
        base_env = cluster_jobs.environment(base_env)
    log_path = workdir / LOG_NAME
    if log_path.exists() and not append_log:
        os.replace(log_path, log_path.with_name(LOG_NAME + ".1"))

    command = [python, "-m", "mintpy.cli.smallbaselineApp", str(cfg_path), "--dir", str(workdir), *extra_args]
    if (workdir / "inputs" / PREPARED_STACK).is_file():  # load_data takes the stack the preparation wrote
        command[1:3] = [str(STACK_WORKER), "smallbaselineApp"]
    steps: List[str] = list(MINTPY_STEPS)
    seen: List[str] = []
    tail: Deque[str] = deque(maxlen=200)
    current: str | None = None
    started = time.monotonic()
    popen_kwargs: Dict[str, object] = {}
    if os.name == "nt":  # pragma: no cover
        popen_kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    else:
        popen_kwargs["start_new_session"] = True
        if hold_fds:
            popen_kwargs["pass_fds"] = tuple(hold_fds)

    def report_percent(fraction_in_step: float) -> None:
        if progress_percent is None:
            return
        index = steps.index(current) if current in steps else (len(steps) if current == "plot" else 0)
        progress_percent(
            100.0 * min(len(steps), index + max(0.0, min(1.0, fraction_in_step))) / max(len(steps), 1)
        )

    with open(log_path, "a" if append_log else "w", encoding="utf-8") as log_file:
        log_file.write(
            f"# {' '.join(command)}\n# in {workdir}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        )
        log_file.flush()
        try:
            proc = subprocess.Popen(
                command,
                cwd=str(workdir),
                env=base_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                **popen_kwargs,  # type: ignore[arg-type]
            )
        except OSError as exc:
            raise MintpyNotFoundError(
                f"The MintPy interpreter '{python}' could not be started ({exc})."
            ) from exc
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True)
        reader.start()
        cancelled = False
        eof = False

        def handle(kind: str, text: str) -> None:
            nonlocal steps, current
            if kind == "bar":
                m = _PERCENT_RE.search(text)
                if m:
                    report_percent(float(m.group(1)) / 100.0)
                return
            log_file.write(text + "\n")
            log_file.flush()
            tail.append(text)
            m = _STEPS_RE.search(text)
            if m and "smallbaselineApp" in text:
                try:
                    announced = [str(s) for s in ast.literal_eval(m.group(1))]
                    if announced:
                        steps = announced
                except (ValueError, SyntaxError):
                    pass
            step_match = _STEP_RE.match(text.strip())
            if step_match or _PLOT_RE.match(text.strip()):
                current = step_match.group(1) if step_match else "plot"
                seen.append(current)
                index = steps.index(current) if current in steps else len(steps)
                progress(index, len(steps), current)
                report_percent(0.0)
            if text.strip():
                log(text)

        try:
            drain_until = 0.0
            while not eof:
                if not cancelled and is_cancelled():
                    cancelled = True
                    # Stop MintPy now, then read what it printed up to then (until its output
                    # ends): the step it was in and the log are then exact, whatever the timing.
                    if proc.poll() is None:
                        kill_process_tree(proc)
                    drain_until = time.monotonic() + 5.0
                if cancelled and time.monotonic() > drain_until:
                    break
                try:
                    kind, text = lines.get(timeout=poll_s)
                except queue.Empty:
                    continue
                if kind == "eof":
                    eof = True
                    break
                handle(kind, text)
        finally:
            if proc.poll() is None and (cancelled or not eof):
                kill_process_tree(proc)
            if cancelled or not eof:
                if cluster_jobs is not None:
                    # The workers are batch jobs, not MintPy's children: the kill did not reach them.
                    cluster_jobs.cancel(log)
                reader.join(timeout=5)
                # What MintPy printed before it was stopped still counts: the log keeps it and the
                # message names the step it had reached (not the last step this loop had read).
                while True:
                    try:
                        kind, text = lines.get_nowait()
                    except queue.Empty:
                        break
                    if kind != "eof":
                        handle(kind, text)
                _remove_partial(workdir, current, log)
                if proc.stdout is not None:
                    proc.stdout.close()
        if cancelled:
            log_file.write("# cancelled by the user\n")
            raise CancelledError(
                f"The MintPy run was cancelled during step '{current or 'startup'}'. Run again with the same "
                "work folder to continue from the last finished step."
            )
        returncode = proc.wait()
        reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
    elapsed = time.monotonic() - started
    last = [line for line in tail if line.strip()][-_TAIL_LINES:]
    if cluster_jobs is not None:
        # dask-jobqueue cancels its jobs when MintPy closes the cluster; a failed run may not.
        cluster_jobs.cancel(log if returncode != 0 else _noop)
    if returncode != 0:
        text = "\n".join(last)
        if "No module named mintpy" in text or "No module named 'mintpy'" in text:
            raise MintpyNotFoundError(
                f"'{python}' has no MintPy. Point the InSARHub options (or INSARHUB_MINTPY_PYTHON) at the "
                "python of an environment with MintPy."
            )
        _remove_partial(workdir, current, log)
        step = current or "startup"
        error = _error_text([line for line in tail if line.strip()])
        shown = "\n".join(line for line in last if line.strip() and line.strip() not in error)
        raise MintpyRunError(
            f"MintPy failed in step '{step}' (exit code {returncode})"
            + (f": {error}" if error else "")
            + f"\nLast lines of {log_path}:\n{shown or text}",
            step=step,
            returncode=returncode,
            log_tail=last,
            log_path=log_path,
        )
    if progress_percent is not None:
        progress_percent(100.0)
    return RunResult(returncode=returncode, steps=seen, elapsed_s=elapsed, log_path=log_path, log_tail=last)
