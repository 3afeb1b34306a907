"""OHIF (the v3 build inside the monailabel wheel) in headless Chromium, driven by Playwright with Debian's
/usr/bin/chromium: what a user does in the browser, against the test's label server and Orthanc.

- MRI: the MONAI Label mode opens the study (MPR), the panel connects to the server, the user picks the
  ``mri_tumour`` model under Point Prompts, selects ``tumour``, clicks the tumour and runs: the overlay is
  the server's label (Dice against observer1's T2 VOI checked on the viewer's own labelmap).
- CEUS, MONAI Label mode: OHIF cannot make a volume of a US multi-frame (no plane positions), so the server
  stores each cine as a pseudo-volume (``hccrisk.roi.cine_volume``: the 2 fps frames stacked, plane
  positions along z = time); MPR shows it, Point Prompts -> ``ceus_box`` -> two corner clicks -> Run: the
  overlay is the tracked box on every frame; saved through the client it becomes a box SR on the cine.
- CEUS, basic viewer: the cine (every frame) and its saved box SR series are listed.

Screenshots go to ``$HCCRISK_LABEL_SCREENSHOTS`` (default: the test's tmp folder) and are printed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
import SimpleITK as sitk

from hccrisk.dicom.scan import scan
from hccrisk.dicom.select import select_ceus, select_mri
from hccrisk.pacs import connect
from hccrisk.dicom.us import frame_offsets_s
from hccrisk.roi.cine_volume import read_cine_volume, sample_frames, volume_series_uid
from hccrisk.roi.sr import read_box_sr

from .conftest import PATIENT
from .test_server import run_client

pytestmark = pytest.mark.slow  # the label server, then a browser (~2 min)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# the slice of the axial MPR viewport moved to a world point, and that point in page pixels
_CLICK_AT = """(world) => {
    const vp = window.cornerstone.getRenderingEngines()[0].getViewports().find(v => v.id.includes('axial'));
    const cam = vp.getCamera(), n = cam.viewPlaneNormal;
    const d = n[0] * (world[0] - cam.focalPoint[0]) + n[1] * (world[1] - cam.focalPoint[1])
              + n[2] * (world[2] - cam.focalPoint[2]);
    vp.setCamera({focalPoint: cam.focalPoint.map((v, i) => v + d * n[i]),
                  position: cam.position.map((v, i) => v + d * n[i])});
    vp.render();
    const c = vp.worldToCanvas(world), r = vp.canvas.getBoundingClientRect();
    return [r.left + c[0], r.top + c[1]];
}"""
# the viewer's labelmap: its dimensions (x, y, z) and the flat indices of labelled voxels
_LABELMAP = """() => {
    const v = window.services.segmentationService.getLabelmapVolume('1');
    if (!v) return null;
    const a = v.voxelManager.getCompleteScalarDataArray(), idx = [];
    for (let i = 0; i < a.length; i++) if (a[i]) idx.push(i);
    return {dimensions: Array.from(v.dimensions), indices: idx};
}"""


_VOLUME_SHOWN = """() => { const e = window.cornerstone && window.cornerstone.getRenderingEngines()[0];
    const vp = e && e.getViewports().find(v => v.id.includes('axial'));
    return !!(vp && vp.getActors && vp.getActors().length); }"""


def _wait(page, predicate: str, what: str, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while not page.evaluate(predicate):
        assert time.time() < deadline, f"OHIF: waited {timeout_s} s until {what}:\n" + "\n".join(page.logs[-20:])
        page.wait_for_timeout(1000)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent (Debian package chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _close_pages(request):
    """Close a test's browser pages after it: a page left open keeps loading images through the label
    server's DICOMweb proxy and starves the next test's page (its load timed out at 120 s)."""
    yield
    if "browser" in request.fixturenames:
        for ctx in request.getfixturevalue("browser").contexts:
            ctx.close()


def _page(browser, server_url: str):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    # the panel's server URL is a cookie (default: this host, port 8000)
    ctx.add_cookies([{"name": "MONAILABEL_SERVER_URL", "value": server_url + "/", "url": server_url}])
    page = ctx.new_page()
    page.logs = []
    page.on("console", lambda m: page.logs.append(f"{m.type}: {m.text}"[:300]))
    page.on("requestfailed", lambda r: page.logs.append(f"request failed: {r.url} {r.failure}"[:300]))
    page.on("response", lambda r: page.logs.append(f"response {r.status}: {r.url}"[:300]) if "/infer/" in r.url else None)
    return page


def _shot(page, name: str, tmp_path: Path) -> Path:
    out = Path(os.environ.get("HCCRISK_LABEL_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / name))
    print(f"screenshot: {out / name}")
    return out / name


def test_ohif_monai_label_panel_runs_the_mri_infer_and_shows_the_overlay(browser, label_server, tmp_path):
    phases, _ = select_mri(scan(label_server.cohort / "dicom").by_patient()[PATIENT])
    t2 = pydicom.dcmread(phases["T2"].instances[0].path, stop_before_pixels=True)  # the MPR mode shows T2 first
    truth_img = sitk.ReadImage(str(label_server.cohort / "rois" / "observer1" / PATIENT / "mri_T2_tumour.nii.gz"))
    truth = sitk.GetArrayFromImage(truth_img) == 1
    z, y, x = np.argwhere(truth).mean(axis=0)
    world = list(truth_img.TransformContinuousIndexToPhysicalPoint((float(x), float(y), float(z))))

    page = _page(browser, label_server.url)
    page.goto(f"{label_server.url}/ohif/monai-label?StudyInstanceUIDs={t2.StudyInstanceUID}")
    page.get_by_text("Confirm and Hide").click(timeout=120_000)
    _wait(page, _VOLUME_SHOWN, "the MPR volume is shown")
    page.locator(".settingsTable button.actionButton").click()  # connect the panel to the server
    _wait(page, "() => { try { return !!window.services.segmentationService.getLabelmapVolume('1'); } "
                "catch (e) { return false; } }",
          "the panel made its labelmap")  # on connect; clicking Run before it exists loses the result
    page.get_by_text("Point Prompts").click(timeout=60_000)
    model = page.locator(".modelSelector select:has(option[value='mri_tumour'])")
    model.select_option("mri_tumour")
    page.locator("tr.clickable-row", has_text="tumour").first.click()
    page.wait_for_timeout(2000)  # the probe tool is activated for the label
    page.mouse.click(*page.evaluate(_CLICK_AT, world))
    page.wait_for_timeout(1000)
    model.locator("xpath=ancestor::table[1]").locator("button").click()  # Run
    deadline = time.time() + 90
    while not any("updated the segmentation's scalar data" in line for line in page.logs):
        assert time.time() < deadline, "\n".join(page.logs[-30:])
        page.wait_for_timeout(1000)  # (not time.sleep: Playwright delivers console events while it waits)
    page.wait_for_timeout(2000)
    shot = _shot(page, "ohif_mri_tumour.png", tmp_path)
    labelmap = page.evaluate(_LABELMAP)
    assert labelmap and labelmap["indices"], "\n".join(page.logs[-30:])
    got = np.zeros(truth.size, bool)
    got[labelmap["indices"]] = True
    got = got.reshape(truth.shape)  # x fastest, then y, then z: numpy's (z, y, x) of the same grid
    assert tuple(labelmap["dimensions"]) == truth_img.GetSize()
    dice = 2 * (got & truth).sum() / (got.sum() + truth.sum())
    print(f"OHIF mri_tumour from one click: {got.sum()} voxels shown, Dice {dice:.3f} vs observer1's T2 VOI; {shot}")
    assert dice > 0.6


def test_ohif_shows_the_ceus_cine_and_its_saved_box_sr(browser, label_server, tmp_path):
    ceus, _ = select_ceus(scan(label_server.cohort / "dicom").by_patient()[PATIENT])
    clip = pydicom.dcmread(next(i.path for s in ceus for i in s.instances if i.n_frames > 1), stop_before_pixels=True)
    label = tmp_path / "box.nii.gz"
    n = int(clip.NumberOfFrames)
    with (label_server.cohort / "rois" / "observer1" / PATIENT / "ceus_tumour.csv").open(newline="") as fh:
        row = [r for r in csv.DictReader(fh) if r["sop_instance_uid"] == clip.SOPInstanceUID][n // 4]
    corners = [[int(row["x0"]), int(row["y0"]), n // 4], [int(row["x1"]) - 1, int(row["y1"]) - 1, n // 4]]
    run_client(label_server, "infer", "ceus_box", clip.SeriesInstanceUID, json.dumps({"foreground": corners}),
               str(label))
    run_client(label_server, "save", clip.SeriesInstanceUID, str(label), "final", "{}")

    page = _page(browser, label_server.url)
    page.goto(f"{label_server.url}/ohif/viewer?StudyInstanceUIDs={clip.StudyInstanceUID}")
    page.get_by_text("Confirm and Hide").click(timeout=120_000)
    page.get_by_text("hccrisk observer1: CEUS", exact=False).first.wait_for(timeout=60_000)
    page.get_by_text(f"(1/{n})").wait_for(timeout=60_000)  # the cine's frame counter: every frame loaded
    _shot(page, "ohif_ceus_viewer.png", tmp_path)


def read_geometry_z(files) -> float:
    """The spacing of a volume's images along z (their Image Position (Patient))."""
    z = sorted(float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in files)
    return (z[-1] - z[0]) / (len(z) - 1)


