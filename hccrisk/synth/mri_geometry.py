"""Geometry of the synthetic MR series: voxel grids in patient space (DICOM LPS, mm) and the rigid
breath-hold misregistration between phases.

Conventions (as SimpleITK): a volume array is indexed ``[k, j, i]`` = (slice, row, column); the
direction matrix has the unit vectors of the i, j, k index axes as its columns, so
``position(i, j, k) = origin + direction @ (spacing * (i, j, k))``. DICOM ImageOrientationPatient is
the first two columns; slices are stored in increasing position along the third column, the order
SimpleITK's ImageSeriesReader sorts them into.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

#: Origins are rounded to a multiple of 1/64 mm and pixel spacings are FOV/matrix with an integer FOV,
#: so both are exact in DICOM DS text, in float64 and in NIfTI's float32: the ground-truth masks then
#: carry bit-for-bit the geometry that ImageSeriesReader reads from the DICOM files.
_ORIGIN_QUANTUM_MM = 1.0 / 64.0
#: Decimal places of direction cosines (oblique series only): DS text (16 characters) holds them
#: exactly and they stay orthonormal to ~1e-12, so the slice spacing ITK derives from the positions
#: is the intended one.
_COSINE_DECIMALS = 12


@dataclass(frozen=True)
class SeriesGrid:
    """The voxel grid of one MR series.

    shape: (n_slices, rows, columns); spacing: (column, row, slice) mm, i.e. (x, y, z) of the index
    axes; origin: patient position (mm) of voxel (0, 0, 0); direction: 3x3, columns = index axes.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]  # 9 values, row-major, as SimpleITK's GetDirection()
    slice_thickness: float

    @property
    def matrix(self) -> np.ndarray:
        """Direction as a 3x3 array (columns = i, j, k axes)."""
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def image_orientation(self) -> list[float]:
        """DICOM ImageOrientationPatient: row (i axis) then column (j axis) direction cosines."""
        m = self.matrix
        return [float(v) for v in (*m[:, 0], *m[:, 1])]

    def slice_position(self, k: int) -> list[float]:
        """DICOM ImagePositionPatient (mm) of slice ``k`` (centre of its first transmitted pixel)."""
        pos = np.asarray(self.origin) + self.matrix[:, 2] * (self.spacing[2] * k)
        return [float(v) for v in pos]

    def slice_location(self, k: int) -> float:
        """DICOM SliceLocation: the position along the slice normal (mm)."""
        return float(np.dot(self.slice_position(k), self.matrix[:, 2]))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned box (LPS mm) around the voxel centres."""
        nz, ny, nx = self.shape
        corners = np.array([[i, j, k] for i in (0, nx - 1) for j in (0, ny - 1) for k in (0, nz - 1)], float)
        pts = np.asarray(self.origin) + (self.matrix @ (corners * np.asarray(self.spacing)).T).T
        return pts.min(axis=0), pts.max(axis=0)

    def points(self) -> np.ndarray:
        """Patient coordinates of every voxel centre, shape (3, n_slices * rows * columns), float32,
        in C order of the volume array (slice, row, column)."""
        nz, ny, nx = self.shape
        m = self.matrix * np.asarray(self.spacing)  # columns scaled by spacing
        k, j, i = (a.ravel() for a in np.meshgrid(
            np.arange(nz, dtype=np.float32), np.arange(ny, dtype=np.float32),
            np.arange(nx, dtype=np.float32), indexing="ij"))
        m32 = m.astype(np.float32)
        pts = np.empty((3, k.size), dtype=np.float32)
        for axis in range(3):
            pts[axis] = m32[axis, 0] * i + m32[axis, 1] * j + m32[axis, 2] * k + np.float32(self.origin[axis])
        return pts

    def image(self, array: np.ndarray) -> sitk.Image:
        """A SimpleITK image of ``array`` (shape ``self.shape``) carrying this grid's geometry."""
        if array.shape != self.shape:
            raise ValueError(f"array shape {array.shape} does not match the grid {self.shape}")
        img = sitk.GetImageFromArray(array)
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img


