"""MR signal of the synthetic abdomen: tissue signal per phase (fat-suppressed T2WI and the T1 dynamic
phases AP/PVP/DP), rendering of one series' voxels with partial volume, the ground-truth masks from
the same shapes, a smooth receive-coil bias field and Rician noise.

Signals are in arbitrary units (liver ~ 0.5 before contrast, ~1 in the portal venous phase); the
writer scales them to each scanner's stored values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from hccrisk.synth.latent import PatientLatents
from hccrisk.synth.mri_anatomy import Anatomy, _liver_sd_raw, body_sd, cylinder_sd, thorax_sd, vessels_sd

PHASES: tuple[str, ...] = ("T2", "AP", "PVP", "DP")
DYNAMIC_PHASES: tuple[str, ...] = ("AP", "PVP", "DP")

# Fat-suppressed T1 before contrast, and the gadolinium enhancement added in AP / PVP / DP.
_T1_PRE = dict(fat=0.10, muscle=0.33, viscera=0.28, spine=0.42, disc=0.25, kidney=0.35, spleen=0.40,
               lung=0.03, heart=0.30, aorta=0.30,
               portal=0.30, hepatic=0.30, liver=0.50, gallbladder=0.12, tumour=0.40, necrosis=0.22)
_T1_ENHANCEMENT = dict(  # (AP, PVP, DP); liver and tumour are set from the latents below
    fat=(0.0, 0.02, 0.02), muscle=(0.08, 0.15, 0.15), viscera=(0.10, 0.20, 0.18), spine=(0.10, 0.15, 0.15),
    disc=(0.0, 0.0, 0.02), kidney=(0.90, 0.85, 0.70), spleen=(0.55, 0.65, 0.50), lung=(0.0, 0.01, 0.01),
    heart=(1.0, 0.65, 0.45), aorta=(1.50, 0.75, 0.50), portal=(0.35, 0.95, 0.60),
    hepatic=(0.05, 0.85, 0.60), gallbladder=(0.0, 0.0, 0.0), necrosis=(0.0, 0.0, 0.02))
_T2 = dict(fat=0.10, muscle=0.20, viscera=0.40, spine=0.34, disc=0.55, kidney=0.60, spleen=0.55,
           lung=0.02, heart=0.08, aorta=0.06,
           portal=0.06, hepatic=0.06, liver=0.30, gallbladder=1.20, necrosis=1.00)


@dataclass(frozen=True)
class PhaseSignals:
    """Tissue signals of one series plus the tumour's pattern.

    ``tissue``: signal per tissue (tumour = its mean viable signal); ``tumour_rim``: [0, 1] share of
    the tumour's enhancement carried by its periphery (AP only); ``capsule``: signal of the capsule
    shell; ``peritumoral``: relative arterial enhancement of the liver just around the tumour.
    """

    tissue: dict[str, float]
    tumour_rim: float
    capsule: float
    peritumoral: float
    texture_sd: float


def phase_signals(p: PatientLatents, phase: str, delay_s: float) -> PhaseSignals:
    """Signals of ``phase`` acquired ``delay_s`` seconds after injection (ignored for T2).

    The tumour follows the latents, each phase one half of the aggressiveness (docs/synthetic.md):
    AP the arterial half (hyper-enhancement ``arterial_enhancement``, rim pattern ``rim``, peritumoral
    enhancement), PVP/DP and T2 the washout half (wash-out and capsule ``washout``, T2 hyperintensity);
    texture and necrosis follow ``heterogeneity`` (tied to size) in every phase; the liver enhances
    less when cirrhotic or with poor reserve.
    """
    a_ap = float(np.clip(p.arterial_aggressiveness, -2.5, 2.5))
    a_wo = float(np.clip(p.washout_aggressiveness, -2.5, 2.5))
    texture_sd = 0.05 + 0.2 * p.heterogeneity
    capsule_strength = 0.3 + 0.5 * p.washout
    if phase == "T2":
        liver = _T2["liver"] * (1.08 if p.cirrhosis else 1.0)
        tissue = dict(_T2, liver=liver, tumour=liver * (1.6 + 0.22 * a_wo))
        return PhaseSignals(tissue, 0.0, 0.9 * liver, 0.0, texture_sd)
    if phase not in DYNAMIC_PHASES:
        raise ValueError(f"unknown MR phase {phase!r}; expected one of {PHASES}")
    i = DYNAMIC_PHASES.index(phase)
    liver_gain = 0.50 * (1.0 + 0.06 * p.liver_reserve) * (0.82 if p.cirrhosis else 1.0)
    liver = _T1_PRE["liver"] + liver_gain * (0.25, 1.0, 0.8)[i]
    tissue = {k: _T1_PRE[k] + _T1_ENHANCEMENT[k][i] for k in _T1_ENHANCEMENT}
    tissue["liver"] = liver
    if phase == "AP":
        # Late arterial timing (~30 s) shows the most tumour enhancement; the portal vein fills late.
        timing = 0.85 + 0.15 * np.exp(-(((delay_s - 30.0) / 12.0) ** 2))
        tissue["portal"] = _T1_PRE["portal"] + 0.35 * float(np.clip((delay_s - 18.0) / 15.0, 0.0, 1.0))
        tissue["tumour"] = liver * (1.1 + 0.9 * p.arterial_enhancement * timing)
        capsule = 0.95 * liver
        peritumoral = 0.35 / (1.0 + np.exp(-2.0 * (a_ap - 0.5)))
        return PhaseSignals(tissue, float(p.rim), capsule, float(peritumoral), texture_sd)
    ratio = 1.0 - (0.45, 0.55)[i - 1] * p.washout
    tissue["tumour"] = liver * ratio
    capsule = liver * ((1.15, 1.2)[i - 1] + (0.3, 0.4)[i - 1] * capsule_strength)
    return PhaseSignals(tissue, 0.0, float(capsule), 0.0, texture_sd)


def _ramp(sd: np.ndarray, width: float) -> np.ndarray:
    """Partial-volume occupancy from a signed distance: 1 inside, 0 outside, linear over ``width``."""
    return np.clip(0.5 - sd / width, 0.0, 1.0)


def _box(x, y, z, lo, hi) -> np.ndarray:
    return np.flatnonzero((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
                          & (z >= lo[2]) & (z <= hi[2]))


def _paint(img: np.ndarray, idx: np.ndarray, weight: np.ndarray, signal) -> None:
    img[idx] += weight * (signal - img[idx])


def render(anat: Anatomy, pts: np.ndarray, sig: PhaseSignals,
           edge_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise-free signal and ground truth at anatomy-space points ``pts`` (3, N).

    Returns (signal (N,) float32, liver mask (N,) bool, tumour labels (N,) uint8). The liver mask is
    the parenchyma including tumours, excluding the portal vein, IVC and hepatic veins; the tumour
    label is the nodule number (1 = largest). ``edge_mm`` is the partial-volume edge width.
    """
    t = sig.tissue
    x, y, z = pts
    n = x.size
    a, b = anat.body_axes
    body = body_sd(x, y, a, b)
    # The liver first: its distance decides where the other tissues can still be seen.
    idx = _box(x, y, z, *anat.liver_bounds())
    raw = _liver_sd_raw(anat, x[idx], y[idx], z[idx], body=body[idx])
    covered = np.zeros(n, dtype=bool)
    covered[idx[raw < -0.5 * edge_mm]] = True

    img = np.zeros(n, dtype=np.float32)
    inside = np.flatnonzero(body < 0.5 * edge_mm)
    sd = body[inside]
    img[inside] = _ramp(sd, edge_mm) * t["fat"]
    _paint(img, inside, _ramp(sd + anat.fat_mm, edge_mm), t["muscle"])
    visible = inside[~covered[inside]]  # viscera texture only where the liver does not hide it
    xv, yv, zv = x[visible], y[visible], z[visible]
    viscera = t["viscera"] * (1.0 + 0.3 * anat.viscera_texture.sample(xv, yv, zv))
    _paint(img, visible, _ramp(body[visible] + anat.fat_mm + anat.muscle_mm, edge_mm), viscera)

    lowest = min(apex - 140.0 ** 2 / (2.0 * radius) for _, _, apex, radius in anat.domes)
    chest = visible[zv > lowest]  # lung bases above the diaphragm, inside the chest wall
    wall = _ramp(body[chest] + anat.fat_mm + anat.muscle_mm, edge_mm)
    _paint(img, chest, wall * _ramp(thorax_sd(anat, x[chest], y[chest], z[chest]), edge_mm), t["lung"])

    cx, cy, r = anat.spine
    sub = _box(x, y, z, (cx - r - 3, cy - r - 3, -np.inf), (cx + r + 3, cy + r + 3, np.inf))
    dz = np.abs(np.mod(z[sub] + 16.0, 32.0) - 16.0)  # distance to the nearest disc (32 mm apart)
    bone = t["spine"] + (t["disc"] - t["spine"]) * _ramp(dz - 4.0, 2.0)
    _paint(img, sub, _ramp(cylinder_sd(x[sub], y[sub], cx, cy, r), edge_mm), bone)
    organs = ((anat.heart, "heart"), (anat.kidneys[0], "kidney"), (anat.kidneys[1], "kidney"),
              (anat.spleen, "spleen"))
    for organ, name in organs:
        sub = _box(x, y, z, *organ.bounds(3.0))
        _paint(img, sub, _ramp(organ.sd(x[sub], y[sub], z[sub]), edge_mm), t[name])
    cx, cy, r = anat.aorta
    sub = _box(x, y, z, (cx - r - 3, cy - r - 3, -np.inf), (cx + r + 3, cy + r + 3, np.inf))
    _paint(img, sub, _ramp(cylinder_sd(x[sub], y[sub], cx, cy, r), edge_mm), t["aorta"])

    sub = np.flatnonzero(raw < 0.5 * edge_mm)
    xs, ys, zs = x[idx[sub]], y[idx[sub]], z[idx[sub]]
    parenchyma = t["liver"] * (1.0 + anat.liver_texture.sample(xs, ys, zs))
    _paint(img, idx[sub], _ramp(raw[sub], edge_mm), parenchyma)
    # Vessels inside and outside the liver, over the parenchyma.
    portal = vessels_sd(anat, x, y, z, "portal")
    hepatic = vessels_sd(anat, x, y, z, "hepatic")
    for sd_vessel, name in ((portal, "portal"), (hepatic, "hepatic")):
        sub = np.flatnonzero(sd_vessel < 0.5 * edge_mm)
        _paint(img, sub, _ramp(sd_vessel[sub], edge_mm), t[name])
    gb = anat.gallbladder
    sub = _box(x, y, z, *gb.bounds(3.0))
    _paint(img, sub, _ramp(gb.sd(x[sub], y[sub], z[sub]), edge_mm), t["gallbladder"])
    labels = np.zeros(n, dtype=np.uint8)
    for nodule in anat.nodules:
        sub = _box(x, y, z, *nodule.shape.bounds(0.25 * nodule.diameter_mm + 8.0))
        inside_n = _paint_nodule(img, sub, x[sub], y[sub], z[sub], nodule, sig, edge_mm)
        labels[sub[inside_n]] = nodule.label
    liver_mask = np.zeros(n, dtype=bool)
    liver_mask[idx[raw < 0]] = True
    liver_mask &= (portal >= 0) & (hepatic >= 0)
    liver_mask |= labels > 0
    return img, liver_mask, labels


