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
import time
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
    with folder_lock(folder, "a time series", ADVICE) as held:
        assert f"process {os.getpid()} on" in held.path.read_text()


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


def test_mintpy_keeps_the_folder_locked_when_the_run_that_started_it_dies(tmp_path: Path) -> None:
    """QGIS killed while MintPy runs on (MintPy has a session of its own): the folder stays locked
    until MintPy ends too, so a new run cannot start beside it."""
    folder, ready = tmp_path / "mintpy", tmp_path / "ready"
    fake = tmp_path / "fakepython"  # plays a long MintPy run whatever its arguments
    fake.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c "
        f"\"import os, time; open({str(ready)!r}, 'w').write(str(os.getpid())); time.sleep(120)\"\n"
    )
    fake.chmod(0o755)
    cfg = tmp_path / "smallbaselineApp.cfg"
    cfg.write_text("mintpy.load.processor = hyp3\n")
    plugins = Path(__file__).resolve().parents[2] / ".venv" / "qgis-plugins"
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(plugins)!r})
        from insarhub_qgis.core.filelock import folder_lock
        from insarhub_qgis.core.timeseries.run import run_smallbaseline
        with folder_lock({str(folder)!r}, "a time series", "x") as held:
            run_smallbaseline({str(cfg)!r}, {str(folder)!r}, {str(fake)!r}, poll_s=0.05, hold_fds=(held.fd,))
        """
    )
    starter = subprocess.Popen([sys.executable, "-c", code])  # "QGIS"
    deadline = time.monotonic() + 30
    while not ready.exists() or not ready.read_text():
        assert time.monotonic() < deadline and starter.poll() is None, "MintPy did not start"
        time.sleep(0.05)
    mintpy = int(ready.read_text())
    os.kill(starter.pid, signal.SIGKILL)
    starter.wait()
    try:
        os.kill(mintpy, 0)  # MintPy outlived its starter
        with pytest.raises(FolderBusyError):
            with folder_lock(folder, "a time series", ADVICE):
                pass
    finally:
        os.kill(mintpy, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while True:  # free once MintPy is gone (it is init's child now: reaped when init gets to it)
        try:
            with folder_lock(folder, "a time series", ADVICE):
                break
        except FolderBusyError:
            assert time.monotonic() < deadline, "the lock outlived MintPy"
            time.sleep(0.1)
