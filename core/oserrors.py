"""Operating-system faults (full disk, read-only or unwritable folders, over-long names) as messages.

Every file the plugin writes can meet a full disk, a folder it may not write to, or a name the
file system refuses. :func:`describe_os_error` turns such an ``OSError`` into one sentence that
says what could not be done, why, and what to do; :class:`StorageError` carries it as the
plugin's typed exception (an algorithm shows it as is). Only the errno decides the wording, so
the messages are the same on every platform and Python version.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import InputError

__all__ = ["NAME_MAX_BYTES", "StorageError", "describe_os_error", "is_disk_full", "name_too_long"]

#: The longest file name (one path component, in bytes) the common file systems accept.
NAME_MAX_BYTES = 255

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM}


class StorageError(InputError):
    """A file or folder could not be written (full disk, no permission, read-only, name too long)."""


def is_disk_full(exc: BaseException) -> bool:
    """True for "no space left on device" and "disk quota exceeded"."""
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def name_too_long(name: str, limit: int = NAME_MAX_BYTES) -> bool:
    """True when one path component is longer than the file system allows (in UTF-8 bytes)."""
    return len(os.fsencode(name)) > limit


def describe_os_error(exc: OSError, action: str = "", *, rerun_resumes: bool = False) -> str:
    """One sentence for the user: what could not be done (``action``), why, and what to do.

    ``action`` completes "Could not ..." (e.g. ``"write the jobs file /data/jobs.json"``); without
    it the message names the file the error names. ``rerun_resumes`` adds that what was done so
    far is kept and a rerun continues.
    """
    where = exc.filename if exc.filename is not None else ""
    target = action or (f"write {where}" if where else "write a file")
    folder = str(Path(str(where)).parent) if where else "the output folder"
    tail = " Everything done so far is kept; run it again to continue." if rerun_resumes else ""
    code = exc.errno
    if code in _DISK_FULL:
        quota = code != errno.ENOSPC
        why = "your disk quota is used up" if quota else f"the disk holding {folder} is full"
        return f"Could not {target}: {why}. Free some space or choose a folder on another disk.{tail}"
    if code == errno.EROFS:
        return f"Could not {target}: {folder} is on a read-only file system. Choose a folder you can write to.{tail}"
    if code in _NOT_ALLOWED:
        return (
            f"Could not {target}: permission denied ({where or folder} is not writable for you). "
            f"Choose a folder you can write to, or change its permissions.{tail}"
        )
    if code == errno.ENAMETOOLONG:
        name = Path(str(where)).name if where else ""
        size = f" ('{name[:40]}...', {len(os.fsencode(name))} bytes)" if name else ""
        return (
            f"Could not {target}: a file name or path is too long for the file system{size}. Choose a "
            f"shorter output folder path or shorter names.{tail}"
        )
    if code == errno.ENOENT:
        return f"Could not {target}: {where or 'a file or folder'} does not exist (was it moved or deleted?).{tail}"
    if code == errno.ENOTDIR or code == errno.EISDIR or code == errno.EEXIST:
        return f"Could not {target}: {where or 'a path'} is in the way ({exc.strerror}). Move it or choose another folder.{tail}"
    reason = exc.strerror or type(exc).__name__
    return f"Could not {target}: {reason}.{tail}"