def _paint_nodule(img, idx, x, y, z, nodule, sig: PhaseSignals, edge_mm: float) -> np.ndarray:
    """Tumour with texture, rim-weighted enhancement, necrotic patches, capsule, peritumoral halo.
    Returns which of the points lie inside the nodule."""
    t = sig.tissue
    sd = nodule.sd(x, y, z)
    depth = np.maximum(-sd, 0.0)
    radius = nodule.diameter_mm / 2.0
    texture = nodule.texture.sample(x, y, z)
    if sig.peritumoral > 0:  # patchy arterial enhancement of the liver around aggressive tumours
        halo = np.clip(1.0 - sd / (4.0 + 0.1 * radius), 0.0, 1.0) * (sd > 0)
        patchy = np.clip(texture + 0.5, 0.0, 1.0)
        img[idx] *= 1.0 + sig.peritumoral * halo * patchy
    liver = t["liver"]
    if sig.tumour_rim > 0:  # same mean enhancement, shifted towards the periphery as rim grows
        width = max(2.0, 0.15 * radius)
        periphery = np.exp(-depth / width)
        inside = sd < 0
        mean_in = float(periphery[inside].mean()) if inside.any() else 1.0
        profile = (1.0 - sig.tumour_rim) + sig.tumour_rim * periphery / max(mean_in, 1e-3)
        viable = liver + (t["tumour"] - liver) * profile
    else:
        viable = np.full(x.shape, t["tumour"], dtype=np.float32)
    viable = viable * (1.0 + sig.texture_sd * texture)
    core = np.clip((depth - 2.0) / 2.0, 0.0, 1.0)  # necrosis stays >= 2 mm from the edge
    necrotic = core * np.clip((nodule.necrosis.sample(x, y, z) - nodule.necrosis_threshold) / 0.3 + 0.5,
                              0.0, 1.0)
    signal = viable + (t["necrosis"] - viable) * necrotic
    _paint(img, idx, _ramp(sd, edge_mm), signal)
    shell = np.clip(1.0 - np.abs(sd + 0.8) / 1.0, 0.0, 1.0)  # ~2 mm capsule at the boundary
    _paint(img, idx, shell, sig.capsule)
    return sd < 0


