"""The CEUS phantom carries the latent aggressiveness split over the phases: the arterial phase shows
its arterial half (earlier arrival, stronger hyper-enhancement), the later phases its washout half
(faster washout), and neither shows the other half; necrosis follows size."""

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


def test_each_phase_shows_its_half_of_the_aggressiveness():
    patients = draw_latents(60, 11)
    a = np.array([p.aggressiveness for p in patients])
    a_ap = np.array([p.arterial_aggressiveness for p in patients])
    a_wo = np.array([p.washout_aggressiveness for p in patients])
    np.testing.assert_allclose(a, (a_ap + a_wo) / np.sqrt(2.0), atol=1e-12)
    stats = [_tumour_stats(p) for p in patients]
    late = np.array([s["late"] for s in stats])
    peak = np.array([s["peak"] for s in stats])
    arrival = np.array([s["arrival"] for s in stats])
    dark = np.array([s["dark_share"] for s in stats])
    size = np.array([p.tumour_size_cm for p in patients])
    ok = np.isfinite(late) & np.isfinite(peak)
    assert ok.sum() >= 55
    # Each phase follows its own half ...
    assert spearmanr(a_wo[ok], late[ok]).statistic < -0.6  # aggressive tumours wash out
    assert spearmanr(a_ap, arrival).statistic < -0.6  # and arrive earlier
    assert spearmanr(a_ap[ok], peak[ok]).statistic > 0.6  # and enhance more at their arterial peak
    # ... and not the other one (60 patients: |rho| < 0.3 is P > 0.02 under independence).
    assert abs(spearmanr(a_ap[ok], late[ok]).statistic) < 0.3
    assert abs(spearmanr(a_wo, arrival).statistic) < 0.3
    assert abs(spearmanr(a_wo[ok], peak[ok]).statistic) < 0.3
    assert spearmanr(size[ok], dark[ok]).statistic > 0.3  # larger tumours are more necrotic
    assert np.nanmedian(peak) > 1.3  # arterial hyper-enhancement against the liver


def test_liver_enhances_later_and_slower_than_tumour():
    for p in draw_latents(20, 5):
        k = ceus_scene.kinetics(p, p.rng("ceus"))
        assert k.liver_arrival_s > k.tumour_arrival_s
        assert k.liver_washin_s > k.tumour_washin_s
        t = np.linspace(0, 360, 721)
        assert np.argmax(k.liver(t)) > np.argmax(k.tumour(t))
