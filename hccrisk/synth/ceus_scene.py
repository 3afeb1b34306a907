"""The CEUS phantom: time-intensity curves, the static scene (liver, tumour, necrosis, portal vein,
B-mode texture) and per-frame rendering with speckle, probe drift and breathing.

Units: times in seconds from contrast injection, lengths in mm or pixels (named), enhancement in
arbitrary units (liver plateau ~0.55). Equations are in docs/synthetic.md ("CEUS").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hccrisk.synth.latent import PatientLatents

FOV_DEPTH_MM = 140.0  #: imaged depth of each region (rows span this)
#: End of the arterial phase (s from injection), as the ingest splits phases (0-30 s arterial).
ARTERIAL_END_S = 30.0
ARTERIAL_FADE_S = 6.0  #: time constant of the fading of arterial-only features (Kinetics.arterial_fade)
RIM_FILL_S = 20.0  #: time constant of the tumour centre catching up with its rim after arrival


@dataclass(frozen=True)
class Kinetics:
    """Bolus kinetics of one patient (seconds); see :func:`kinetics`."""

    tumour_arrival_s: float
    tumour_washin_s: float
    tumour_washout_s: float  #: exponential washout time constant
    tumour_amplitude: float
    liver_arrival_s: float
    liver_washin_s: float
    liver_washout_s: float
    liver_amplitude: float
    #: hyper-enhancement over the liver's plateau during the arterial phase (1.1 x arterial_enhancement)
    tumour_excess: float = 0.0
    #: washout and the fading of arterial features start when the arterial phase ends (s)
    arterial_end_s: float = ARTERIAL_END_S

    def fade_start_s(self) -> float:
        """When the arterial features start fading: wash-in at 95 % (t0 + 3 wi), at the latest when the
        arterial phase ends."""
        return min(self.tumour_arrival_s + 3.0 * self.tumour_washin_s, self.arterial_end_s)

    def arterial_fade(self, t: np.ndarray | float) -> np.ndarray:
        """1 until :meth:`fade_start_s`, then exp(-(t - start) / 6 s): the arterial-only features (the
        hyper-enhancement, the rim pattern) are gone ~15 s into the portal venous phase at the latest."""
        return np.exp(-np.maximum(np.asarray(t, dtype=np.float64) - self.fade_start_s(), 0.0) / ARTERIAL_FADE_S)

    def tumour(self, t: np.ndarray | float) -> np.ndarray:
        """Mean enhancement of viable tumour at times ``t`` (s from injection): wash-in from arrival to
        amplitude x (1 + excess), the excess fading after the peak, washout after the arterial phase."""
        t = np.asarray(t, dtype=np.float64)
        x = np.maximum(t - self.tumour_arrival_s, 0.0)
        washed = np.exp(-np.maximum(t - self.arterial_end_s, 0.0) / self.tumour_washout_s)
        return (self.tumour_amplitude * (1.0 + self.tumour_excess * self.arterial_fade(t))
                * (1.0 - np.exp(-x / self.tumour_washin_s)) * washed)

    def liver(self, t: np.ndarray | float) -> np.ndarray:
        """Mean enhancement of liver parenchyma (later and slower than the tumour)."""
        return _bolus(t, self.liver_arrival_s, self.liver_washin_s, self.liver_washout_s,
                      self.liver_amplitude)

    def vessel(self, t: np.ndarray | float) -> np.ndarray:
        """Portal vein: arrives just before the parenchyma, bright, washes out slowly."""
        return _bolus(t, self.liver_arrival_s - 3.0, 5.0, 300.0, 0.95)

    def tumour_peak_s(self) -> float:
        """Time of peak tumour enhancement (s from injection), to 0.01 s (numerically, over 0-120 s): at
        or just after :meth:`fade_start_s`."""
        t = np.arange(0.0, 120.0, 0.01)
        return float(t[int(np.argmax(self.tumour(t)))])


def _bolus(t, arrival: float, washin: float, washout: float, amplitude: float) -> np.ndarray:
    """amplitude * (1 - exp(-x/washin)) * exp(-x/washout), x = t - arrival >= 0, else 0."""
    x = np.maximum(np.asarray(t, dtype=np.float64) - arrival, 0.0)
    return amplitude * (1.0 - np.exp(-x / washin)) * np.exp(-x / washout)


def kinetics(p: PatientLatents, rng: np.random.Generator) -> Kinetics:
    """Kinetics from the latents. The arterial phase shows ``arterial_aggressiveness`` (aggressive
    tumours arrive earlier, wash in faster, enhance more), the later phases ``washout`` (faster washout),
    and nothing of one half leaks into the other's phases (docs/synthetic.md, "CEUS")."""
    circulation = 14.0 + rng.normal(0, 1.5)  # the patient's arm-to-liver time: no tumour biology
    arrival = float(np.clip(circulation - 2.0 * p.arterial_aggressiveness, 7.0, 22.0))
    washin = 3.0 + 4.0 * (1.0 - p.arterial_enhancement)
    washout = 25.0 + 450.0 * (1.0 - p.washout) ** 2
    # The parenchyma follows the circulation, not the tumour, so its arrival says nothing of a.
    liver_arrival = max(circulation + 6.0 + abs(rng.normal(0, 2.0)), arrival + 2.0)
    liver_amp = 0.55
    return Kinetics(arrival, washin, washout, liver_amp, liver_arrival, 12.0, 900.0, liver_amp,
                    tumour_excess=1.1 * p.arterial_enhancement)