def _wait_for_series(orthanc, series_uid: str, n_instances: int, timeout_s: float = 180) -> None:
    """Until the PACS holds ``n_instances`` images of the series (the server stores a volume in parts)."""
    deadline = time.time() + timeout_s
    while True:
        found = requests.get(f"{orthanc.dicomweb_url}/series", timeout=10,
                             params={"SeriesInstanceUID": series_uid, "includefield": "00201209"}).json()
        have = int(found[0]["00201209"]["Value"][0]) if found else 0
        if have >= n_instances:
            return
        assert time.time() < deadline, f"the CEUS cine volume {series_uid} has {have} of {n_instances} images " \
                                       f"after {timeout_s} s"
        time.sleep(2)


def test_ohif_monai_label_panel_runs_ceus_box_on_the_cine_volume(browser, label_server, orthanc, tmp_path):
    """The CEUS cine in OHIF's MONAI Label mode, as the pseudo-volume the server stored at start-up
    (lib/cine_volumes.py): MPR shows it, Point Prompts -> ``ceus_box`` -> ``tumour_box`` -> two clicks at the
    truth box's corners on one frame -> Run: the overlay is the tracked 5 mm box on every frame; the same
    label saved through the client becomes a box SR on the ORIGINAL cine's frames."""
    ceus, _ = select_ceus(scan(label_server.cohort / "dicom").by_patient()[PATIENT])
    clip = pydicom.dcmread(next(i.path for s in ceus for i in s.instances if i.n_frames > 1), stop_before_pixels=True)
    volume_uid = volume_series_uid(clip.SeriesInstanceUID)
    clip_path = next(i.path for s in ceus for i in s.instances if i.n_frames > 1)
    _wait_for_series(orthanc, volume_uid, len(sample_frames([frame_offsets_s(clip, clip_path)[0]])))
    pacs = connect(orthanc.dicomweb_url)
    pacs.retrieve(clip.StudyInstanceUID, tmp_path / "volume", series_uid=volume_uid)
    volume_files = [p for p in (tmp_path / "volume").rglob("*") if p.is_file()]
    sources = read_cine_volume(volume_files)
    vol = pydicom.dcmread(volume_files[0], stop_before_pixels=True)
    n = len(sources.frames)
    dz = float(read_geometry_z(volume_files))
    sy, sx = (float(v) for v in vol.PixelSpacing)
    with (label_server.cohort / "rois" / "observer1" / PATIENT / "ceus_tumour.csv").open(newline="") as fh:
        truth_of = {int(r["frame"]): r for r in csv.DictReader(fh) if r["sop_instance_uid"] == clip.SOPInstanceUID}
    truth = np.array([[int(truth_of[f][c]) for c in ("x0", "y0", "x1", "y1")] for f in sources.frames])  # (K, 4)
    k = int(np.argmin([abs(float(truth_of[f]["time_s"]) - 25.0) for f in sources.frames]))
    corners = [[int(truth[k, 0]), int(truth[k, 1]), k], [int(truth[k, 2]) - 1, int(truth[k, 3]) - 1, k]]

    page = _page(browser, label_server.url)
    sent = []  # the params of the panel's infer requests (multipart form field "params")
    page.on("request", lambda r: sent.append(r.post_data) if "/infer/ceus_box" in r.url else None)
    page.goto(f"{label_server.url}/ohif/monai-label?StudyInstanceUIDs={clip.StudyInstanceUID}", timeout=120_000)
    page.get_by_text("Confirm and Hide").click(timeout=120_000)
    _wait(page, _VOLUME_SHOWN, "the MPR volume (the cine volume) is shown")
    page.locator(".settingsTable button.actionButton").click()
    _wait(page, "() => { try { return !!window.services.segmentationService.getLabelmapVolume('1'); } "
                "catch (e) { return false; } }", "the panel made its labelmap")
    page.get_by_text("Point Prompts").click(timeout=60_000)
    model = page.locator(".modelSelector select:has(option[value='ceus_box'])")
    model.select_option("ceus_box")
    page.locator("tr.clickable-row", has_text="tumour_box").first.click()
    page.wait_for_timeout(2000)
    for x, y, z in corners:  # pixel centres of the volume: IPP (0, 0, z dz), rows along y, columns along x
        page.mouse.click(*page.evaluate(_CLICK_AT, [x * sx, y * sy, z * dz]))
        page.wait_for_timeout(1000)
    model.locator("xpath=ancestor::table[1]").locator("button").click()  # Run
    deadline = time.time() + 120
    while not any("updated the segmentation's scalar data" in line for line in page.logs):
        assert time.time() < deadline, "\n".join(page.logs[-30:])
        page.wait_for_timeout(1000)
    page.wait_for_timeout(2000)
    shot = _shot(page, "ohif_ceus_box_volume.png", tmp_path)
    labelmap = page.evaluate(_LABELMAP)
    assert labelmap and labelmap["indices"], "\n".join(page.logs[-30:])
    assert tuple(labelmap["dimensions"]) == (int(vol.Columns), int(vol.Rows), n)
    shown = np.zeros(n * vol.Rows * vol.Columns, bool)
    shown[labelmap["indices"]] = True
    shown = shown.reshape(n, vol.Rows, vol.Columns)  # x fastest, then y, then frame
    inside = np.mean([shown[t, y0:y1, x0:x1].all() for t, (x0, y0, x1, y1) in enumerate(truth)])
    print(f"OHIF ceus_box from two clicks on volume frame {k}: {shown.any(axis=(1, 2)).sum()} of {len(shown)} "
          f"frames labelled, tumour inside the overlay on {100 * inside:.1f} %; {shot}")
    assert inside >= 0.98

    # the panel sent the two corners (frame k) as clicks; the same request through MONAI Label's client
    # (what Slicer sends) gives the label the viewer shows
    params = json.loads(re.search(r'name="params"\r\n\r\n(.*?)\r\n--', sent[-1], re.S).group(1))
    assert np.abs(np.array(params["foreground"]) - np.array(corners)).max() <= 1, (params["foreground"], corners)
    label = tmp_path / "box.nii.gz"
    run_client(label_server, "infer", "ceus_box", volume_uid, json.dumps({"foreground": params["foreground"]}),
               str(label))
    served = sitk.GetArrayFromImage(sitk.ReadImage(str(label))) > 0
    assert np.array_equal(served, shown)
    # saved on the volume -> a box SR on the original cine's frames (observer3: apart from the other tests')
    run_client(label_server, "save", volume_uid, str(label), "observer3", json.dumps({"margin_mm": 5.0}))
    sr_series = [s for s in pacs.find_series(clip.StudyInstanceUID)
                 if s.get("SeriesDescription", "").startswith("hccrisk observer3")]
    assert len(sr_series) == 1
    pacs.retrieve(clip.StudyInstanceUID, tmp_path / "sr", series_uid=sr_series[0]["SeriesInstanceUID"])
    sr = next(p for p in (tmp_path / "sr").rglob("*") if p.is_file())
    boxes = {box.frame: box for box, sop in read_box_sr(sr) if sop == clip.SOPInstanceUID}
    assert sorted(boxes) == sorted(sources.frames)  # one box per volume frame, on its stored frame
    for t, f in enumerate(sources.frames):
        rows = np.flatnonzero(served[t].any(axis=1))
        b = boxes[f]  # the contrast half's box (a dual display paints both halves)
        assert rows[0] <= b.y0 < b.y1 <= rows[-1] + 1 and served[t, b.y0:b.y1, b.x0:b.x1].all()
    if shutil.which("dciodvfy"):
        for path in (volume_files[0], sr):
            report = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True).stderr
            assert not [line for line in report.splitlines() if line.startswith("Error")], report
