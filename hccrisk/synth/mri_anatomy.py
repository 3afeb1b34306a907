"""The synthetic abdomen of one patient, as implicit shapes in "anatomy" space (= patient LPS space of
the arterial phase, mm): body wall, spine, diaphragm with lung bases, heart, kidneys, spleen, aorta,
veins, gallbladder, a two-lobed liver with a smooth, organic (and, with cirrhosis, nodular) surface,
and the tumour nodules.

Every structure is a signed distance function (mm, negative inside), so any series can be rendered
on its own grid and motion (``hccrisk.synth.mri_render``) and the ground-truth masks are the exact
zero level sets of the same functions the intensities come from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation
from scipy.stats import norm

from hccrisk.synth.latent import PatientLatents


@dataclass(frozen=True)
class SmoothField:
    """A smooth Gaussian random field on an axis-aligned grid in anatomy space, sampled trilinearly."""

    origin: np.ndarray  # (x, y, z) mm of data[0, 0, 0]
    spacing: float  # mm
    data: np.ndarray  # (nz, ny, nx) float32; mean 0, sd 1 unless scaled

    def sample(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        coords = np.empty((3, x.size), dtype=np.float32)
        inv = np.float32(1.0 / self.spacing)
        for axis, v in enumerate((z, y, x)):
            np.multiply(v - self.origin[2 - axis], inv, out=coords[axis])
        return ndimage.map_coordinates(self.data, coords, order=1, mode="nearest", prefilter=False)

    def scaled(self, factor: float) -> SmoothField:
        return SmoothField(self.origin, self.spacing, (self.data * np.float32(factor)).astype(np.float32))

    def on_grid_of(self, other: SmoothField) -> np.ndarray:
        """This field sampled at the grid points of ``other`` (same array shape as ``other.data``)."""
        nz, ny, nx = other.data.shape
        z, y, x = (a.ravel() for a in np.meshgrid(*(np.arange(n, dtype=np.float32) * np.float32(other.spacing)
                                                    for n in (nz, ny, nx)), indexing="ij"))
        o = other.origin
        return self.sample(x + o[0], y + o[1], z + o[2]).reshape(other.data.shape)


def smooth_field(lo: np.ndarray, hi: np.ndarray, spacing: float, corr_mm: float,
                 rng: np.random.Generator) -> SmoothField:
    """White noise smoothed with a Gaussian of sd ``corr_mm`` over the box [lo, hi] (x, y, z mm)."""
    n = np.ceil((np.asarray(hi) - np.asarray(lo)) / spacing).astype(int) + 2
    noise = rng.standard_normal((n[2], n[1], n[0]), dtype=np.float32)
    data = ndimage.gaussian_filter(noise, corr_mm / spacing, mode="wrap", truncate=3.0)
    data = (data - data.mean()) / max(float(data.std()), 1e-6)
    return SmoothField(np.asarray(lo, dtype=np.float32), float(spacing), data.astype(np.float32))


@dataclass(frozen=True)
class Ellipsoid:
    """centre (3,) mm, semi-axes (3,) mm, rotation (3, 3) with the ellipsoid's axes as columns."""

    centre: np.ndarray
    semi_axes: np.ndarray
    rotation: np.ndarray

    def bounds(self, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        half = np.sqrt(((self.rotation * self.semi_axes) ** 2).sum(axis=1)) + margin
        return self.centre - half, self.centre + half

    def unit_coords(self, x, y, z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coordinates in the ellipsoid's frame, scaled so the surface is the unit sphere."""
        dx, dy, dz = x - np.float32(self.centre[0]), y - np.float32(self.centre[1]), z - np.float32(self.centre[2])
        r = (self.rotation / self.semi_axes[None, :]).astype(np.float32)
        return tuple(r[0, i] * dx + r[1, i] * dy + r[2, i] * dz for i in range(3))

    def sd(self, x, y, z, radius_scale: np.ndarray | None = None,
           unit: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """First-order signed distance (mm): exact on the surface, smooth and bounded inside.

        ``radius_scale`` (N,) multiplies the radius along each ray (lobulated outlines); ``unit``:
        precomputed :meth:`unit_coords`.
        """
        u0, u1, u2 = unit if unit is not None else self.unit_coords(x, y, z)
        q = np.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
        s0, s1, s2 = (np.float32(1.0 / v) for v in self.semi_axes)
        w = np.sqrt((u0 * s0) ** 2 + (u1 * s1) ** 2 + (u2 * s2) ** 2)
        # distance = (q - 1) / |grad q|, |grad q| = w / q, floored inside at 1 / largest semi-axis
        scale = np.minimum(q / np.maximum(w, 1e-9), np.float32(self.semi_axes.max()))
        if radius_scale is None:
            return (q - 1.0) * scale
        return (q / radius_scale - 1.0) * radius_scale * scale


def cylinder_sd(x, y, cx: float, cy: float, r: float) -> np.ndarray:
    """Infinite cylinder along z."""
    return np.hypot(x - cx, y - cy) - r


def tube_sd(x, y, z, p0: np.ndarray, p1: np.ndarray, r: float) -> np.ndarray:
    """Capsule around the segment p0-p1 (a vessel)."""
    ab = (p1 - p0).astype(np.float32)
    px, py, pz = x - p0[0], y - p0[1], z - p0[2]
    t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / float(ab @ ab), 0.0, 1.0)
    return np.sqrt((px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2) - r


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (union with a fillet of width ~k mm)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


@dataclass(frozen=True)
class Nodule:
    """One tumour nodule; ``label`` 1 is the largest."""

    label: int
    shape: Ellipsoid
    lobulation: tuple[np.ndarray, np.ndarray, float]  # wave vectors (K, 3), phases (K,), amplitude
    texture: SmoothField  # fine mosaic texture
    necrosis: SmoothField  # coarse field; necrotic where above ``necrosis_threshold``
    necrosis_threshold: float

    @property
    def diameter_mm(self) -> float:
        return float(2.0 * self.shape.semi_axes.max())

    def sd(self, x, y, z) -> np.ndarray:
        u = self.shape.unit_coords(x, y, z)
        inv_q = 1.0 / np.maximum(np.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]), 1e-6)
        waves, phases, amp = self.lobulation
        w = waves.astype(np.float32)
        lobes = np.zeros_like(inv_q)
        for k in range(w.shape[0]):
            lobes += np.cos((w[k, 0] * u[0] + w[k, 1] * u[1] + w[k, 2] * u[2]) * inv_q + np.float32(phases[k]))
        return self.shape.sd(x, y, z, radius_scale=1.0 + np.float32(amp / w.shape[0]) * lobes, unit=u)


@dataclass(frozen=True)
class Anatomy:
    """All shapes of one patient's abdomen (anatomy space = AP patient space, LPS mm)."""

    body_axes: tuple[float, float]  # LR, AP semi-axes of the elliptic body outline
    fat_mm: float  # subcutaneous fat thickness
    muscle_mm: float  # abdominal wall muscle thickness
    spine: tuple[float, float, float]  # cx, cy, radius of the vertebral bodies
    aorta: tuple[float, float, float]
    ivc: tuple[float, float, float]
    kidneys: tuple[Ellipsoid, ...]
    spleen: Ellipsoid  # splenomegaly with cirrhosis (portal hypertension)
    domes: tuple[tuple[float, float, float, float], ...]  # diaphragm: (cx, cy, apex z, curvature radius)
    heart: Ellipsoid
    lobes: tuple[Ellipsoid, Ellipsoid]  # right, left
    gallbladder: Ellipsoid
    portal_veins: tuple[tuple[np.ndarray, np.ndarray, float], ...]  # (p0, p1, radius)
    hepatic_veins: tuple[tuple[np.ndarray, np.ndarray, float], ...]
    liver_surface_mm: SmoothField  # outward displacement of the surface (organic, nodular if cirrhotic)
    surface_reach_mm: float  # largest |displacement|
    liver_texture: SmoothField  # relative modulation of the parenchymal signal
    viscera_texture: SmoothField
    nodules: tuple[Nodule, ...]
    liver_centre: np.ndarray  # rotation centre of the breath-hold motion (right lobe centre)

    def liver_bounds(self, margin: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
        boxes = [lobe.bounds(margin) for lobe in self.lobes]
        boxes += [n.shape.bounds(margin + 0.3 * n.shape.semi_axes.max()) for n in self.nodules]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


def _rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    return Rotation.from_rotvec(rng.normal(0.0, np.deg2rad(max_deg) / 2.0, 3)).as_matrix()


def _carve(sd: np.ndarray, x, y, z, shape: Ellipsoid, margin: float) -> None:
    """Remove ``shape`` grown by ``margin`` mm from ``sd`` in place (evaluated within its box only)."""
    lo, hi = shape.bounds(margin + 1.0)
    idx = np.flatnonzero((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
                         & (z >= lo[2]) & (z <= hi[2]))
    if idx.size:
        sd[idx] = np.maximum(sd[idx], -(shape.sd(x[idx], y[idx], z[idx]) - margin))


def _liver_sd_raw(anat: Anatomy, x, y, z, body: np.ndarray | None = None) -> np.ndarray:
    """Liver parenchyma before tumours and vessels are accounted for. ``body``: :func:`body_sd` at
    the points when already known. The surface displacement is applied only where it can change
    the sign; elsewhere the two lobes' distance stands."""
    right, left = anat.lobes
    sd = smooth_min(right.sd(x, y, z), left.sd(x, y, z), 18.0)
    reach = anat.surface_reach_mm + 0.5
    near = np.flatnonzero(sd < reach)
    x, y, z = x[near], y[near], z[near]
    s = sd[near]
    band = np.flatnonzero(s > -reach)
    s[band] -= anat.liver_surface_mm.sample(x[band], y[band], z[band])
    a, b = anat.body_axes
    wall = body[near] if body is not None else body_sd(x, y, a, b)
    s = np.maximum(s, wall + np.float32(anat.fat_mm + anat.muscle_mm + 3.0))  # 3 mm inside the wall
    s = np.maximum(s, -(cylinder_sd(x, y, *anat.spine) - 4.0))
    s = np.maximum(s, -(cylinder_sd(x, y, *anat.aorta) - 3.0))
    for organ in (*anat.kidneys, anat.spleen):
        _carve(s, x, y, z, organ, 3.0)
    _carve(s, x, y, z, anat.gallbladder, 0.0)
    sd[near] = s
    return sd


def body_sd(x, y, a: float, b: float) -> np.ndarray:
    """Elliptic-cylinder body outline (first-order distance)."""
    ux, uy = x / a, y / b
    rho = np.sqrt(ux * ux + uy * uy)
    rho_safe = np.maximum(rho, 1e-6)
    grad = np.maximum(np.hypot(ux / rho_safe / a, uy / rho_safe / b), 1.0 / max(a, b))
    return (rho - 1.0) / grad


def thorax_sd(anat: Anatomy, x, y, z) -> np.ndarray:
    """Vertical distance (mm) below the diaphragm: negative above it, in the chest."""
    dome = np.full(x.shape, -np.inf, dtype=np.float32)
    for cx, cy, apex, radius in anat.domes:
        dome = np.maximum(dome, apex - ((x - cx) ** 2 + (y - cy) ** 2) / np.float32(2.0 * radius))
    return dome - z


def vessels_sd(anat: Anatomy, x, y, z, which: str) -> np.ndarray:
    """``which`` = "portal" (portal vein and branches) or "hepatic" (IVC and hepatic veins)."""
    if which == "portal":
        tubes = anat.portal_veins
        sd = np.full(x.shape, np.inf, dtype=np.float32)
    else:
        tubes = anat.hepatic_veins
        sd = cylinder_sd(x, y, *anat.ivc)
    for p0, p1, r in tubes:
        lo, hi = np.minimum(p0, p1) - r - 2.0, np.maximum(p0, p1) + r + 2.0
        idx = np.flatnonzero((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
                             & (z >= lo[2]) & (z <= hi[2]))
        sd[idx] = np.minimum(sd[idx], tube_sd(x[idx], y[idx], z[idx], p0, p1, r))
    return sd


def make_anatomy(p: PatientLatents, rng: np.random.Generator,
                 cover: tuple[np.ndarray, np.ndarray]) -> Anatomy:
    """Draw one patient's abdomen; tumours are kept inside ``cover`` = (lo, hi), the box (LPS mm)
    every series images whatever its motion."""
    rng, nodule_rng = rng.spawn(2)
    a, b = rng.uniform(140, 170), rng.uniform(100, 125)
    fat, muscle = rng.uniform(10, 28), rng.uniform(8, 13)
    spine = (rng.normal(0, 3), b - 48.0, rng.uniform(16, 20))
    aorta = (spine[0] + rng.uniform(10, 18), spine[1] - spine[2] - rng.uniform(10, 16), rng.uniform(9, 12))
    ivc = (spine[0] - rng.uniform(22, 30), spine[1] - spine[2] - rng.uniform(14, 20), rng.uniform(10, 13))
    kidneys = tuple(
        Ellipsoid(np.array([side * rng.uniform(60, 75), b - rng.uniform(50, 60), rng.uniform(-85, -60)]),
                  np.array([rng.uniform(24, 30), rng.uniform(20, 25), rng.uniform(45, 55)]),
                  _rotation(rng, 15.0))
        for side in (-1.0, 1.0))
    # Cirrhosis: shrunken right lobe, relatively enlarged left lobe (and caudate), nodular surface.
    s_right = rng.uniform(0.92, 1.08) * (0.86 if p.cirrhosis else 1.0)
    s_left = rng.uniform(0.85, 1.1) * (1.12 if p.cirrhosis else 1.0)
    right = Ellipsoid(np.array([-62.0 + rng.normal(0, 4), 8.0 + rng.normal(0, 4), rng.normal(0, 4)]),
                      np.array([72.0, 80.0, 72.0]) * s_right * rng.uniform(0.93, 1.07, 3),
                      _rotation(rng, 12.0))
    left = Ellipsoid(np.array([18.0 + rng.normal(0, 5), -42.0 + rng.normal(0, 4), 18.0 + rng.normal(0, 4)]),
                     np.array([55.0, 28.0, 38.0]) * s_left * rng.uniform(0.9, 1.1, 3),
                     _rotation(rng, 15.0))
    gb = Ellipsoid(np.array([-32.0 + rng.normal(0, 5), -48.0 + rng.normal(0, 4), -42.0 + rng.normal(0, 5)]),
                   np.array([14.0, 14.0, 30.0]) * rng.uniform(0.8, 1.2, 3), _rotation(rng, 25.0))
    hilum = np.array([-30.0, 10.0, -8.0]) + rng.normal(0, 4, 3)
    portal = (
        (np.array([2.0, 25.0, -70.0]), hilum, rng.uniform(6.0, 8.0)),
        (hilum, np.array([-88.0, 12.0, 4.0]) + rng.normal(0, 5, 3), rng.uniform(4.5, 6.0)),
        (hilum, np.array([28.0, -30.0, 14.0]) + rng.normal(0, 5, 3), rng.uniform(3.5, 5.0)),
    )
    confluence = np.array([ivc[0], ivc[1], 62.0])
    hepatic = tuple((confluence, confluence + d + rng.normal(0, 6, 3), rng.uniform(3.5, 5.0)) for d in (
        np.array([-80.0, -45.0, -40.0]), np.array([-15.0, -70.0, -35.0]), np.array([35.0, -65.0, -25.0])))

    lo = np.minimum(right.bounds(20)[0], left.bounds(20)[0])
    hi = np.maximum(right.bounds(20)[1], left.bounds(20)[1])
    surface = smooth_field(lo, hi, 8.0, 16.0, rng).scaled(rng.uniform(2.0, 3.5))
    texture = smooth_field(lo, hi, 4.0, 6.0, rng).scaled(0.035)
    if p.cirrhosis:  # regenerative nodules: a nodular surface and a mottled parenchyma
        nodular = smooth_field(lo, hi, 2.5, 2.5, rng)
        surface = SmoothField(nodular.origin, nodular.spacing,
                              surface.on_grid_of(nodular) + np.float32(rng.uniform(0.5, 1.0)) * nodular.data)
        texture = SmoothField(nodular.origin, nodular.spacing,
                              texture.on_grid_of(nodular) + np.float32(0.07) * nodular.data)
    viscera = smooth_field(np.array([-a, -b, lo[2] - 40]), np.array([a, b, hi[2] + 40]), 8.0, 10.0, rng)
    # Diaphragm: two paraboloid domes hugging the lobes' tops (the lungs lie above, also lateral to
    # the dome); the heart sits on the left dome.
    domes = tuple((float(lobe.centre[0]), float(lobe.centre[1]), float(lobe.bounds()[1][2]) - 4.0,
                   float(lobe.semi_axes[0] ** 2 / lobe.semi_axes[2]) * 0.8) for lobe in (right, left))
    heart = Ellipsoid(np.array([25.0, -35.0, domes[1][2] + 45.0]), np.array([60.0, 45.0, 50.0]),
                      _rotation(rng, 20.0))
    spleen = Ellipsoid(np.array([a * 0.62, b * 0.3, 25.0]) + rng.normal(0, 4, 3),
                       np.array([25.0, 45.0, 55.0]) * rng.uniform(0.85, 1.15) * (1.2 if p.cirrhosis else 1.0),
                       Rotation.from_euler("z", rng.uniform(20, 40), degrees=True).as_matrix())

    base = Anatomy(
        body_axes=(a, b), fat_mm=fat, muscle_mm=muscle, spine=spine, aorta=aorta, ivc=ivc,
        kidneys=kidneys, lobes=(right, left), gallbladder=gb, portal_veins=portal, hepatic_veins=hepatic,
        spleen=spleen, domes=domes, heart=heart, liver_surface_mm=surface, surface_reach_mm=float(np.abs(surface.data).max()),
        liver_texture=texture, viscera_texture=viscera, nodules=(), liver_centre=right.centre.copy())
    nodules = _place_nodules(base, p, nodule_rng, cover)
    return replace(base, nodules=nodules)


def _nodule_diameters(p: PatientLatents, rng: np.random.Generator) -> list[float]:
    """Largest = p.tumour_size_cm; satellites smaller (>= 1 cm); '3' means three or four."""
    largest = 10.0 * p.tumour_size_cm
    n = p.tumour_number if p.tumour_number < 3 else 3 + int(rng.random() < 0.3)
    others = sorted((max(10.0, largest * rng.uniform(0.3, 0.75)) for _ in range(n - 1)), reverse=True)
    return [largest] + [min(d, largest * 0.95) for d in others]


def _place_nodules(anat: Anatomy, p: PatientLatents, rng: np.random.Generator,
                   cover: tuple[np.ndarray, np.ndarray]) -> tuple[Nodule, ...]:
    """Nodules inside the liver, apart from each other and from the big vessels, wholly inside the
    ``cover`` box when they fit. Shape irregularity (lobulation) grows with size."""
    placed: list[Nodule] = []
    lo, hi = anat.liver_bounds(0.0)
    diameters = _nodule_diameters(p, rng)
    for label, (diameter, rng) in enumerate(zip(diameters, rng.spawn(len(diameters))), start=1):
        semi = diameter / 2.0 * np.array([1.0, rng.uniform(0.8, 0.97), rng.uniform(0.8, 0.97)])
        rot = Rotation.random(random_state=rng).as_matrix()
        r = float(semi.max())
        c_lo = np.maximum(lo, cover[0] + r + 6.0)
        c_hi = np.minimum(hi, cover[1] - r - 6.0)
        middle = (cover[0] + cover[1]) / 2.0
        c_lo, c_hi = np.where(c_lo < c_hi, c_lo, middle), np.where(c_lo < c_hi, c_hi, middle)
        best, best_score = None, -np.inf
        for _ in range(400):  # rejection sampling: deep in the liver, clear of vessels and nodules
            c = rng.uniform(c_lo, c_hi).astype(np.float32)
            x, y, z = (np.array([v], dtype=np.float32) for v in c)
            depth = -float(_liver_sd_raw(anat, x, y, z)[0])
            clear = min(float(vessels_sd(anat, x, y, z, "portal")[0]),
                        float(vessels_sd(anat, x, y, z, "hepatic")[0])) - 0.7 * r
            gap = min((float(np.linalg.norm(c - n.shape.centre)) - r - n.diameter_mm / 2 - 4.0
                       for n in placed), default=50.0)
            score = min(depth - 0.6 * r, clear, gap)
            if score > best_score:
                best, best_score = c, score
            if score > 0 and depth > min(r + 5.0, 40.0):
                break
        waves = rng.normal(0.0, 2.2, (6, 3))
        # Seen in every phase, so it follows size (visible anyway), not a half of the aggressiveness.
        amp = 0.04 + 0.10 / (1.0 + np.exp(-3.5 * np.log(p.tumour_size_cm / 3.0)))
        box_lo, box_hi = Ellipsoid(best, semi, rot).bounds(r * (amp + 0.05) + 4.0)
        step = max(1.0, diameter / 48.0)
        texture = smooth_field(box_lo, box_hi, step, max(1.2, 0.05 * diameter), rng)
        necrosis = smooth_field(box_lo, box_hi, step, max(2.0, 0.12 * diameter), rng)
        share = float(np.clip(0.85 * p.heterogeneity, 0.0, 0.9))
        placed.append(Nodule(label, Ellipsoid(best.astype(np.float64), semi, rot),
                             (waves, rng.uniform(0, 2 * np.pi, 6), float(amp)), texture, necrosis,
                             float(norm.ppf(1.0 - share)) if share > 0.01 else np.inf))
    return tuple(placed)
