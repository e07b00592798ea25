"""insarhub:downloadscenes through ./scripts/qgis_process, as a user runs it: search the CMR
stand-in, then download the SLC zips and bursts from the loopback stand-in of ASF's download
hosts (INSARHUB_ASF_DOWNLOAD_BASE) with an Earthdata token.

The fixture records describe multi-GB files; ``give_small_files`` gives each record a small
generated file and rewrites the record's own size/MD5 attributes (BYTES/MD5SUM for SLCs,
BYTE_LENGTH for bursts) before the CMR stand-in serves it, so the whole chain (CMR record ->
footprint -> download -> verification) runs on the real code paths with small honest data.
Disk space and cancel/resume are covered at unit level (tests/unit/test_download_scenes.py).
"""

from __future__ import annotations

import hashlib

import pytest
from fakes.cmr import CMRStandIn, load_fixture
from fakes.files import FileServer, give_small_files
from osgeo import ogr
from process_helpers import clean_env, run_algorithm

pytestmark = pytest.mark.slow

TOKEN = "EDL-download-token-never-leak-51d0"
SLC_STACK = "P94_F210"
BURST_STACK = "174_372326_IW3"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """Footprints of 3 SLCs and 3 bursts (two stacks) in one GeoPackage, and the served files."""
    folder = tmp_path_factory.mktemp("downloadscenes")
    slcs = load_fixture("s1_slc_fairbanks_p94_f210_stack")
    bursts = load_fixture("s1_burst_174_372326_IW3_stack")[:3]
    contents = give_small_files(slcs + bursts)
    with CMRStandIn(slcs + bursts, tmpdir=folder) as cmr:
        env = clean_env(INSARHUB_CMR_HOST=cmr.host, INSARHUB_CA_BUNDLE=cmr.ca_file)
        for name, items in (("slcs", slcs), ("bursts", bursts)):
            names = ",".join(
                i["asf_properties"]["fileID"] if name == "bursts" else i["asf_properties"]["sceneName"]
                for i in items
            )
            done, results = run_algorithm(
                "insarhub:searchscenes", {"GRANULES": names, "OUTPUT": folder / f"{name}.gpkg"}, env=env
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert results["COUNT"] == len(items)
    # One layer holding both stacks (as a user may merge two searches).
    target = ogr.Open(str(folder / "slcs.gpkg"), update=1)
    layer = target.GetLayer(0)
    source = ogr.Open(str(folder / "bursts.gpkg"))
    for feature in source.GetLayer(0):
        copy = ogr.Feature(layer.GetLayerDefn())
        copy.SetFrom(feature)
        assert layer.CreateFeature(copy) == 0
    target = source = None
    names = {
        url: (f"{SLC_STACK}/{url.rsplit('/', 1)[1]}" if url.endswith(".zip") else None) for url in contents
    }
    for item in bursts:
        tiff, xml = (u["URL"] for u in item["umm"]["RelatedUrls"] if u["Type"] == "USE SERVICE API")
        names[tiff] = f"{BURST_STACK}/{item['asf_properties']['fileID']}.tiff"
        names[xml] = f"{BURST_STACK}/{item['asf_properties']['fileID']}.xml"
    return folder / "slcs.gpkg", contents, names


def _env(server: FileServer, token: str = TOKEN) -> dict[str, str]:
    return clean_env(INSARHUB_ASF_DOWNLOAD_BASE=server.url, EARTHDATA_TOKEN=token)


def _tail(url: str) -> str:
    """The request path tail of an ASF URL (what the file server's faults match)."""
    return "/".join(url.split("/")[3:])


def _no_secret(folder, *texts: str) -> None:
    for text in texts:
        assert TOKEN not in text
    for path in folder.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_files_arrive_verified_per_stack_resume_after_drops_and_rerun_skips(catalogue, tmp_path):
    footprints, contents, names = catalogue
    slc_urls = sorted(u for u in contents if u.endswith(".zip"))
    tiff_urls = sorted(u for u in contents if u.endswith(".tiff"))
    out = tmp_path / "scenes"
    with FileServer(token=TOKEN) as server:
        server.serve(contents)
        server.drop_after(70_000, path=_tail(slc_urls[0]))  # dropped mid-body: must resume
        server.drop_after(50_000, path=_tail(tiff_urls[0]))
        server.fail_next(503, path=_tail(slc_urls[1]))
        server.pending(path=_tail(tiff_urls[1]), retry_after=0.2)  # the burst extractor is still working
        done, results = run_algorithm(
            "insarhub:downloadscenes",
            {"INPUT": footprints, "OUTPUT_FOLDER": out, "WORKERS": 3},
            env=_env(server),
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert results["COUNT"] == 6 and results["BYTES"] == sum(len(c) for c in contents.values())
        assert results["OUTPUT_FOLDER"] == str(out)
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted([SLC_STACK, BURST_STACK])
        for url, data in contents.items():
            path = out / names[url]
            assert path.read_bytes() == data, path
        assert not list(out.rglob("*.part"))

        # Resumed, not restarted: the second request starts where the drop happened and no
        # byte before that point was fetched twice.
        for url, cut in ((slc_urls[0], 70_000), (tiff_urls[0], 50_000)):
            gets = [r for r in server.requests_for(_tail(url)) if r.method == "GET"]
            assert [r.headers.get("range") for r in gets] == [None, f"bytes={cut}-"], url
            assert server.bytes_sent(_tail(url)) == len(contents[url])
        assert [r.status for r in server.requests_for(_tail(tiff_urls[1]))] == [202, 200]
        assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {TOKEN}"}
        assert not server.errors

        # A rerun finds everything complete and asks the server for nothing.
        before = len(server.requests)
        again, results = run_algorithm(
            "insarhub:downloadscenes", {"INPUT": footprints, "OUTPUT_FOLDER": out}, env=_env(server)
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert results["COUNT"] == 6 and len(server.requests) == before
        assert "already complete" in again.stdout
    _no_secret(out, output, again.stdout + again.stderr)


def test_wrong_size_and_md5_mismatch_are_errors_naming_the_files(catalogue, tmp_path):
    footprints, contents, names = catalogue
    short, damaged, fine = sorted(u for u in contents if u.endswith(".zip"))
    out = tmp_path / "scenes"
    with FileServer(token=TOKEN) as server:
        server.serve(contents)
        server.truncate(_tail(short))
        server.corrupt(_tail(damaged))
        done, _ = run_algorithm(
            "insarhub:downloadscenes",
            {"INPUT": footprints, "OUTPUT_FOLDER": out, "RETRIES": 2},
            env=_env(server),
        )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"{names[short]}: received a damaged file: size" in output
    assert f"{names[damaged]}: received a damaged file: MD5" in output
    assert hashlib.md5(contents[damaged]).hexdigest() in output  # the expected MD5 is named
    assert not (out / names[short]).exists() and not (out / names[damaged]).exists()
    assert (out / names[fine]).read_bytes() == contents[fine]
    assert len(list((out / BURST_STACK).glob("*.tiff"))) == 3  # the others are complete
    _no_secret(out, output)


def test_refused_credentials_and_eula_give_what_to_check_and_never_the_token(catalogue, tmp_path):
    footprints, contents, _ = catalogue
    out = tmp_path / "scenes"
    with FileServer(token="the-right-token") as server:
        server.serve(contents)
        done, _ = run_algorithm(
            "insarhub:downloadscenes", {"INPUT": footprints, "OUTPUT_FOLDER": out}, env=_env(server)
        )
        output = done.stdout + done.stderr
        assert done.returncode != 0
        assert "HTTP 401" in output and "EARTHDATA_TOKEN" in output and "EULA" in output
        assert all(r.status == 401 for r in server.requests)
        _no_secret(out, output)

        server.token = TOKEN
        server.deny(403)
        done, _ = run_algorithm(
            "insarhub:downloadscenes", {"INPUT": footprints, "OUTPUT_FOLDER": out}, env=_env(server)
        )
        output = done.stdout + done.stderr
        assert done.returncode != 0
        assert "HTTP 403" in output and "EULA" in output and "urs.earthdata.nasa.gov" in output
    assert not [p for p in out.rglob("*") if p.suffix in (".zip", ".tiff", ".xml")]
    _no_secret(out, output)