@dataclass
class Scene:
    """Static maps on a padded canvas (rows, cols) = region + 2 * pad; float32 unless noted."""

    pad: int  #: canvas margin in pixels (largest displacement)
    spacing_mm: float  #: square pixel size
    liver: np.ndarray  #: liver parenchyma outside tumour and vessel, 0/1
    viable: np.ndarray  #: enhancing tumour, 0/1
    viable_rho2: np.ndarray  #: viable * (normalised radius)^2, for the rim pattern
    vessel: np.ndarray  #: portal vein, 0/1
    bmode: np.ndarray  #: B-mode tissue echo, 0-255
    fan: np.ndarray  #: bool (region rows, cols): inside the imaging sector
    centre_rc: tuple[int, int]  #: tumour centre (row, col) in region pixels, no displacement
    box_rc: tuple[int, int, int, int]  #: tumour box r0, r1, c0, c1 in region pixels (excl. ends)
    radius_mm: float
    rim: float  #: rim-enhancement strength from the latents, [0, 1]


def build_scene(p: PatientLatents, rng: np.random.Generator, rows: int, cols: int) -> Scene:
    """Lay out liver, tumour (with necrotic patches per ``heterogeneity``), vessel and B-mode texture."""
    sp = FOV_DEPTH_MM / rows
    pad = int(np.ceil(16.0 / sp))  # motion stays below 15 mm (see motion())
    H, W = rows + 2 * pad, cols + 2 * pad
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    y_mm, x_mm = (yy - pad) * sp, (xx - pad - cols / 2) * sp

    skin = 18.0 + 4.0 * np.sin(x_mm / 40.0 + rng.uniform(0, 6))
    deep = 128.0 + 8.0 * np.sin(x_mm / 55.0 + rng.uniform(0, 6))
    liver = (y_mm > skin) & (y_mm < deep)

    radius = 5.0 * p.tumour_size_cm  # mm
    depth = float(np.clip(10.0 * p.depth_cm, radius + 26.0, FOV_DEPTH_MM - radius - 18.0))
    half_width = cols * sp / 2
    lateral = rng.uniform(-1, 1) * float(np.clip(half_width - radius - 17.0, 0.0, 0.18 * cols * sp))
    theta = rng.uniform(0, np.pi)
    ax1, ax2 = radius * rng.uniform(1.0, 1.12), radius * rng.uniform(0.85, 1.0)
    du, dv = x_mm - lateral, y_mm - depth
    u = du * np.cos(theta) + dv * np.sin(theta)
    v = -du * np.sin(theta) + dv * np.cos(theta)
    rho = np.sqrt((u / ax1) ** 2 + (v / ax2) ** 2)
    tumour = rho <= 1.0

    # Necrosis: a smooth random field thresholded to cover `heterogeneity` of the inner tumour.
    field = ndimage.gaussian_filter(rng.standard_normal((H, W)).astype(np.float32),
                                    sigma=max(1.0, radius / sp / 4))
    inner = tumour & (rho < 0.85)
    necrotic = np.zeros_like(tumour)
    if p.heterogeneity > 0.01 and inner.sum() > 4:
        cut = np.quantile(field[inner], 1.0 - min(p.heterogeneity, 0.95))
        necrotic = inner & (field >= cut)
    viable = tumour & ~necrotic

    # Portal vein: a straight tube of 5 mm radius crossing the liver, not through the tumour.
    ang = rng.uniform(-0.5, 0.5)
    vy0 = float(np.clip(depth + (radius + 15.0) * rng.choice([-1, 1]), 30.0, 120.0))
    dist = np.abs((y_mm - vy0) * np.cos(ang) - x_mm * np.sin(ang))
    vessel = (dist < 5.0) & liver & ~tumour

    liver_only = liver & ~tumour & ~vessel
    speck = rng.rayleigh(1.0, size=(H, W)).astype(np.float32) / 1.2533
    tex = ndimage.uniform_filter(speck, size=2)
    echo = np.where(y_mm < skin, 125.0, 12.0).astype(np.float32)
    echo[liver] = 95.0
    # B-mode shows in every phase (0.06 B in the contrast image): large tumours are the hyperechoic ones.
    echo[tumour] = 72.0 + 40.0 * (p.tumour_size_cm > 4.5)
    echo[necrotic] = 45.0
    echo[vessel] = 15.0
    bmode = np.clip(echo * tex, 0, 255).astype(np.float32)

    fan = _fan(rows, cols)
    rr, cc = np.nonzero(tumour[pad:pad + rows, pad:pad + cols])
    if rr.size == 0:  # cannot happen with the depth clip above; guard for odd presets
        raise ValueError(f"{p.patient_id}: tumour outside the CEUS field of view")
    # Partial-volume edges: the beam blurs every boundary by ~0.6 mm.
    def soft(mask: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(mask.astype(np.float32), sigma=0.6 / sp)

    return Scene(pad, sp, soft(liver_only), soft(viable), soft(viable * rho ** 2), soft(vessel), bmode, fan,
                 (int(round(depth / sp)), int(round(lateral / sp + cols / 2))),
                 (int(rr.min()), int(rr.max()) + 1, int(cc.min()), int(cc.max()) + 1), radius, p.rim)


def _fan(rows: int, cols: int) -> np.ndarray:
    """Curvilinear-probe sector: apex above the top centre, +-38 degrees."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    apex = -0.35 * rows
    ang = np.arctan2(xx - cols / 2, yy - apex)
    rad = np.hypot(xx - cols / 2, yy - apex)
    return (np.abs(ang) < np.deg2rad(38)) & (rad > -apex + 0.02 * rows) & (rad < rows - apex)


@dataclass(frozen=True)
class Motion:
    """Breathing (periodic) and probe drift (slow, plus a reposition per clip), in mm."""

    breath_amp_mm: float
    breath_period_s: float
    breath_phase: float
    drift_phase: tuple[float, float, float, float]
    clip_offsets_mm: tuple[tuple[float, float], ...]

    def displacement_px(self, t: np.ndarray, clip: int, spacing_mm: float) -> np.ndarray:
        """(N, 2) integer (dy, dx) scene shift in pixels at times ``t`` of clip ``clip``."""
        b = 0.5 * (1 - np.cos(2 * np.pi * t / self.breath_period_s + self.breath_phase))
        ph = self.drift_phase
        dy = self.breath_amp_mm * b + 2.5 * np.sin(2 * np.pi * t / 97 + ph[0]) \
            + 1.0 * np.sin(2 * np.pi * t / 31 + ph[1])
        dx = 0.4 * self.breath_amp_mm * b + 2.5 * np.sin(2 * np.pi * t / 83 + ph[2]) \
            + 1.0 * np.sin(2 * np.pi * t / 37 + ph[3])
        oy, ox = self.clip_offsets_mm[clip]
        return np.rint(np.stack([dy + oy, dx + ox], axis=1) / spacing_mm).astype(int)


def motion(rng: np.random.Generator, n_clips: int) -> Motion:
    """Draw one patient's motion; total |displacement| < 15 mm by construction."""
    offsets = tuple((0.0, 0.0) if i == 0 else (float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)))
                    for i in range(n_clips))
    return Motion(float(rng.uniform(2.0, 6.0)), float(rng.uniform(3.5, 5.0)), float(rng.uniform(0, 6)),
                  tuple(float(x) for x in rng.uniform(0, 2 * np.pi, 4)), offsets)


