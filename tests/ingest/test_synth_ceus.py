"""Ingest of the synthetic generator's CEUS studies, checked against its ground truth.

One patient per scanner profile (A: RGB JPEG dual display, one series per clip; B: single display,
Frame Time Vector, several clips; C: JPEG-LS dual display, one clip from 3 s before the injection with
Contrast Bolus Start Time). Truth: ``rois/<patient>/ceus_tumour.csv`` gives every stored frame's time
after injection and the tumour centre in stored-frame pixels.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hccrisk.ingest.pipeline import ingest

synth_ceus = pytest.importorskip("hccrisk.synth.ceus")
from hccrisk.synth import ceus_scene  # noqa: E402
from hccrisk.synth.latent import draw_latents  # noqa: E402

VENDORS = ("A", "B", "C")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("synth_ceus")
    vendor_of = {}
    for vendor, p in zip(VENDORS, draw_latents(3, seed=7)):
        p = dataclasses.replace(p, vendor=vendor)
        synth_ceus.write_ceus_study(p, root / "dicom" / f"d{p.index}", root / "rois" / p.patient_id,
                                    "default", p.rng("ceus"))
        vendor_of[p.patient_id] = vendor
    out = root / "ingest"
    result = ingest(root / "dicom", out, workers=1, progress=False)
    assert (result.n_done, result.n_failed, result.n_problems) == (3, 0, 0)
    return root, out, vendor_of


def _truth(root: Path, pid: str) -> dict[tuple[str, int], dict]:
    with open(root / "rois" / pid / "ceus_tumour.csv", newline="") as fh:
        return {(r["sop_instance_uid"], int(r["frame"])): r for r in csv.DictReader(fh)}


def test_every_sample_takes_the_stored_frame_nearest_in_time(cohort):
    root, out, vendor_of = cohort
    for pid in vendor_of:
        z = dict(np.load(out / pid / "ceus.npz"))
        truth = _truth(root, pid)
        per_clip: dict[str, np.ndarray] = {}
        for (sop, _), row in sorted(truth.items()):
            per_clip.setdefault(sop, []).append(float(row["time_s"]))
        per_clip = {k: np.asarray(v) for k, v in per_clip.items()}
        for t, ok, sop, f in zip(z["times"], z["valid"], z["source_sop"], z["source_frame"]):
            covering = [ft for ft in per_clip.values()
                        if ft[0] - np.median(np.diff(ft)) / 2 - 1e-3 <= t <= ft[-1] + np.median(np.diff(ft)) / 2 + 1e-3]
            assert bool(ok) == bool(covering), (pid, t)
            if ok:
                ft = per_clip[str(sop)]
                assert abs(ft[f] - t) <= np.min(np.abs(ft - t)) + 1e-3, (pid, t)


def test_phase_sample_counts_and_shared_timeline(cohort):
    _, out, vendor_of = cohort
    arrays = {pid: np.load(out / pid / "ceus.npz") for pid in vendor_of}
    for pid, z in arrays.items():
        phase = z["phase"]
        assert (phase == 0).sum() == 61 and z["valid"][phase == 0].all(), vendor_of[pid]
        assert (phase == 1).sum() == 180
        assert (phase == 2).sum() == min(480, len(phase) - 241)
        assert z["times"][0] == 0.0 and np.all(np.diff(z["times"]) == 0.5)
    # vendor C records continuously to 360 s: the whole late phase is there
    c = next(z for pid, z in arrays.items() if vendor_of[pid] == "C")
    assert (c["phase"] == 2).sum() == 480 and c["valid"].all()


def test_bolus_start_time_sets_zero_for_the_pre_injection_recording(cohort):
    root, out, vendor_of = cohort
    pid = next(p for p, v in vendor_of.items() if v == "C")
    z = np.load(out / pid / "ceus.npz")
    meta = json.loads((out / pid / "ceus.json").read_text())
    assert meta["injection"]["source"].startswith("ContrastBolusStartTime")
    truth = _truth(root, pid)
    assert float(truth[(str(z["source_sop"][0]), int(z["source_frame"][0]))]["time_s"]) == pytest.approx(0.0, abs=1e-3)


def test_pixel_size_and_contrast_region_match_the_generator(cohort):
    root, out, vendor_of = cohort
    spacing = ceus_scene.FOV_DEPTH_MM / synth_ceus.LAYOUTS["default"].rows
    for pid, vendor in vendor_of.items():
        z = np.load(out / pid / "ceus.npz")
        assert z["spacing_mm"] == pytest.approx([spacing, spacing], rel=1e-6)
        x0, y0 = z["region_origin"]
        h, w = z["contrast"].shape[1:]
        for row in _truth(root, pid).values():  # the tumour lies in the chosen (contrast) region
            assert x0 <= int(row["cx"]) < x0 + w and y0 <= int(row["cy"]) < y0 + h
        assert ("bmode" in z.files) == (vendor in ("A", "C"))
        if "bmode" in z.files:
            assert z["bmode_region_origin"][0] < x0  # the generator puts B-mode on the left


def test_tumour_enhances_in_the_contrast_array(cohort):
    # ROI in stored-frame pixels maps to the arrays by subtracting region_origin
    root, out, vendor_of = cohort
    for pid in vendor_of:
        z = dict(np.load(out / pid / "ceus.npz"))
        truth = _truth(root, pid)
        x0, y0 = z["region_origin"]
        means = []
        for k in np.flatnonzero(z["valid"] & (z["times"] <= 60)):
            r = truth[(str(z["source_sop"][k]), int(z["source_frame"][k]))]
            box = z["contrast"][k, int(r["y0"]) - y0:int(r["y1"]) - y0, int(r["x0"]) - x0:int(r["x1"]) - x0]
            means.append(box.mean())
        assert max(means) > means[0] + 30, pid  # dark before arrival, bright at the arterial peak
