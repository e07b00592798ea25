"""Page 4: order the interferograms from HyP3, follow them, download them
(``insarhub:submitjobs``, ``insarhub:watchjobs``, ``insarhub:downloadproducts``).

What costs credits is kept where it lasts: the jobs file and the products live in the
workspace's folder of the stack (``stacks/<stack>/jobs.json``, ``products/``), shared by every
search of that stack. The order is priced (a dry run) and can be submitted only for the current,
non-stale pairs, exactly as priced.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qgis.core import QgsVectorLayer
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import QPoint, Qt, QTimer, QUrl
from qgis.PyQt.QtGui import QBrush, QColor, QDesktopServices
from qgis.PyQt.QtWidgets import QHeaderView, QMenu, QTableWidgetItem

from ...processing_provider.qt_compat import layer_filter
from ..defaults import default_value
from ..jobs import COLUMNS as JOB_COLUMNS
from ..jobs import any_running, expiry_message, guess_job_type, job_rows, summary
from ..layers import STEP_PROPERTY
from ..workspace import find_layer, is_temporary
from .base import BasePage

STATUS_COLOURS = {"SUCCEEDED": "#2e7d32", "FAILED": "#c62828", "RUNNING": "#ef6c00", "PENDING": "#8d6e63"}
USER_ROLE = Qt.ItemDataRole.UserRole


def open_url(url: QUrl) -> bool:
    """Open a folder in the file manager or a link in the browser (tests replace this)."""
    return QDesktopServices.openUrl(url)


class Hyp3Page(BasePage):
    UI = "hyp3.ui"
    TITLE = "4 HyP3"
    TOOLTIP = "Order, follow and download the interferograms (insarhub:submitjobs, watchjobs, downloadproducts)"
    PERSISTED = ("jobType", "looks", "projectName", "includeDem", "includeLookVectors", "applyWaterMask", "authConfig", "autoRefresh")
    DEFAULT_FOR = {"jobType": "job_type", "looks": "looks", "projectName": "project_name"}
    RUN_BUTTONS = ("estimateCost", "refreshJobs", "retryFailed", "downloadProducts", "retryJob")
    BASED_ON = "hyp3BasedOn"
    STALE = "hyp3Stale"

    def setup(self) -> None:
        self.jobsPairs.setFilters(layer_filter("VectorLayer"))
        self.jobsPairs.setAllowEmptyLayer(True)
        self.jobsPairs.setLayer(None)
        self.jobsPairs.setMinimumContentsLength(12)
        self.jobsFile.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.jobsFile.setFilter(self.tr("Jobs file (*.json)"))
        self.jobsFile.setConfirmOverwrite(False)  # an existing jobs file is resumed, not overwritten
        self.productsFolder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        table = self.jobsTable
        table.setColumnCount(len(JOB_COLUMNS))
        table.setHorizontalHeaderLabels([self.tr(c) for c in JOB_COLUMNS])
        table.verticalHeader().setVisible(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.cancelJob.setEnabled(False)  # HyP3's API has no way to cancel or delete a job
        self.submitGroup.setSaveCollapsedState(False)  # folded by the page (below), not by QGIS's memory
        self.expiryWarning.hide()
        self.jobs: list = []
        self._priced: str | None = None
        self._followed: tuple = ()
        self.remaining_credits: float | None = None
        self.order_credits: float | None = None
        self.jobs_timer = QTimer(self)
        self.jobs_timer.setInterval(int(default_value("refresh_interval_s")) * 1000)
        self.jobs_timer.timeout.connect(self._auto_refresh)
        self.show_stale("")

    def connect_signals(self) -> None:
        self.newAuth.clicked.connect(self.create_auth_config)
        self.estimateCost.clicked.connect(self.estimate_cost)
        self.submitJobs.clicked.connect(self.submit_jobs)
        for signal in (
            self.jobsPairs.layerChanged,
            self.jobType.currentIndexChanged,
            self.looks.currentIndexChanged,
            self.projectName.textChanged,
            self.includeDem.toggled,
            self.includeLookVectors.toggled,
            self.applyWaterMask.toggled,
            self.authConfig.selectedConfigIdChanged,
            self.jobsFile.fileChanged,
        ):
            signal.connect(self._order_changed)
        for signal in (self.jobType.currentIndexChanged, self.looks.currentIndexChanged):
            signal.connect(lambda *_args: self._update_pairs_cost())
        self.jobsFile.fileChanged.connect(self._jobs_file_chosen)
        self.productsFolder.fileChanged.connect(self._products_folder_chosen)
        self.refreshJobs.clicked.connect(lambda: self.refresh_jobs())
        self.retryFailed.clicked.connect(lambda: self.refresh_jobs(retry_failed=True))
        self.retryJob.clicked.connect(lambda: self.refresh_jobs(retry_failed=True))
        self.autoRefresh.toggled.connect(lambda _checked: self._update_timer())
        self.downloadProducts.clicked.connect(self.download_products)
        self.jobsTable.itemSelectionChanged.connect(self._row_selected)
        self.jobsTable.itemDoubleClicked.connect(lambda _item: self.open_product())
        self.jobsTable.customContextMenuRequested.connect(self._row_menu)
        self.openProduct.clicked.connect(self.open_product)
        self.showJobLog.clicked.connect(self.show_log)

    def _update_pairs_cost(self) -> None:
        pairs = self.dock.page("pairs")
        if pairs is not None:
            pairs.update_cost()

    # ---- following the chain ---------------------------------------------------------------

    def chain_pairs_layer(self, chain: Any = None) -> QgsVectorLayer | None:
        chain = chain or self.workspace.current
        if chain is None or not chain.pairs:
            return None
        layer = find_layer(self.workspace.path(chain.pairs["pairs"]), subset="")
        return layer if isinstance(layer, QgsVectorLayer) else None

    def refresh(self) -> None:
        chain = self.workspace.current
        key = (chain.id, (chain.pairs or {}).get("revision"), chain.jobs_file, chain.products) if chain else ()
        if key != self._followed:  # the chain or its pairs changed: follow them
            self._followed = key
            layer = self.chain_pairs_layer(chain) if chain is not None else None
            if chain is not None and chain.pairs and layer is None and os.path.exists(self.workspace.path(chain.pairs["pairs"])):
                layer = QgsVectorLayer(self.workspace.path(chain.pairs["pairs"]), self.tr("Pairs"), "ogr")
                from ..layers import place

                self.project.addMapLayer(layer, False)
                place(self.project, chain, layer, "pairs", checked=False)
            for widget, value in (
                (self.jobsPairs, layer),
                (self.jobsFile, self.workspace.path(chain.jobs_file) if chain else ""),
                (self.productsFolder, self.workspace.path(chain.products) if chain else ""),
            ):
                widget.blockSignals(True)
                if widget is self.jobsPairs:
                    widget.setLayer(value)
                else:
                    widget.setFilePath(value)
                widget.blockSignals(False)
            if layer is not None:
                guessed = guess_job_type(layer)
                if guessed:
                    self.jobType.setCurrentText(guessed)
            self._priced = None
            self.costLabel.setText("")
            self.reload_jobs_table()
            # Once jobs exist the order form folds away and the jobs table has the room.
            self.submitGroup.setCollapsed(bool(self.jobs))
        self._show_based_on(chain)
        problem = self.order_problem()
        self.show_stale(problem if chain is not None and chain.pairs else "")
        self.estimateCost.setEnabled(not self._busy and not problem)
        self.submitJobs.setEnabled(not self._busy and not problem and self._priced == self._fingerprint())

    def _show_based_on(self, chain: Any) -> None:
        layer = self.jobsPairs.currentLayer()
        jobs_file = self.jobsFile.filePath()
        where = self.tr(" Jobs file: {path}.").format(path=jobs_file) if jobs_file else ""
        if layer is None:
            text = self.tr("Select pairs first (page 3), or choose a pairs layer.")
        elif chain is not None and layer is self.chain_pairs_layer(chain):
            text = self.tr("Pairs of “{label}”: {count} pair(s) of {stacks}.").format(
                label=chain.label, count=chain.pairs.get("count", 0), stacks=", ".join(chain.pairs.get("stacks", []))
            )
        else:
            text = self.tr("Pairs: the layer “{name}” ({count} features).").format(name=layer.name(), count=layer.featureCount())
        self.show_based_on(text + where)

    def order_problem(self) -> str:
        """Why the order cannot be priced or submitted now ("" when it can)."""
        layer = self.jobsPairs.currentLayer()
        if layer is None:
            return self.tr("Choose the pairs layer (select pairs first).")
        chain = self.workspace.current
        if layer.customProperty(STEP_PROPERTY) == "pairs":
            if chain is None or layer is not self.chain_pairs_layer(chain):
                return self.tr(
                    "These pairs belong to another search of the workspace: choose that search on page 2, or "
                    "select pairs for the current one."
                )
            stale = self.workspace.stale("order", chain)
            if stale:
                return stale
        path = self.jobsFile.filePath()
        if path and is_temporary(os.path.dirname(path) or path):
            return self.tr(
                "The jobs file {path} is in a temporary folder, which is deleted: the record of jobs you paid for "
                "would be lost. Choose a folder that lasts."
            ).format(path=path)
        return ""

    # ---- ordering --------------------------------------------------------------------------

    def create_auth_config(self) -> str:
        """The 'New Earthdata login' button: store a Basic config and select it."""
        from ..auth_dialog import EarthdataAuthDialog

        dialog = EarthdataAuthDialog(self)
        if dialog.exec() and dialog.config_id:
            self.authConfig.setConfigId(dialog.config_id)
            return dialog.config_id
        return ""

    def jobs_file_path(self) -> str:
        path = self.jobsFile.filePath()
        if not path:
            chain = self.workspace.current
            stacks = chain.pairs.get("stacks", []) if chain is not None and chain.pairs else []
            path = str(self.workspace.stack_folder(stacks) / "jobs.json")
            self.jobsFile.setFilePath(path)
        return path

    def hyp3_parameters(self) -> dict[str, Any]:
        """The parameters the page gives submitjobs (without DRY_RUN); ValueError with advice."""
        problem = self.order_problem()
        if problem:
            raise ValueError(problem)
        layer = self.jobsPairs.currentLayer()
        chain = self.workspace.current
        own = chain is not None and chain.pairs and layer is self.chain_pairs_layer(chain)
        parameters: dict[str, Any] = {
            # The workspace's own file (the algorithm's thread opens its own copy), else the user's layer.
            "PAIRS": self.workspace.path(chain.pairs["pairs"]) if own else layer.id(),
            "JOB_TYPE": self.jobType.currentText(),
            "LOOKS": self.looks.currentText(),
            "PROJECT_NAME": self.projectName.text().strip() or "insarhub",
            "INCLUDE_DEM": self.includeDem.isChecked(),
            "INCLUDE_LOOK_VECTORS": self.includeLookVectors.isChecked(),
            "APPLY_WATER_MASK": self.applyWaterMask.isChecked(),
            "JOBS_FILE": self.jobs_file_path(),
        }
        parameters.update(self.auth())
        return parameters

    def auth(self) -> dict[str, str]:
        auth = self.authConfig.configId()
        return {"AUTH": auth} if auth else {}

    def _fingerprint(self) -> str | None:
        layer = self.jobsPairs.currentLayer()
        if layer is None:
            return None
        chain = self.workspace.current
        return repr(
            (
                layer.id(),
                layer.featureCount(),
                (chain.pairs or {}).get("revision") if chain is not None else None,
                self.jobType.currentText(),
                self.looks.currentText(),
                self.projectName.text().strip(),
                self.includeDem.isChecked(),
                self.includeLookVectors.isChecked(),
                self.applyWaterMask.isChecked(),
                self.authConfig.configId(),
                self.jobsFile.filePath(),
            )
        )

    def _order_changed(self, *_args: Any) -> None:
        if self._priced is not None and self._priced != self._fingerprint():
            self._priced = None
            self.costLabel.setText(self.tr("The order changed: check the cost again before submitting."))
        self.refresh()

    def estimate_cost(self) -> bool:
        try:
            parameters = {**self.hyp3_parameters(), "DRY_RUN": True}
        except ValueError as exc:
            self.refuse(str(exc), self.costLabel)
            return False
        self.costLabel.setText(self.tr("Asking HyP3 for the cost and your remaining credits…"))
        self._priced = None
        return self.run("insarhub:submitjobs", parameters, self._cost_done)

    def _cost_done(self, ok: bool, results: dict, error: str) -> None:
        if not ok:
            self.costLabel.setText(error)
            return
        credits = float(results.get("CREDITS", 0))
        remaining = float(results.get("REMAINING_CREDITS", -1))
        left = self.tr("unlimited") if remaining < 0 else f"{remaining:g}"
        self.remaining_credits = None if remaining < 0 else remaining
        self.order_credits = credits
        if credits == 0:
            self.costLabel.setText(self.tr("Every pair already has a job: nothing to pay. Remaining credits: {left}.").format(left=left))
        elif remaining >= 0 and credits > remaining:
            self.costLabel.setText(
                self.tr("Submitting costs {credits:g} credits but you have {left}: order fewer pairs.").format(credits=credits, left=left)
            )
        else:
            self.costLabel.setText(
                self.tr("Submitting costs {credits:g} credits; remaining credits: {left}. Press Submit to order.").format(
                    credits=credits, left=left
                )
            )
        if remaining < 0 or credits <= remaining:
            self._priced = self._fingerprint()

    def submit_jobs(self) -> bool:
        if self._priced is None or self._priced != self._fingerprint():
            self.refuse(self.tr("Check the cost (dry run) first."), self.costLabel)
            return False
        try:
            parameters = {**self.hyp3_parameters(), "DRY_RUN": False}
        except ValueError as exc:
            self.refuse(str(exc), self.costLabel)
            return False
        self._priced = None
        return self.run("insarhub:submitjobs", parameters, self._submit_done)

    def _submit_done(self, ok: bool, results: dict, error: str) -> None:
        self._record_jobs_file()
        if not ok:
            self.costLabel.setText(error)
            self.reload_jobs_table()
            return
        remaining = float(results.get("REMAINING_CREDITS", -1))
        left = self.tr("unlimited") if remaining < 0 else f"{remaining:g}"
        self.costLabel.setText(
            self.tr("Submitted {count} job(s) for {credits:g} credits; remaining credits: {left}.").format(
                count=int(results.get("SUBMITTED", 0)), credits=float(results.get("CREDITS", 0)), left=left
            )
        )
        self.reload_jobs_table()
        self.submitGroup.setCollapsed(True)  # the jobs table now has the room; the form unfolds with a click

    def _record_jobs_file(self) -> None:
        chain = self.workspace.current
        path = self.jobsFile.filePath()
        if chain is not None and path and self.workspace.relative(path) != chain.jobs_file:
            chain.jobs_file = self.workspace.relative(path)
            self.workspace.commit("jobs")

    def _jobs_file_chosen(self, path: str) -> None:
        self.reload_jobs_table()
        if os.path.exists(path or ""):
            self._record_jobs_file()

    def _products_folder_chosen(self, path: str) -> None:
        chain = self.workspace.current
        if chain is not None and path and self.workspace.relative(path) != chain.products:
            chain.products = self.workspace.relative(path)
            self.workspace.commit("products")

    # ---- watching --------------------------------------------------------------------------

    def refresh_jobs(self, retry_failed: bool = False) -> bool:
        path = self.jobsFile.filePath()
        if not path or not os.path.exists(path):
            self.refuse(self.tr("No jobs file yet: submit jobs first (or choose an existing jobs file)."), self.jobsSummary)
            return False
        parameters = {"JOBS_FILE": path, "WAIT": False, "RETRY_FAILED": retry_failed, **self.auth()}
        return self.run("insarhub:watchjobs", parameters, self._watch_done)

    def _watch_done(self, ok: bool, results: dict, error: str) -> None:
        self.reload_jobs_table()
        if not ok:
            self.jobsSummary.setText(error)

    def _auto_refresh(self) -> None:
        # Only while the dock is open (a closed dock does not poll HyP3 behind the user's back).
        if not self.autoRefresh.isChecked() or self.runner.is_running() or self.dock.isHidden():
            return
        if any_running(self.jobs):
            self.refresh_jobs()
        else:
            self._update_timer()

    def _update_timer(self) -> None:
        if self.autoRefresh.isChecked() and any_running(self.jobs):
            if not self.jobs_timer.isActive():
                self.jobs_timer.start()
        else:
            self.jobs_timer.stop()

    def _granule_stacks(self) -> dict[str, str]:
        """Granule name -> stack, from the pairs layer (for the short pair labels)."""
        layer = self.jobsPairs.currentLayer()
        mapping: dict[str, str] = {}
        if layer is not None and {"reference", "stack"} <= set(layer.fields().names()):
            for feature in layer.getFeatures():
                for name in str(feature["reference"] or "").split(","):
                    mapping[name.strip()] = str(feature["stack"] or "")
        return mapping

    def reload_jobs_table(self) -> int:
        """Show the jobs file (status, credits, expiry, downloads) and start or stop the refresh timer."""
        from ...core.errors import InsarhubError

        path = self.jobsFile.filePath()
        rows = []
        if path and os.path.exists(path):
            try:
                rows = job_rows(path, stacks=self._granule_stacks())
            except InsarhubError as exc:
                self.jobsSummary.setText(str(exc))
        self.jobs = rows
        table = self.jobsTable
        table.setSortingEnabled(False)
        table.clearContents()
        table.setRowCount(len(rows))
        for row, job in enumerate(rows):
            for column, value in enumerate(job.cells()):
                item = QTableWidgetItem()
                item.setData(Qt.ItemDataRole.DisplayRole, value)
                item.setToolTip(job.tooltip())
                if column == 0:
                    item.setData(USER_ROLE, job.name)
                if column == 1 and job.status in STATUS_COLOURS:
                    item.setForeground(QBrush(QColor(STATUS_COLOURS[job.status])))
                if column == 3 and (job.expires_soon or job.expired):
                    item.setForeground(QBrush(QColor("#b35c00")))
                table.setItem(row, column, item)
        table.setSortingEnabled(True)
        self.jobsSummary.setText(summary(rows) if rows else "")
        stacks = sorted({job.stack for job in rows if job.stack})
        self.watchGroup.setTitle(
            self.tr("Jobs of {stacks} (insarhub:watchjobs)").format(stacks=", ".join(stacks))
            if stacks
            else self.tr("Jobs (insarhub:watchjobs)")
        )
        warning = expiry_message(rows)
        self.expiryWarning.setText(warning)
        self.expiryWarning.setVisible(bool(warning))
        self._update_timer()
        self._row_selected()
        return len(rows)

    # ---- per-row actions -------------------------------------------------------------------

    def selected_job(self) -> Any:
        rows = {index.row() for index in self.jobsTable.selectedIndexes()}
        if len(rows) != 1:
            return None
        item = self.jobsTable.item(rows.pop(), 0)
        name = item.data(USER_ROLE) if item is not None else None
        return next((job for job in self.jobs if job.name == name), None)

    def select_job(self, name: str) -> None:
        for row in range(self.jobsTable.rowCount()):
            item = self.jobsTable.item(row, 0)
            if item is not None and item.data(USER_ROLE) == name:
                self.jobsTable.selectRow(row)
                return

    def _row_selected(self) -> None:
        job = self.selected_job()
        self.openProduct.setEnabled(bool(job and job.paths))
        self.openProduct.setToolTip(
            self.tr("Open the downloaded product in the file manager.")
            if job and job.paths
            else self.tr("Download the product first.")
        )
        self.showJobLog.setEnabled(bool(job and job.logs))
        self.showJobLog.setToolTip(
            self.tr("Open HyP3's processing log of this job.") if job and job.logs else self.tr("HyP3 lists a log once a job has run.")
        )
        self.retryJob.setEnabled(bool(job and job.status == "FAILED") and not self._busy)
        self.cancelJob.setEnabled(False)
        self.cancelJob.setToolTip(
            self.tr("HyP3 offers no way to cancel a submitted job: a pending job runs, and its credits are spent when it is submitted.")
        )

    def _row_menu(self, position: QPoint) -> None:
        job = self.selected_job()
        if job is None:
            return
        menu = QMenu(self.jobsTable)
        for button in (self.openProduct, self.showJobLog, self.retryJob, self.cancelJob):
            action = menu.addAction(button.text())
            action.setEnabled(button.isEnabled())
            action.setToolTip(button.toolTip())
            action.triggered.connect(button.click)
        menu.popup(self.jobsTable.viewport().mapToGlobal(position))
        self._menu = menu

    def open_product(self) -> bool:
        job = self.selected_job()
        if job is None or not job.paths:
            return False
        path = Path(job.paths[0])
        folder = path if path.is_dir() else path.parent
        return open_url(QUrl.fromLocalFile(str(folder)))

    def show_log(self) -> bool:
        job = self.selected_job()
        if job is None or not job.logs:
            return False
        return open_url(QUrl(job.logs[0]))

    # ---- downloading -----------------------------------------------------------------------

    def download_products(self) -> bool:
        path = self.jobsFile.filePath()
        if not path or not os.path.exists(path):
            self.refuse(self.tr("No jobs file yet: submit jobs first (or choose an existing jobs file)."), self.jobsSummary)
            return False
        folder = self.productsFolder.filePath()
        if not folder:
            folder = str(Path(path).parent / "products")
            self.productsFolder.setFilePath(folder)
        if is_temporary(folder):
            self.refuse(
                self.tr("{folder} is a temporary folder, which is deleted: choose a folder that lasts for the products.").format(folder=folder),
                self.jobsSummary,
            )
            return False
        parameters = {"JOBS_FILE": path, "OUTPUT_FOLDER": folder, **self.auth()}
        return self.run("insarhub:downloadproducts", parameters, self._download_done)

    def _download_done(self, ok: bool, results: dict, error: str) -> None:
        self.reload_jobs_table()
        if not ok:
            self.jobsSummary.setText(error)
            return
        folder = results.get("OUTPUT_FOLDER") or self.productsFolder.filePath()
        self.jobsSummary.setText(
            self.tr("{count} product(s) ready in {folder}.").format(count=int(results.get("COUNT", 0)), folder=folder)
        )
        chain = self.workspace.current
        if chain is not None:
            chain.products = self.workspace.relative(folder)
            self.workspace.commit("products")
        if int(results.get("COUNT", 0)):
            self.dock.show_page("timeseries")

    def cleanup(self) -> None:
        self.jobs_timer.stop()
