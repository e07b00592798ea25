"""Issue 14, item 6: MintPy on a real single-node Slurm cluster cleans up after itself.

The ``slurm`` fixture starts a private Slurm of its own: munged (own key and socket), slurmctld
and slurmd (own configuration, state folders and free ports; ``ProctrackType=proctrack/linuxproc``
and ``TaskPlugin=task/none``, so no cgroups are needed), one node, one partition. MintPy's dask
workers then run as Slurm jobs, not as MintPy's children: the tests check that Cancel and a
failed run cancel exactly those jobs, that a missing ``jobqueue:`` section is reported before
MintPy starts, and that a multi-line error reaches the message whole. The Slurm packages
(``slurmctld slurmd slurm-client munge``) come with ``make setup``; where the daemons cannot run
(not root, packages missing, a daemon that does not come up) the tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from insarhub_qgis.core.errors import CancelledError, ConfigurationError
from insarhub_qgis.core.timeseries import (
    MintpyRunError,
    prepare_products,
    run_segments,
    run_smallbaseline,
    write_config,
)
from insarhub_qgis.core.timeseries.run import CLUSTER_FOLDER, ClusterJobs

pytestmark = pytest.mark.slow
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Slurm:
    """A private single-node Slurm: ``env`` points every Slurm command at it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.node = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        self.socket = root / "munge" / "munge.socket"
        self.procs: list[subprocess.Popen] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def _munge(self) -> None:
        folder = self.root / "munge"
        folder.mkdir(mode=0o700)
        key = folder / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        subprocess.run(
            [
                shutil.which("munged"), "--force", f"--key-file={key}", f"--socket={self.socket}",
                f"--pid-file={folder / 'munged.pid'}", f"--log-file={folder / 'munged.log'}",
                f"--seed-file={folder / 'munged.seed'}",
            ],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

    def _config(self) -> None:
        cpus = os.cpu_count() or 1
        total_mb = 4096
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total_mb = int(line.split()[1]) // 1024
        memory_mb = max(2048, min(8192, total_mb // 2))  # what the node offers jobs (each worker asks 1 GB)
        for name in ("state", "spool", "log"):
            (self.root / name).mkdir()
        version = subprocess.run(["slurmd", "-V"], capture_output=True, text=True).stdout.split()[-1]
        major, minor = (int(part) for part in version.split(".")[:2])
        if (major, minor) >= (24, 5):
            # Without systemd or a cgroup file system (a chroot, a container) slurmd >= 24.05 would
            # still initialise cgroups and stop; proctrack/linuxproc and task/none need none.
            (self.root / "cgroup.conf").write_text("CgroupPlugin=disabled\n")
        self.conf.write_text(
            textwrap.dedent(
                f"""\
                ClusterName=insarhub
                SlurmctldHost={self.node}(127.0.0.1)
                SlurmctldPort={_free_port()}
                SlurmdPort={_free_port()}
                AuthType=auth/munge
                AuthInfo=socket={self.socket}
                CredType=cred/munge
                SlurmUser=root
                SlurmdUser=root
                StateSaveLocation={self.root / 'state'}
                SlurmdSpoolDir={self.root / 'spool'}
                SlurmctldPidFile={self.root / 'slurmctld.pid'}
                SlurmdPidFile={self.root / 'slurmd.pid'}
                SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}
                SlurmdLogFile={self.root / 'log' / 'slurmd.log'}
                ProctrackType=proctrack/linuxproc
                TaskPlugin=task/none
                JobAcctGatherType=jobacct_gather/none
                AccountingStorageType=accounting_storage/none
                JobCompType=jobcomp/none
                SchedulerType=sched/backfill
                SelectType=select/cons_tres
                SelectTypeParameters=CR_Core
                SlurmdParameters=config_overrides
                ReturnToService=2
                MpiDefault=none
                MailProg=/bin/true
                NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
                PartitionName=insarhub Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
                """
            )
        )

    def start(self) -> None:
        self._munge()
        self._config()
        for command in (["slurmctld", "-D", "-f", str(self.conf)], ["slurmd", "-D", "-f", str(self.conf), "-N", self.node]):
            log = open(self.root / "log" / f"{command[0]}.out", "wb")  # noqa: SIM115 - closed in stop()
            self.procs.append(
                subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
            time.sleep(1.0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%T").stdout.strip()
            if state.startswith("idle"):
                return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.5)
        raise RuntimeError(f"the node did not come up (sinfo: {state!r}); {self.logs()}")

    def run(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(command), env=self.env, capture_output=True, text=True, timeout=60)

    def queued(self, ids: list[str]) -> list[str]:
        """Which of ``ids`` are still pending or running."""
        if not ids:
            return []
        out = self.run("squeue", "-h", "-o", "%i %T", "-j", ",".join(ids)).stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            text = path.read_text(errors="replace").strip().splitlines()[-8:]
            parts.append(f"{path.name}: " + " | ".join(text))
        return "; ".join(parts)

    def stop(self) -> None:
        self.run("scancel", "--quiet", "--partition=insarhub")  # this private cluster's jobs only
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        pid_file = self.root / "munge" / "munged.pid"
        if pid_file.is_file():
            try:
                os.kill(int(pid_file.read_text().strip()), 15)
            except (OSError, ValueError):
                pass


@pytest.fixture(scope="module")
def slurm() -> Iterator[Slurm]:
    if not sys.platform.startswith("linux"):
        pytest.skip("the private Slurm cluster needs Linux")
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld, slurmd and munged needs root (CI and the platform chroots run as root)")
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing): make setup installs slurmctld, slurmd, slurm-client and munge")
    root = Path(tempfile.mkdtemp(prefix="insarhub-slurm-", dir="/tmp"))
    root.chmod(0o755)
    cluster = Slurm(root)
    try:
        cluster.start()
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        cluster.stop()
        pytest.skip(f"the private Slurm cluster could not start: {exc}")
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> Path:
    from fakes.products import make_stack

    folder = tmp_path_factory.mktemp("slurm-products") / "download"
    make_stack(folder, n_dates=10, n_pairs=20, seed=3)
    return folder


def _dask_config(folder: Path, section: str | None = "slurm") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if section:
        (folder / "jobqueue.yaml").write_text(
            textwrap.dedent(
                f"""\
                jobqueue:
                  {section}:
                    name: insarhub-test-worker
                    cores: 1
                    memory: 1GB
                    processes: 1
                    walltime: "00:10:00"
                    queue: insarhub
                    interface: lo
                    local-directory: {folder / 'dask'}
                    log-directory: {folder / 'logs'}
                    scheduler-options:
                      interface: lo
                """
            )
        )
    return folder


def _world_readable_tmp() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="insarhub-slurm-run-", dir="/tmp"))
    folder.chmod(0o755)
    return folder


def test_cancel_cancels_the_slurm_workers_and_nothing_else(slurm: Slurm, mintpy_python: str, products: Path) -> None:
    work_root = _world_readable_tmp()
    try:
        # Someone else's job on the same cluster: it must survive our Cancel.
        other = slurm.run("sbatch", "--parsable", "-p", "insarhub", "-J", "not-ours", "-o", "/dev/null", "--wrap", "sleep 600")
        assert other.returncode == 0, other.stderr
        other_id = other.stdout.strip().split(";")[0]

        work = work_root / "work"
        prepared = prepare_products(products, work)
        cfg = write_config(prepared, work, compute_cluster="slurm", workers=2)
        env = {**slurm.env, "DASK_CONFIG": str(_dask_config(work_root / "dask")), "HOME": str(work_root)}
        recorded: dict[str, Any] = {}
        deadline = time.monotonic() + 300

        def cancel() -> bool:
            ids = ClusterJobs("slurm", work / CLUSTER_FOLDER, "", "").ids()
            if len(ids) >= 2 and len(slurm.queued(ids)) >= 2:
                recorded["ids"] = ids
                return True
            return time.monotonic() > deadline  # the workers never came: stop, and fail below

        lines: list[str] = []
        with pytest.raises(CancelledError, match="cancelled during step 'invert_network'"):
            run_segments(cfg, work, mintpy_python, log=lines.append, is_cancelled=cancel, poll_s=0.2, env=env)
        assert "ids" in recorded, "MintPy's Slurm workers never started: " + " | ".join(lines[-15:])
        ids = recorded["ids"]
        deadline = time.monotonic() + 30
        while slurm.queued(ids) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert slurm.queued(ids) == [], f"Slurm jobs outlived the cancelled run: {slurm.queued(ids)}"
        assert any(f"Cancelled the {len(ids)} slurm job(s)" in line for line in lines), lines[-5:]
        assert slurm.queued([other_id]) == [other_id]  # never anyone else's
    finally:
        slurm.run("scancel", "--quiet", "-n", "not-ours")
        shutil.rmtree(work_root, ignore_errors=True)


FAILING_MINTPY = """#!/bin/sh
# Stands in for MintPy's python in a run that fails after its workers were submitted: the
# configuration check (python -c) goes to the real interpreter; "smallbaselineApp" submits a
# batch job the way dask-jobqueue does (sbatch from PATH) and stops with dask-jobqueue's error.
if [ "$1" = "-c" ]; then exec {python} "$@"; fi
sbatch -p insarhub -J insarhub-test-worker -o /dev/null --wrap "sleep 600" >/dev/null
echo "******************** step - invert_network ********************"
echo "Traceback (most recent call last):"
echo '  File "dask_jobqueue/core.py", line 1, in _call'
echo "RuntimeError: Command exited with non-zero exit code."
echo "Exit code: 1"
echo "Command:"
echo "sbatch /tmp/tmpjob.sh"
echo "stderr:"
echo "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified"
exit 1
"""


def test_a_failed_run_cancels_its_jobs_and_keeps_the_whole_error(slurm: Slurm, tmp_path: Path, products: Path) -> None:
    work_root = _world_readable_tmp()
    try:
        fake = work_root / "python"
        fake.write_text(FAILING_MINTPY.format(python=sys.executable))
        fake.chmod(0o755)
        work = work_root / "work"
        prepared = prepare_products(products, work)
        cfg = write_config(prepared, work, compute_cluster="slurm", workers=2)
        env = {**slurm.env, "DASK_CONFIG": str(_dask_config(work_root / "dask")), "HOME": str(work_root)}
        lines: list[str] = []
        with pytest.raises(MintpyRunError) as error:
            run_smallbaseline(cfg, work, str(fake), env=env, log=lines.append)
        message = str(error.value)
        assert "step 'invert_network'" in message
        assert "RuntimeError: Command exited with non-zero exit code." in message
        assert "Invalid account or account/partition combination specified" in message  # the whole text
        assert any("Cancelled the 1 slurm job(s)" in line for line in lines), lines
        deadline = time.monotonic() + 30
        while "insarhub-test-worker" in slurm.run("squeue", "-h", "-o", "%j").stdout and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "insarhub-test-worker" not in slurm.run("squeue", "-h", "-o", "%j").stdout
    finally:
        shutil.rmtree(work_root, ignore_errors=True)


def test_a_missing_jobqueue_section_is_reported_before_mintpy_starts(mintpy_python: str, tmp_path: Path, products: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("sbatch", "scancel"):  # the check needs Slurm's commands, not a cluster
        (bin_dir / command).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / command).chmod(0o755)
    work = tmp_path / "work"
    prepared = prepare_products(products, work)
    cfg = write_config(prepared, work, compute_cluster="slurm", workers=2)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DASK_CONFIG": str(_dask_config(tmp_path / "dask", section=None)),
        "HOME": str(tmp_path),
    }
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as error:
        run_segments(cfg, work, mintpy_python, env=env)
    message = str(error.value)
    assert "'jobqueue:' section with a 'slurm:' entry" in message
    assert f"{tmp_path / 'dask'}/jobqueue.yaml" in message and "cores:" in message and "memory:" in message
    assert not (work / "mintpy.log").exists()  # MintPy never started
    assert time.monotonic() - started < 60

    _dask_config(tmp_path / "dask", section="pbs")  # a section, but for another cluster
    with pytest.raises(ConfigurationError, match="has no 'slurm:' entry \\(it has: pbs\\)"):
        run_segments(cfg, work, mintpy_python, env=env)
