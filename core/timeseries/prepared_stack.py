"""The QGIS side of the stack written during the preparation (:mod:`.stack_worker`, MintPy's interpreter).

:class:`StackWriter` starts the worker and streams it the blocks of rows the preparation read and corrected,
from a thread of its own so that the preparation goes on reading meanwhile. Anything going wrong on the
way (the worker missing h5py, a full disk, a crash) costs only the speed-up: :attr:`StackWriter.error`
says why, the partial files are removed, and MintPy reads the products itself as it always could.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Deque, List, Mapping, Sequence, Tuple

import numpy as np

from .run import STACK_WORKER, mintpy_environment
from .stack_worker import _BLOCK_HEADER, PARTIAL, PREPARED_CONNCOMP, PREPARED_STACK

PREPARED_FILES = (PREPARED_STACK, PREPARED_CONNCOMP, PREPARED_STACK + PARTIAL, PREPARED_CONNCOMP + PARTIAL)


def remove_prepared_stack(inputs_dir: Path) -> None:
    """Delete a prepared stack (finished or not) from ``inputs_dir``."""
    for name in PREPARED_FILES:
        (inputs_dir / name).unlink(missing_ok=True)


class StackWriter:
    """Write the stack MintPy's ``load_data`` would write while the preparation reads the products.

    Use: :meth:`start` (returns the rows blocks should be multiples of), :meth:`put` for every block in any
    order, :meth:`close`; :meth:`abort` on any other way out. After a failure :attr:`error` says why and
    every further call is a no-op.
    """

    def __init__(
        self,
        python: str,
        inputs_dir: Path,
        pairs: Sequence[Tuple[str, str]],
        derived: Sequence[bool],
        shape: Tuple[int, int],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.python = python
        self.inputs_dir = Path(inputs_dir)
        self.pairs = [tuple(p) for p in pairs]
        self.derived = [bool(d) for d in derived]
        self.shape = shape
        self.env = env
        self.error: str | None = None
        self._proc: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._stderr: Deque[str] = deque(maxlen=20)
        self._drain: threading.Thread | None = None
        self._failing = threading.Lock()  # the sending thread and the caller may both fail it

    # ---------------------------------------------------------------- life cycle
    def start(self) -> int:
        """Start the worker; the rows of its chunks (1 after a failure)."""
        remove_prepared_stack(self.inputs_dir)
        try:
            self._proc = subprocess.Popen(
                [self.python, str(STACK_WORKER), "write", str(self.inputs_dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=mintpy_environment(self.python, self.env),
            )
        except OSError as exc:
            self._fail(f"MintPy's interpreter {self.python} could not be started ({exc})")
            return 1
        try:  # Linux: 1 MiB instead of 64 KiB per hand-over of the pipe (the most it allows unprivileged)
            import fcntl

            fcntl.fcntl(self._proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[union-attr]
        except (ImportError, AttributeError, OSError):
            pass
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        header = {"pairs": self.pairs, "height": self.shape[0], "width": self.shape[1], "derived": self.derived}
        try:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(header).encode() + b"\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline().decode(errors="replace").split()
            if len(answer) != 2 or answer[0] != "CHUNK_ROWS":
                raise OSError("it did not answer")
            rows = max(1, int(answer[1]))
        except (OSError, ValueError) as exc:
            self._fail(f"the stack writer stopped at once ({exc})")
            return 1
        self._thread = threading.Thread(target=self._send, name="insarhub-stack", daemon=True)
        self._thread.start()
        return rows

    def put(self, r0: int, r1: int, phase: np.ndarray, coherence: np.ndarray, labels: np.ndarray | None) -> None:
        """Queue rows ``r0:r1`` (arrays ``(interferograms, r1 - r0, width)``, or views of them; ``labels``
        the connected components, read only for the interferograms that are not derived). The arrays must
        not change afterwards; waits while the block before is still being written."""
        self._offer((r0, r1, phase, coherence, labels))

    def close(self) -> bool:
        """Send the end and wait for the worker: True when the stack is complete."""
        self._offer(None)
        if self._thread is not None:
            self._thread.join()
        if self.error is None and self._proc is not None:
            assert self._proc.stdout is not None
            answer = self._proc.stdout.readline().decode(errors="replace").strip()
            code = self._proc.wait()
            self._proc.stdout.close()
            if code != 0 or answer != "DONE":
                self._fail(f"the stack writer ended with code {code}")
        if self.error is not None:
            return False
        measured = not all(self.derived)  # connected components of their own: written beside the stack
        return (self.inputs_dir / PREPARED_STACK).is_file() and (
            not measured or (self.inputs_dir / PREPARED_CONNCOMP).is_file()
        )

    def abort(self, why: str = "the preparation stopped") -> None:
        """Stop the worker and remove what it wrote (a no-op after :meth:`close`)."""
        if self._proc is not None and self._proc.returncode is None:
            self._fail(why)

    # ---------------------------------------------------------------- internals
    def _offer(self, item: object) -> None:
        while self.error is None and self._thread is not None and self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _fail(self, why: str) -> None:
        with self._failing:
            self._fail_locked(why)

    def _fail_locked(self, why: str) -> None:
        if self._proc is not None:
            if self._proc.returncode is None:
                self._proc.kill()
                self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:  # the pipe to a dead worker: nothing left to flush
                    pass
            if self._drain is not None:  # what the worker said last, before it is quoted
                self._drain.join(timeout=5)
        if self.error is None:
            tail = " ".join(line for line in self._stderr if line)[-400:]
            self.error = why + (f": {tail}" if tail else "")
        while True:  # release a put() waiting on the queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        remove_prepared_stack(self.inputs_dir)

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        with self._proc.stderr:
            for line in self._proc.stderr:
                self._stderr.append(line.decode(errors="replace").strip())

    def _send(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        out = self._proc.stdin
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    out.write(_BLOCK_HEADER.pack(-1, -1))
                    out.close()
                    return
                if self.error is not None:
                    return
                r0, r1, phase, coherence, labels = item
                out.write(_BLOCK_HEADER.pack(r0, r1))
                chunks: List[np.ndarray] = [phase[k] for k in range(len(self.pairs))]
                chunks += [coherence[k] for k in range(len(self.pairs))]
                if labels is not None:
                    chunks += [labels[k].astype(np.int16, copy=False) for k, d in enumerate(self.derived) if not d]
                for rows in chunks:
                    data = np.ascontiguousarray(rows)
                    out.write(memoryview(data).cast("B"))
        except (OSError, ValueError) as exc:  # BrokenPipeError: the worker died (full disk, ...)
            self._proc.wait()
            self._fail(f"the stack writer stopped ({exc})")
