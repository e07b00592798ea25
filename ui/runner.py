"""Run an InSARHub Processing algorithm in the background, exactly as the toolbox does.

The dock never reimplements an algorithm: it builds the parameters, hands the registered
algorithm to a ``QgsProcessingAlgRunnerTask`` in ``QgsApplication.taskManager()`` (so QGIS
stays responsive and the task shows in the task manager), relays progress and messages to
the dock, and on success loads the results through ``processing.gui.Postprocessing
.handleAlgorithmResults`` with the same context, so layers load and are styled as from the
toolbox (the algorithms attach their own post-processors to that context).
"""

from __future__ import annotations

from typing import Any, Callable

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMessageLog,
    QgsProcessingAlgRunnerTask,
    QgsProcessingFeedback,
)
from qgis.PyQt.QtCore import QObject, pyqtSignal, pyqtSlot

from .i18n import tr

LOG_TAG = "InSARHub"

# Message kinds carried by DockFeedback.message
INFO, WARNING, ERROR, CONSOLE = range(4)



class DockFeedback(QgsProcessingFeedback):
    """Feedback whose messages travel to the dock as a signal (they are pushed from the task's thread)."""

    message = pyqtSignal(str, int)

    def __init__(self) -> None:
        super().__init__()
        self.last_error = ""

    def pushInfo(self, info: str) -> None:  # noqa: N802 (QGIS' name)
        self.message.emit(info, INFO)
        super().pushInfo(info)

    def pushWarning(self, warning: str) -> None:  # noqa: N802
        self.message.emit(warning, WARNING)
        super().pushWarning(warning)

    def pushConsoleInfo(self, info: str) -> None:  # noqa: N802
        self.message.emit(info, CONSOLE)
        super().pushConsoleInfo(info)

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802, N803
        self.last_error = error
        # A cancelled run ends with the algorithm's "Cancelled." exception: not an error to the user.
        self.message.emit(error, WARNING if self.isCanceled() else ERROR)
        super().reportError(error, fatalError)

    def setProgressText(self, text: str) -> None:  # noqa: N802
        self.message.emit(text, INFO)
        super().setProgressText(text)