def make_grid(
    centre_mm: np.ndarray,
    fov_mm: int,
    matrix: int,
    n_slices: int,
    slice_spacing_mm: float,
    slice_thickness_mm: float,
    tilt_deg: float = 0.0,
) -> SeriesGrid:
    """A transverse grid centred on ``centre_mm`` (LPS).

    ``fov_mm`` / ``matrix`` gives the pixel spacing (square pixels, square FOV); ``tilt_deg`` tilts the
    slices about the left-right axis (transverse-to-coronal obliquity, as prescribed on some scanners).
    """
    pixel = float(fov_mm) / matrix
    if tilt_deg:
        t = np.deg2rad(tilt_deg)
        col = np.round([0.0, np.cos(t), -np.sin(t)], _COSINE_DECIMALS)
    else:
        col = np.array([0.0, 1.0, 0.0])
    row = np.array([1.0, 0.0, 0.0])
    normal = np.cross(row, col)  # as GDCM/ITK derive the slice direction
    normal /= np.linalg.norm(normal)
    direction = np.column_stack([row, col, normal])
    extent = direction @ (np.array([pixel * (matrix - 1), pixel * (matrix - 1),
                                    slice_spacing_mm * (n_slices - 1)]))
    origin = np.asarray(centre_mm, dtype=np.float64) - extent / 2.0
    origin = np.round(origin / _ORIGIN_QUANTUM_MM) * _ORIGIN_QUANTUM_MM
    return SeriesGrid(
        shape=(n_slices, matrix, matrix),
        spacing=(pixel, pixel, float(slice_spacing_mm)),
        origin=tuple(float(v) for v in origin),
        direction=tuple(float(v) for v in direction.ravel()),
        slice_thickness=float(slice_thickness_mm),
    )


@dataclass(frozen=True)
class RigidMotion:
    """Where the anatomy of one series lies relative to the arterial phase (AP).

    A point at ``x`` in AP patient space lies at ``R (x - centre) + centre + translation`` in this
    series, R = SimpleITK Euler3DTransform rotation (angles in radians about x, y, z, ZXY order).
    This is the transform SimpleITK's registration of this series (moving) to AP (fixed) estimates.
    """

    angles_rad: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    centre_mm: tuple[float, float, float]

    def transform(self) -> sitk.Euler3DTransform:
        """As a SimpleITK transform (fixed = AP space, moving = this series' space)."""
        return sitk.Euler3DTransform(self.centre_mm, *self.angles_rad, self.translation_mm)

    def rotation(self) -> np.ndarray:
        return np.asarray(self.transform().GetMatrix(), dtype=np.float64).reshape(3, 3)

    def to_anatomy(self, pts: np.ndarray) -> np.ndarray:
        """Map series patient coordinates (3, N) to AP ("anatomy") coordinates: the inverse map."""
        r = self.rotation()
        c = np.asarray(self.centre_mm, dtype=np.float64)[:, None]
        t = np.asarray(self.translation_mm, dtype=np.float64)[:, None]
        shift = (r.T @ (-c - t) + c).astype(np.float32)  # x_ap = R^T (x - c - t) + c
        return r.T.astype(np.float32) @ pts + shift

    def as_dict(self) -> dict[str, list[float]]:
        return {
            "rotation_deg": [round(float(np.rad2deg(a)), 4) for a in self.angles_rad],
            "translation_mm": [round(float(v), 4) for v in self.translation_mm],
            "centre_mm": [round(float(v), 4) for v in self.centre_mm],
        }


IDENTITY = RigidMotion((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))


def breath_hold_motion(centre_mm: np.ndarray, rng: np.random.Generator) -> RigidMotion:
    """A different breath-hold: mostly cranio-caudal shift (2-8 mm), some AP/LR, rotation <= ~2 deg.

    The angles and shifts are rounded (0.01 deg, 0.01 mm) so the truth table holds them exactly.
    """
    cc = rng.uniform(2.0, 8.0) * rng.choice([-1.0, 1.0])
    shift = (round(rng.normal(0.0, 1.0), 2), round(rng.normal(0.0, 1.5), 2), round(cc, 2))
    angles_deg = (rng.normal(0.0, 1.2), rng.normal(0.0, 0.5), rng.normal(0.0, 0.8))
    angles = tuple(float(np.deg2rad(round(float(np.clip(a, -3.0, 3.0)), 2))) for a in angles_deg)
    centre = tuple(round(float(v), 2) for v in centre_mm)
    return RigidMotion(angles, tuple(float(v) for v in shift), centre)
