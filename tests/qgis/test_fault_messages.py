"""Issue 14: OS and data faults reach the user of an algorithm as messages, never as tracebacks."""

from __future__ import annotations

import errno
import json

import insarhub_qgis
import pytest
from fakes.cmr import load_fixture
from fakes.hostile import Answer, HostileServer
from insarhub_qgis.processing_provider.base import InsarhubAlgorithm
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback


@pytest.fixture()
def provider(qgis_iface, qgis_processing):
    plugin = insarhub_qgis.classFactory(qgis_iface)
    plugin.initProcessing()
    yield QgsApplication.processingRegistry().providerById("insarhub")
    plugin.unload()


class _Failing(InsarhubAlgorithm):
    NAME = "failing"

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def createInstance(self):  # noqa: N802
        return _Failing(self.error)

    def execute(self, parameters, context, feedback):
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/data/work/velocity.h5"), "the disk holding /data/work is full"),
        (PermissionError(errno.EACCES, "Permission denied", "/srv/work"), "permission denied (/srv/work is not writable"),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/work/x"), "read-only file system"),
        (OSError(errno.ENAMETOOLONG, "File name too long", "/w/" + "n" * 300), "too long for the file system"),
    ],
)
def test_an_os_fault_anywhere_in_an_algorithm_is_a_message(qgis_app, error, expected):
    with pytest.raises(QgsProcessingException) as caught:
        _Failing(error).processAlgorithm({}, QgsProcessingContext(), QgsProcessingFeedback())
    assert expected in str(caught.value) and "Traceback" not in str(caught.value)


def test_searchscenes_skips_records_with_broken_geometry_and_keeps_the_rest(provider, tmp_path, monkeypatch):
    import processing

    items = [{"umm": i["umm"], "meta": i["meta"]} for i in load_fixture("s1_burst_174_372326_IW3_stack")[:4]]
    broken = json.loads(json.dumps(items[1]))
    broken["umm"]["GranuleUR"] = "NAN-GEOMETRY-BURST"
    points = broken["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]
    points[0]["Latitude"] = float("nan")
    page = json.dumps({"hits": 4, "items": [items[0], broken, items[2], items[3]]}).encode()
    with HostileServer(lambda seen: Answer(200, page), tls_dir=tmp_path / "tls") as cmr:
        monkeypatch.setenv("INSARHUB_CMR_HOST", cmr.host)
        monkeypatch.setenv("INSARHUB_CA_BUNDLE", cmr.ca_file)
        feedback = _Recording()
        results = processing.run(
            "insarhub:searchscenes",
            {"WKT": "POINT(-135.9 57.0)", "PROCESSING_LEVEL": "BURST", "OUTPUT": str(tmp_path / "out.gpkg")},
            feedback=feedback,
        )
    assert results["COUNT"] == 3
    assert any("NAN-GEOMETRY-BURST: its footprint has coordinates that are not numbers" in w for w in feedback.warnings)


class _Recording(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def pushWarning(self, warning: str) -> None:  # noqa: N802 - QGIS API
        self.warnings.append(warning)
        super().pushWarning(warning)


def test_runtimeseries_refuses_a_work_folder_another_run_is_using(provider, tmp_path):
    """Two runs at once in one MintPy work folder (another QGIS, a qgis_process in a terminal):
    the second is refused at once, says who holds the folder and what to do, and writes nothing."""
    import os
    import subprocess
    import sys
    import textwrap

    import processing

    products, workdir = tmp_path / "products", tmp_path / "mintpy"
    products.mkdir()
    plugins = os.path.dirname(os.path.dirname(insarhub_qgis.__file__))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                sys.path.insert(0, {plugins!r})
                from insarhub_qgis.core.filelock import folder_lock
                with folder_lock({str(workdir)!r}, "a time series", ""):
                    print("held", flush=True)
                    time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = sorted(p.name for p in workdir.iterdir())
        with pytest.raises(QgsProcessingException) as refused:
            processing.run(
                "insarhub:runtimeseries",
                {"PRODUCTS_FOLDER": str(products), "WORKDIR": str(workdir), "VELOCITY": str(tmp_path / "v.tif")},
            )
        message = str(refused.value)
        assert f"Another InSARHub run is doing a time series in {workdir}" in message
        assert f"process {holder.pid} on" in message and "choose another work folder" in message
        assert sorted(p.name for p in workdir.iterdir()) == before and not (tmp_path / "v.tif").exists()
    finally:
        holder.kill()
        holder.wait()