class AlgorithmRunner(QObject):
    """One background Processing run at a time; signals for the dock's progress bar, log and buttons.

    ``run(algorithm_id, parameters, on_done)`` starts it; ``on_done(ok, results, error)`` is
    called on the main thread after the results were loaded into the project; ``finished``
    is emitted after that.
    """

    started = pyqtSignal(str)
    progress = pyqtSignal(float)
    message = pyqtSignal(str, int)
    finished = pyqtSignal(str, bool, object, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.task: QgsProcessingAlgRunnerTask | None = None
        self.algorithm = None
        self.context = None
        self.feedback: DockFeedback | None = None
        self.algorithm_id = ""
        self.last_parameters: dict[str, Any] = {}
        self.last_results: dict[str, Any] = {}
        self.last_cancelled = False  # the last run was stopped by Cancel
        self._last_reported = ""  # the error the feedback already showed (not repeated)
        self._on_done: Callable[[bool, dict, str], None] | None = None
        self._load = True

    def is_running(self) -> bool:
        return self.task is not None

    def run(
        self,
        algorithm_id: str,
        parameters: dict[str, Any],
        on_done: Callable[[bool, dict, str], None] | None = None,
        load_results: bool = True,
    ) -> bool:
        """Start ``algorithm_id`` with ``parameters``; False (and ``on_done`` called) when it cannot start."""
        from processing.tools.dataobjects import createContext

        if self.task is not None:
            self.message.emit(tr("Another InSARHub step is still running; wait for it or cancel it."), WARNING)
            return False
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
        self.algorithm_id = algorithm_id
        self.last_parameters = dict(parameters)
        self._on_done = on_done
        self._load = load_results
        if algorithm is None:
            self._finish(
                False, {}, tr("The algorithm {id} is not available: is the InSARHub provider loaded?").format(id=algorithm_id)
            )
            return False
        feedback = DockFeedback()
        context = createContext(feedback)
        ok, problem = algorithm.checkParameterValues(parameters, context)
        if not ok:
            self._finish(False, {}, problem)
            return False
        feedback.message.connect(self._relay_message)
        feedback.progressChanged.connect(self._relay_progress)
        task = QgsProcessingAlgRunnerTask(algorithm, parameters, context, feedback)
        # Python must hold these until the task has finished: the task only keeps references.
        self.algorithm, self.context, self.feedback, self.task = algorithm, context, feedback, task
        if task.isCanceled():  # prepare() failed: the feedback said why
            self._clear()
            self._finish(False, {}, feedback.last_error or tr("{name} could not start.").format(name=algorithm.displayName()))
            return False
        task.executed.connect(self._executed)
        self._add_to_history(algorithm, parameters, context)
        self.started.emit(algorithm_id)
        self.last_cancelled = False
        self._last_reported = ""
        self.message.emit(tr("{name} started.").format(name=algorithm.displayName()), INFO)
        QgsApplication.taskManager().addTask(task)
        return True

    @staticmethod
    def _add_to_history(algorithm: Any, parameters: dict, context: Any) -> None:
        """Record the run in Processing's history, as the toolbox does (rerunnable from there)."""
        try:
            from processing.core.ProcessingLog import ProcessingLog

            command = algorithm.asPythonCommand(parameters, context)
            if command:
                ProcessingLog.addToLog(command)
        except Exception as exc:  # noqa: BLE001 — the history is a courtesy; the run goes on
            QgsMessageLog.logMessage(f"Not recorded in the Processing history: {exc}", LOG_TAG, Qgis.MessageLevel.Info)

    def cancel(self) -> None:
        """Ask the running task to stop (the algorithm honours ``feedback.isCanceled()``)."""
        if self.task is not None:
            self.message.emit(tr("Cancelling…"), WARNING)
            self.task.cancel()

    @pyqtSlot(str, int)
    def _relay_message(self, text: str, kind: int) -> None:
        self.message.emit(text, kind)

    @pyqtSlot(float)
    def _relay_progress(self, value: float) -> None:
        self.progress.emit(value)

    @pyqtSlot(bool, "QVariantMap")
    def _executed(self, ok: bool, results: dict) -> None:
        algorithm, context, feedback = self.algorithm, self.context, self.feedback
        results = dict(results or {})
        error = ""
        self._last_reported = feedback.last_error if feedback is not None else ""
        if ok and self._load:
            from processing.gui.Postprocessing import handleAlgorithmResults

            try:
                handleAlgorithmResults(algorithm, context, feedback)
            except Exception as exc:  # a layer that fails to load must not hide the run's results
                QgsMessageLog.logMessage(f"Loading the results failed: {exc}", LOG_TAG, Qgis.MessageLevel.Warning)
                self.message.emit(tr("Loading the results failed: {error}").format(error=exc), WARNING)
        if not ok:
            if feedback is not None and feedback.isCanceled():
                self.last_cancelled = True
                error = tr("Cancelled.")
            else:
                error = (
                    feedback.last_error if feedback is not None else ""
                ) or tr("The algorithm failed; see the log.")
        self._clear()
        self._finish(ok, results, error)

    def _clear(self) -> None:
        if self.feedback is not None:
            try:
                self.feedback.message.disconnect(self._relay_message)
                self.feedback.progressChanged.disconnect(self._relay_progress)
            except TypeError:
                pass
        self.task = None
        self.algorithm = None
        self.context = None
        self.feedback = None

    def _finish(self, ok: bool, results: dict, error: str) -> None:
        self.last_results = results
        reported = self.feedback.last_error if self.feedback is not None else ""
        if error and not ok and error != reported and error != self._last_reported:
            self.message.emit(error, WARNING if self.last_cancelled else ERROR)
        callback, self._on_done = self._on_done, None
        if callback is not None:
            try:
                callback(ok, results, error)
            except Exception as exc:  # noqa: BLE001 — a dock bug must still re-enable the buttons
                QgsMessageLog.logMessage(f"InSARHub dock: {exc!r}", LOG_TAG, Qgis.MessageLevel.Critical)
                self.message.emit(tr("Internal error while showing the results: {error}").format(error=repr(exc)), ERROR)
        self.finished.emit(self.algorithm_id, ok, results, error)

    def detach(self) -> None:
        """Cancel a running task and forget it (plugin unload).

        The task keeps using the context and feedback until its thread notices the cancel,
        so they are parked on the application object until the task ends.
        """
        task = self.task
        if task is not None:
            try:
                task.executed.disconnect(self._executed)
            except TypeError:
                pass
            parked = (task, self.algorithm, self.context, self.feedback)
            app = QgsApplication.instance()
            orphans = getattr(app, "_insarhub_orphan_tasks", None)
            if orphans is None:
                orphans = []
                app._insarhub_orphan_tasks = orphans
            orphans.append(parked)

            def release(*_args: Any) -> None:
                if parked in orphans:
                    orphans.remove(parked)

            task.taskCompleted.connect(release)
            task.taskTerminated.connect(release)
            task.cancel()
        self._on_done = None
        self._clear()
