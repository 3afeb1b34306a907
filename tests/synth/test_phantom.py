"""The CEUS phantom carries the latent aggressiveness: earlier arrival, faster washout, more necrosis."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from hccrisk.synth import ceus_scene
from hccrisk.synth.ceus import LAYOUTS
from hccrisk.synth.latent import draw_latents


def _tumour_stats(p):
    L = LAYOUTS["default"]
    rng = p.rng("ceus")
    kin = ceus_scene.kinetics(p, rng)
    scene = ceus_scene.build_scene(p, rng, L.rows, L.cols)
    r0, r1, c0, c1 = scene.box_rc
    pad = scene.pad
    tumour = scene.viable[pad:pad + L.rows, pad:pad + L.cols][r0:r1, c0:c1] > 0.5
    liver = scene.liver[pad:pad + L.rows, pad:pad + L.cols] > 0.5
    out = {}
    for name, t in (("peak", kin.tumour_peak_s()), ("late", 180.0)):
        img, _ = ceus_scene.render(scene, kin, t, (0, 0), rng, L.rows, L.cols)
        box = img[r0:r1, c0:c1].astype(float)
        out[name] = box[tumour].mean() / img[liver].mean() if tumour.any() else np.nan
        if name == "peak":
            out["dark_share"] = float((box < 0.5 * np.median(box[tumour])).mean()) if tumour.any() else np.nan
    out["arrival"] = kin.tumour_arrival_s
    return out


def test_enhancement_statistics_follow_aggressiveness():
    patients = draw_latents(40, 11)
    a = np.array([p.aggressiveness for p in patients])
    stats = [_tumour_stats(p) for p in patients]
    late = np.array([s["late"] for s in stats])
    arrival = np.array([s["arrival"] for s in stats])
    dark = np.array([s["dark_share"] for s in stats])
    ok = np.isfinite(late)
    assert ok.sum() >= 35
    assert spearmanr(a[ok], late[ok]).statistic < -0.5  # aggressive tumours wash out
    assert spearmanr(a, arrival).statistic < -0.5  # and arrive earlier
    assert spearmanr(a[ok], dark[ok]).statistic > 0.3  # with more non-enhancing patches
    peak = np.array([s["peak"] for s in stats])
    assert np.nanmedian(peak) > 1.3  # arterial hyper-enhancement against the liver


def test_liver_enhances_later_and_slower_than_tumour():
    for p in draw_latents(20, 5):
        k = ceus_scene.kinetics(p, p.rng("ceus"))
        assert k.liver_arrival_s > k.tumour_arrival_s
        assert k.liver_washin_s > k.tumour_washin_s
        t = np.linspace(0, 360, 721)
        assert np.argmax(k.liver(t)) > np.argmax(k.tumour(t))