def bias_field(shape: tuple[int, int, int], rng: np.random.Generator, strength: float = 0.15) -> np.ndarray:
    """Smooth multiplicative receive-coil field (exp of a random quadratic), shape (nz, ny, nx)."""
    nz, ny, nx = shape
    zz, yy, xx = np.meshgrid(np.linspace(-1, 1, nz, dtype=np.float32), np.linspace(-1, 1, ny, dtype=np.float32),
                             np.linspace(-1, 1, nx, dtype=np.float32), indexing="ij", sparse=True)
    c = rng.normal(0.0, strength, 7)
    log_field = (c[0] * xx + c[1] * yy + 0.5 * c[2] * zz + c[3] * xx * yy
                 + abs(c[4]) * yy ** 2 + 0.5 * c[5] * xx ** 2 + 0.3 * c[6] * zz ** 2)
    return np.exp(log_field - log_field.mean()).astype(np.float32)


def acquired_resolution(volume: np.ndarray, phase_fraction: float) -> np.ndarray:
    """What the scanner's k-space sampling makes of a volume (nz, ny, nx): the phase-encoding axis
    (rows, y) is acquired to ``phase_fraction`` of the matrix and zero-filled, and a Fermi window
    tapers both axes, so edges blur along y and ring slightly (Gibbs), as on a real 75 % matrix."""
    ny, nx = volume.shape[1:]
    ky = np.abs(np.fft.fftfreq(ny))[:, None] / (0.5 * phase_fraction)  # 1 = edge of acquired k-space
    kx = np.abs(np.fft.rfftfreq(nx))[None, :] / 0.5
    window = np.where(ky > 1.0, 0.0, 1.0 / (1.0 + np.exp((np.maximum(ky, kx) - 0.92) / 0.03)))
    spectrum = sfft.rfft2(volume, axes=(1, 2), workers=1) * window.astype(np.float32)
    return sfft.irfft2(spectrum, s=(ny, nx), axes=(1, 2), workers=1).astype(np.float32)


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise of sd ``sigma`` per channel."""
    real = signal + rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    imag = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    return np.sqrt(real * real + imag * imag)
