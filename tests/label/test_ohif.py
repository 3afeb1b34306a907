"""OHIF (the v3 build inside the monailabel wheel) in headless Chromium, driven by Playwright with Debian's
/usr/bin/chromium: what a user does in the browser, against the test's label server and Orthanc.

- MRI: the MONAI Label mode opens the study (MPR), the panel connects to the server, the user picks the
  ``mri_tumour`` model under Point Prompts, selects ``tumour``, clicks the tumour and runs: the overlay is
  the server's label (Dice against observer1's T2 VOI checked on the viewer's own labelmap).
- CEUS: the MONAI Label mode cannot show a US multi-frame (its MPR hanging protocol needs a reconstructable
  volume: the three viewports stay empty, and the panel's infer needs a volume viewport), so the CEUS infer
  runs through MONAI Label's client (as the Slicer module does) and the saved label, a box SR in the PACS,
  is checked in OHIF's basic viewer: the cine (every frame) and the SR series are listed.

Screenshots go to ``$HCCRISK_LABEL_SCREENSHOTS`` (default: the test's tmp folder) and are printed.
"""

from __future__ import annotations

import json
import os
import csv
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from hccrisk.dicom.scan import scan
from hccrisk.dicom.select import select_ceus, select_mri

from .conftest import PATIENT
from .test_server import run_client

pytestmark = pytest.mark.slow  # the label server, then a browser (~1 min)
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

    # the MONAI Label mode on the same study: what the user sees there (no viewport can hold the cine)
    page.goto(f"{label_server.url}/ohif/monai-label?StudyInstanceUIDs={clip.StudyInstanceUID}")
    page.locator(".settingsTable button.actionButton").click(timeout=120_000)
    page.get_by_text("Point Prompts").wait_for(timeout=60_000)
    assert page.locator(".modelSelector select option[value='ceus_box']").count() >= 1
    _shot(page, "ohif_ceus_monai_label_mode.png", tmp_path)
