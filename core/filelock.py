"""Exclusive locks on files shared by InSARHub runs (another process, or another thread of QGIS).

A lock is ``flock`` on a small ``.lock`` file (``msvcrt.locking`` on Windows): the system drops it
when its holder ends, however it ends, so a crash never leaves a stale lock behind. The holder
writes who it is into the file, for the message of whoever finds it taken.

- :func:`try_lock`, :func:`unlock`, :func:`holder`, :func:`stamp`: the pieces, for
  ``hyp3/jobs_store.py``'s jobs-file lock, which waits for the other run;
- :func:`folder_lock`: taken at once or refused, for work that must not be done twice at the same
  time in one folder (a MintPy work folder).
"""

from __future__ import annotations

import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from .errors import InputError
from .oserrors import StorageError, describe_os_error


class FolderBusyError(InputError):
    """Another run holds the folder's lock."""


def try_lock(fd: int) -> bool:
    """Take the exclusive lock of the open file ``fd`` if it is free; False if another holds it."""
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def unlock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def holder(lock_file: Path) -> str:
    """`` (process 123 on host since ...)`` as the holder wrote it, or ``""``."""
    try:
        text = Path(lock_file).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return f" ({text[:120]})" if text else ""


def stamp(fd: int) -> None:
    """Write who holds the lock into its file (a courtesy for whoever finds it taken)."""
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")  # as jobs_store.utc_now_iso
    text = f"process {os.getpid()} on {socket.gethostname()} since {since}".encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0) if hasattr(os, "pwrite") else os.write(fd, text)
    except OSError:
        pass


# Folders this process holds: a second run inside this QGIS is refused without relying on how the
# system's lock treats two opens by one process.
_held_here: set[str] = set()
_held_guard = threading.Lock()


@dataclass(frozen=True)
class HeldLock:
    path: Path  # the lock file
    fd: int  # its open file: a child process given it (``pass_fds``) holds the lock as long as it lives


@contextmanager
def folder_lock(folder: str | Path, what: str, advice: str) -> Iterator[HeldLock]:
    """Hold ``folder``'s lock (``folder/.insarhub.lock``) or raise :class:`FolderBusyError` at once.

    ``what`` names the work (``"a time series"``) and ``advice`` what to do instead, for the
    message. A folder where the lock cannot be created raises
    :class:`~insarhub_qgis.core.oserrors.StorageError`.
    """
    path = Path(folder).resolve()
    lock_file = path / ".insarhub.lock"
    key = str(path)

    def busy() -> FolderBusyError:
        return FolderBusyError(f"Another InSARHub run is doing {what} in {path}{holder(lock_file)}. {advice}")

    with _held_guard:
        if key in _held_here:
            raise busy()
        _held_here.add(key)
    fd = -1
    try:
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(describe_os_error(exc, f"create the lock file of {path} (the folder must be writable)")) from None
        if not try_lock(fd):
            raise busy()
        stamp(fd)
        try:
            yield HeldLock(lock_file, fd)
        finally:
            unlock(fd)
    finally:
        if fd >= 0:
            os.close(fd)
        with _held_guard:
            _held_here.discard(key)
