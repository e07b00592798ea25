"""The dock's workspace: a folder that outlives QGIS, what each step made in it, and which steps
are stale.

Everything the dock makes goes into the workspace folder, never into a temporary folder:

    <workspace>/
      insarhub-workspace.json        this state, rewritten (atomically) after every step
      searches/<aoi>_<dates>_<time>/  one folder per search: aoi.gpkg, footprints.gpkg, stacks.gpkg,
                                      filtered-<n>.gpkg, pairs-<n>.gpkg, network-<n>.png
      stacks/<stack>/                 per stack, shared by every search of that stack, so nothing is
                                      paid or downloaded twice: jobs.json, products/, mintpy/,
                                      results/<run>/ (velocity, displacement, ... GeoTIFFs)
      decompositions/<run>/           vertical and east from two stacks

By default the workspace is next to the saved project (``<project>_insarhub``); a project not
saved yet gets one in a per-user folder (``~/InSARHub``, setting ``insarhub/workspace_root``),
and the dock says where, once. The project remembers its workspace (an element of the ``.qgz``
written through ``QgsProject.writeProject``), so reopening the project restores the dock.

A *search chain* is one search and what was made from it: the filter, the pairs, the jobs file,
the products, the time series. Each step records what it was based on; :meth:`Workspace.stale`
is the one place that says which results no longer match their inputs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qgis.core import QgsMapLayer, QgsProject, QgsSettings, QgsVectorLayer
from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.PyQt.QtXml import QDomDocument

from .i18n import tr

MANIFEST_NAME = "insarhub-workspace.json"
FORMAT = "insarhub-workspace"
ROOT_SETTING = "insarhub/workspace_root"
XML_TAG = "insarhub-workspace"



def default_root() -> Path:
    """Where workspaces of projects not saved yet go (``~/InSARHub`` unless set)."""
    value = QgsSettings().value(ROOT_SETTING, "", type=str)
    return Path(value).expanduser() if value else Path.home() / "InSARHub"


def _temporary_roots() -> list[str]:
    roots = {tempfile.gettempdir(), "/tmp", "/var/tmp", os.environ.get("TMPDIR", "")}
    try:
        from qgis.core import QgsProcessingUtils

        roots.add(str(Path(QgsProcessingUtils.tempFolder()).parent))
    except Exception:  # noqa: BLE001 — Processing not initialised: the system's folders still count
        pass
    return [os.path.realpath(r) for r in roots if r]


def is_temporary(path: str | Path) -> bool:
    """True for a folder that the system or QGIS deletes (the temp folders and anything inside)."""
    if not path:
        return False
    real = os.path.realpath(str(path))
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in _temporary_roots())


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe version of ``text``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.")
    return (cleaned or "x")[:limit]


def normalised(path: str) -> str:
    return os.path.normcase(os.path.realpath(path.split("|")[0])) if path else ""


def find_layer(path: str, project: QgsProject | None = None, subset: str | None = "") -> QgsMapLayer | None:
    """The project layer reading the file ``path`` (with that subset string; None: any)."""
    if not path:
        return None
    project = project or QgsProject.instance()
    target = normalised(str(path))
    for layer in project.mapLayers().values():
        if normalised(layer.source()) != target:
            continue
        if subset is not None and isinstance(layer, QgsVectorLayer) and layer.subsetString() != subset:
            continue
        return layer
    return None


@dataclass
class Chain:
    """One search and everything made from it (paths relative to the workspace folder)."""

    id: str
    label: str  # "Sitka · 2020-01-01–2020-12-31": the search's AOI and dates
    folder: str
    group: str = ""  # the layer-tree group holding its layers
    created: str = ""
    aoi: dict = field(default_factory=dict)  # {"description": ..., "file": ...}
    search: dict = field(default_factory=dict)  # footprints, summary, count, stacks, level, start, end
    filter: dict | None = None  # revision, footprints, count, stacks
    pairs: dict | None = None  # revision, pairs, plot, count, components, based_on, stacks
    jobs_file: str = ""
    products: str = ""
    timeseries: list[dict] = field(default_factory=list)  # runs, newest last
    revision: int = 0  # counts the runs of filter and pairs, for unique file names

    def footprints_key(self) -> str:
        """What the pairs would be based on now: the last filter, else the search."""
        return f"filter:{self.filter['revision']}" if self.filter else "search"

    def footprints_file(self) -> str:
        return (self.filter or self.search).get("footprints", "")

    def stacks(self) -> list[str]:
        """The stacks the current footprints hold."""
        return list((self.filter or self.search).get("stacks", []))

    def next_revision(self) -> int:
        self.revision += 1
        return self.revision

    @classmethod
    def from_dict(cls, data: dict) -> Chain:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class Workspace(QObject):
    """The workspace folder and the state of the dock's steps; ``changed(step)`` after each change.

    ``step`` is one of ``folder``, ``chain`` (another search became current), ``search``,
    ``filter``, ``pairs``, ``jobs``, ``products``, ``timeseries``, ``decompose``.
    """

    changed = pyqtSignal(str)
    notice = pyqtSignal(str)  # a sentence the dock shows the user once

    def __init__(self, parent: QObject | None = None, project: QgsProject | None = None) -> None:
        super().__init__(parent)
        self._project = project
        self.folder: Path | None = None
        self.chains: list[Chain] = []
        self.current_id = ""
        self.decompositions: list[dict] = []
        self.aoi: dict = {}  # the AOI choice of the search page, as the project last saw it
        self.extra: dict = {}  # small per-page state (reference point, chart layer, ...)
        self._announced: set[str] = set()
        self._connected = False
        self._loading = False

    # ---- the project -----------------------------------------------------------------------

    @property
    def project(self) -> QgsProject:
        return self._project or QgsProject.instance()

    def attach(self) -> None:
        """Follow the project: read the workspace when a project is read, write it when it is saved."""
        if self._connected:
            return
        project = self.project
        project.readProject.connect(self._project_read)
        project.writeProject.connect(self._project_written)
        project.cleared.connect(self.reset)
        self._connected = True
        self.read_from_project_file()

    def detach(self) -> None:
        if not self._connected:
            return
        project = self.project
        for signal, slot in (
            (project.readProject, self._project_read),
            (project.writeProject, self._project_written),
            (project.cleared, self.reset),
        ):
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass
        self._connected = False

    def _project_written(self, document: QDomDocument) -> None:
        """Add the workspace location to the project file being written."""
        if self.folder is None:
            return
        self.save()
        root = document.documentElement()
        for old in _children(root, XML_TAG):
            root.removeChild(old)
        element = document.createElement(XML_TAG)
        element.setAttribute("path", str(self.folder))
        home = self.project.absolutePath()
        if home:
            element.setAttribute("relative", os.path.relpath(str(self.folder), home))
        root.appendChild(element)

    def _project_read(self, document: QDomDocument) -> None:
        elements = _children(document.documentElement(), XML_TAG)
        self.reset()
        if not elements:
            return
        element = elements[0].toElement()
        home = self.project.absolutePath()
        candidates = []
        if element.attribute("relative") and home:
            candidates.append(os.path.normpath(os.path.join(home, element.attribute("relative"))))
        candidates.append(element.attribute("path"))
        for candidate in candidates:
            if candidate and (Path(candidate) / MANIFEST_NAME).is_file():
                self.open(candidate)
                return
        self.notice.emit(
            tr("This project's InSARHub workspace was not found at {path}: choose its folder again.").format(
                path=candidates[-1]
            )
        )

    def read_from_project_file(self) -> None:
        """Read the workspace of the project already open when the dock is created."""
        path = self.project.fileName()
        if not path or self.folder is not None:
            return
        from qgis.core import QgsProjectStorage  # noqa: F401 — reading a .qgz needs the archive API

        document = _project_document(path)
        if document is not None:
            self._project_read(document)

    # ---- the folder ------------------------------------------------------------------------

    def default_folder(self) -> Path:
        """Next to the saved project, else a new folder in the per-user workspace root."""
        project_file = self.project.fileName()
        if project_file:
            path = Path(project_file)
            return path.with_name(f"{path.stem}_insarhub")
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        return default_root() / f"untitled-{stamp}"

    def ensure_folder(self) -> Path:
        """The workspace folder, made (at its default place) the first time a step needs it."""
        if self.folder is None:
            folder = self.default_folder()
            if is_temporary(folder):
                raise ValueError(
                    tr(
                        "The project is in a temporary folder ({folder}), which is deleted: save the project "
                        "elsewhere or choose a workspace folder."
                    ).format(folder=folder.parent)
                )
            folder.mkdir(parents=True, exist_ok=True)
            self.folder = folder
            self.save()
            self.project.setDirty(True)
            if not self.project.fileName():
                self.announce(
                    tr(
                        "The project is not saved yet, so InSARHub keeps this workflow in {folder}. Save the "
                        "project to keep it with the project."
                    ).format(folder=folder)
                )
            self.changed.emit("folder")
        return self.folder

    def announce(self, message: str) -> None:
        """Tell the user ``message`` once per workspace session."""
        if message in self._announced:
            return
        self._announced.add(message)
        self.notice.emit(message)

    def set_folder(self, path: str | Path) -> None:
        """Use ``path`` as the workspace (its state is loaded when it has one); ValueError for a temp folder."""
        path = Path(path).expanduser()
        if is_temporary(path):
            raise ValueError(
                tr(
                    "{folder} is a temporary folder: its content is deleted, and with it jobs you paid for. "
                    "Choose a folder that lasts."
                ).format(folder=path)
            )
        if self.folder is not None and normalised(str(path)) == normalised(str(self.folder)):
            return
        if (path / MANIFEST_NAME).is_file():
            self.open(path)
            self.project.setDirty(True)
            return
        path.mkdir(parents=True, exist_ok=True)
        if self.folder is None:  # a first folder takes over what is in memory (nothing on disk yet)
            self.folder = path
        else:
            self.reset()
            self.folder = path
        self.save()
        self.project.setDirty(True)
        self.changed.emit("folder")

    def open(self, folder: str | Path) -> None:
        """Load the workspace in ``folder`` (its manifest)."""
        folder = Path(folder)
        data = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(tr("{path} is not an InSARHub workspace.").format(path=folder / MANIFEST_NAME))
        self._loading = True
        try:
            self.folder = folder
            self.chains = [Chain.from_dict(c) for c in data.get("chains", [])]
            self.current_id = data.get("current", "")
            self.decompositions = list(data.get("decompositions", []))
            self.aoi = dict(data.get("aoi", {}))
            self.extra = dict(data.get("extra", {}))
        finally:
            self._loading = False
        self.changed.emit("folder")

    def reset(self) -> None:
        """Forget everything (a new project)."""
        self.folder = None
        self.chains = []
        self.current_id = ""
        self.decompositions = []
        self.aoi = {}
        self.extra = {}
        self.changed.emit("folder")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "saved": dt.datetime.now().isoformat(timespec="seconds"),
            "current": self.current_id,
            "chains": [asdict(c) for c in self.chains],
            "decompositions": self.decompositions,
            "aoi": self.aoi,
            "extra": self.extra,
        }

    def save(self) -> None:
        """Write the manifest (atomically); nothing when there is no folder yet."""
        if self.folder is None or self._loading:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / MANIFEST_NAME
        handle, temporary = tempfile.mkstemp(prefix=".insarhub-workspace-", suffix=".json", dir=str(self.folder))
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(self.to_dict(), stream, indent=2)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    def commit(self, step: str) -> None:
        """A step changed the state: save it and tell the pages."""
        self.save()
        if self.folder is not None:
            self.project.setDirty(True)
        self.changed.emit(step)

    # ---- paths -----------------------------------------------------------------------------

    def path(self, relative: str) -> str:
        """The absolute path of a path stored relative to the workspace ("" stays "")."""
        if not relative:
            return ""
        if os.path.isabs(relative) or self.folder is None:
            return relative
        return str(self.folder / relative)

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the workspace when inside it, else absolute."""
        if not path:
            return ""
        path = str(path)
        if self.folder is not None:
            try:
                return str(Path(os.path.realpath(path)).relative_to(os.path.realpath(self.folder)))
            except ValueError:
                pass
        return path

    def stack_folder(self, stacks: list[str]) -> Path:
        """``stacks/<stack>`` (several stacks: their names joined), made when missing."""
        key = "+".join(sorted(stacks)) or "unknown"
        folder = self.ensure_folder() / "stacks" / slug(key, 120)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ---- search chains ---------------------------------------------------------------------

    @property
    def current(self) -> Chain | None:
        return next((c for c in self.chains if c.id == self.current_id), None)

    def chain(self, chain_id: str) -> Chain | None:
        return next((c for c in self.chains if c.id == chain_id), None)

    def new_chain(self, label: str, aoi_description: str) -> Chain:
        """A folder for a new search; it becomes a chain (and current) once the search found something."""
        stamp = dt.datetime.now()
        folder = self.ensure_folder() / "searches" / f"{slug(label)}_{stamp:%Y%m%d-%H%M%S}"
        number = 1
        while folder.exists():
            number += 1
            folder = folder.with_name(f"{folder.name.split('~')[0]}~{number}")
        folder.mkdir(parents=True)
        return Chain(
            id=f"{stamp:%Y%m%d%H%M%S}-{len(self.chains) + 1}",
            label=label,
            folder=self.relative(folder),
            created=stamp.isoformat(timespec="seconds"),
            aoi={"description": aoi_description},
        )

    def add_chain(self, chain: Chain) -> None:
        self.chains.append(chain)
        self.current_id = chain.id
        self.commit("chain")

    def set_current(self, chain_id: str) -> None:
        if chain_id != self.current_id and self.chain(chain_id) is not None:
            self.current_id = chain_id
            self.commit("chain")

    def chain_file(self, chain: Chain, stem: str, extension: str, revision: int | None = None) -> str:
        """An absolute path in the chain's folder (``stem-<revision>.ext`` when a revision is given)."""
        name = f"{stem}-{revision}.{extension}" if revision else f"{stem}.{extension}"
        folder = Path(self.path(chain.folder))
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / name)

    def chain_of_group(self, group_name: str) -> Chain | None:
        return next((c for c in self.chains if c.group == group_name), None)

    def unique_label(self, label: str) -> str:
        labels = {c.label for c in self.chains}
        candidate, number = label, 1
        while candidate in labels:
            number += 1
            candidate = f"{label} ({number})"
        return candidate

    # ---- what is stale ---------------------------------------------------------------------

    def stale(self, step: str, chain: Chain | None = None) -> str:
        """Why ``step``'s result in ``chain`` (default: current) no longer matches its inputs ("" when it does).

        The rules, in one place:

        - ``pairs``: made from other footprints than the chain's current ones (a filter ran since).
        - ``order`` (pricing and submitting): no pairs, or stale pairs.
        - ``timeseries``: the products folder holds other products than those of the last run.
        """
        chain = chain or self.current
        if chain is None:
            return tr("Search first.")
        if step == "pairs":
            if chain.pairs and chain.pairs.get("based_on") != chain.footprints_key():
                return tr(
                    "These pairs were selected before the stacks were filtered again: select pairs again."
                )
            return ""
        if step == "order":
            if not chain.pairs:
                return tr("Select pairs first (page 3).")
            return self.stale("pairs", chain)
        if step == "timeseries":
            if not chain.timeseries:
                return ""
            last = chain.timeseries[-1]
            now = product_names(self.path(chain.products)) if chain.products else []
            if last.get("products") is not None and sorted(now) != sorted(last.get("products", [])):
                added = len(set(now) - set(last.get("products", [])))
                return tr(
                    "The products folder changed since this run ({added} new product(s)): run the time series again."
                ).format(added=added)
            return ""
        return ""


def product_names(folder: str) -> list[str]:
    """The HyP3 products in ``folder`` (names), as the time series would find them."""
    if not folder or not os.path.isdir(folder):
        return []
    from ..core.timeseries.prepare import find_products

    return sorted({candidate.name for candidate in find_products(Path(folder), exclude=[Path(folder) / "mintpy"])})


def _children(element: Any, tag: str) -> list[Any]:
    nodes = element.elementsByTagName(tag)
    return [nodes.at(i) for i in range(nodes.count()) if nodes.at(i).parentNode() == element]


def _project_document(path: str) -> QDomDocument | None:
    """The XML of a .qgs or .qgz project file (for the workspace element)."""
    import zipfile

    try:
        if path.lower().endswith(".qgz"):
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.lower().endswith(".qgs")), None)
                if name is None:
                    return None
                data = archive.read(name)
        else:
            data = Path(path).read_bytes()
    except (OSError, zipfile.BadZipFile):
        return None
    document = QDomDocument()
    result = document.setContent(data)
    ok = result[0] if isinstance(result, tuple) else bool(result)
    return document if ok else None
