"""One time-series run at a time in a MintPy work folder (core/filelock.py).

The holder is another process (another QGIS, a ``qgis_process`` in a terminal) or another run in
this QGIS. A second run is refused at once with who holds the folder and what to do; a holder that
dies (even by SIGKILL) leaves no stale lock behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from insarhub_qgis.core.filelock import FolderBusyError, folder_lock

ADVICE = "Choose another work folder."


def _holder_process(folder: Path) -> subprocess.Popen:
    """A process that takes the folder's lock, says so, then sleeps (as a long MintPy run would)."""
    plugins = Path(__file__).resolve().parents[2] / ".venv" / "qgis-plugins"
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(plugins)!r})
        from insarhub_qgis.core.filelock import folder_lock
        with folder_lock({str(folder)!r}, "a time series", "x"):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_refused_with_its_holder_and_advice(tmp_path: Path) -> None:
    folder = tmp_path / "mintpy"
    proc = _holder_process(folder)
    try:
        with pytest.raises(FolderBusyError) as refused:
            with folder_lock(folder, "a time series", ADVICE):
                pytest.fail("the lock was given twice")
        message = str(refused.value)
        assert f"Another InSARHub run is doing a time series in {folder.resolve()}" in message
        assert f"process {proc.pid} on" in message and message.endswith(ADVICE)
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    folder = tmp_path / "mintpy"
    proc = _holder_process(folder)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (folder / ".insarhub.lock").exists()  # the file stays; the lock went with its holder
    with folder_lock(folder, "a time series", ADVICE) as lock_file:
        assert f"process {os.getpid()} on" in lock_file.read_text()


def test_a_second_run_in_this_process_is_refused_and_the_first_keeps_its_lock(tmp_path: Path) -> None:
    folder = tmp_path / "mintpy"
    with folder_lock(folder, "a time series", ADVICE):
        with pytest.raises(FolderBusyError):
            with folder_lock(folder, "a time series", ADVICE):
                pass
        # The refused attempt must not have released the holder's lock.
        with pytest.raises(FolderBusyError):
            with folder_lock(folder, "a time series", ADVICE):
                pass
    with folder_lock(folder, "a time series", ADVICE):  # free once its holder is done
        pass