def render(scene: Scene, k: Kinetics, t: float, shift: tuple[int, int], rng: np.random.Generator,
           rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Contrast-mode and B-mode region images (rows, cols) uint8 at time ``t`` with scene ``shift``.

    Contrast pixel = 6 + 200 * E * S + 0.06 * B, where E is the local enhancement (liver, vessel and
    viable tumour curves; in the arterial phase the tumour centre lags its rim by ``rim``), S fresh bubble speckle.
    """
    dy, dx = shift
    r0, c0 = scene.pad - dy, scene.pad - dx
    win = (slice(r0, r0 + rows), slice(c0, c0 + cols))
    tum = float(k.tumour(t))
    # The centre lags the rim after arrival; the pattern is arterial only (fades after the AP).
    rim_lag = float(np.exp(-max(t - k.tumour_arrival_s, 0.0) / RIM_FILL_S) * k.arterial_fade(t))
    rim_w = scene.rim * rim_lag
    enh = (float(k.liver(t)) * scene.liver[win] + float(k.vessel(t)) * scene.vessel[win]
           + tum * (1.0 - rim_w) * scene.viable[win] + tum * rim_w * scene.viable_rho2[win])
    # Bubble speckle: fresh every frame, ~2 x 2 pixel grains (drawn at half resolution).
    half = rng.rayleigh(1.0 / 1.2533, size=((rows + 1) // 2, (cols + 1) // 2)).astype(np.float32)
    speck = 0.55 + 0.45 * np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)[:rows, :cols]
    bm = scene.bmode[win]
    contrast = (6.0 + 200.0 * enh * speck + 0.06 * bm) * scene.fan
    bmode = bm * scene.fan  # tissue speckle is stable between frames; it moves with the scene
    return (np.clip(contrast, 0, 255).astype(np.uint8), np.clip(bmode, 0, 255).astype(np.uint8))

