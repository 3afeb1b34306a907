"""CEUS writer: US Multi-frame Image Storage objects as scanners write them, plus per-frame
ground-truth tumour boxes.

Vendor quirks (fps: default / realistic; details in docs/synthetic.md, "CEUS"):

- A: RGB (contrast gold-tinted), dual display, JPEG baseline YBR_FULL_422, Frame Time, a 0-75 s clip
  plus 4 short later clips, one series per clip; 3 / 18 fps.
- B: MONOCHROME2, single display, uncompressed (default) or JPEG-LS lossless (realistic), Frame Time
  Vector with jitter, a 0-62 s clip plus 4 short later clips in one series; 4 / 25 fps.
- C: MONOCHROME2, dual display, JPEG-LS near-lossless, Frame Time, one clip from -3 s to 360 s with
  Contrast Bolus Start Time; 2 / 15 fps.

t = 0 (injection) is the first frame of the first clip (A, B); C starts recording 3 s earlier and
writes ContrastBolusStartTime = injection time. Dual display: B-mode region left, contrast right.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLSLossless,
                         JPEGLSNearLossless,
                         UltrasoundMultiFrameImageStorage)

from hccrisk.synth import ceus_scene
from hccrisk.synth.common import SIZES, da, dt_str, opaque_name, patient_study_modules, save, \
    sop_common, tm, uid_for
from hccrisk.synth.latent import PatientLatents
from hccrisk.synth.rois import write_rows

FRAME_TIME = 0x00181063
FRAME_TIME_VECTOR = 0x00181065
CEUS_SPAN_S = 360.0  #: the contrast timeline every cine covers (arterial, portal venous, late)


@dataclass(frozen=True)
class Layout:
    """Stored-frame geometry of one size preset (pixels)."""

    rows: int  #: region rows
    cols: int  #: region columns
    banner: int  #: text rows above the regions
    bottom: int
    side: int
    gap: int
    later_clip_s: float  #: length of each later clip


LAYOUTS = {
    "default": Layout(rows=88, cols=112, banner=16, bottom=6, side=8, gap=8, later_clip_s=5.0),
    "realistic": Layout(rows=360, cols=400, banner=40, bottom=20, side=24, gap=16, later_clip_s=8.0),
}


@dataclass(frozen=True)
class Vendor:
    colour: bool
    dual: bool
    transfer: dict[str, str]  #: per size preset
    fps: dict[str, float]
    first_clip_s: float | None  #: None = one continuous clip over the whole span
    frame_time_vector: bool
    pre_injection_s: float  #: recording starts this long before injection (then bolus time given)
    series_per_clip: bool


VENDORS: dict[str, Vendor] = {
    "A": Vendor(True, True, {"default": JPEGBaseline8Bit, "realistic": JPEGBaseline8Bit},
                {"default": 3.0, "realistic": 18.0}, 75.0, False, 0.0, True),
    "B": Vendor(False, False, {"default": ExplicitVRLittleEndian, "realistic": JPEGLSLossless},
                {"default": 4.0, "realistic": 25.0}, 62.0, True, 0.0, False),
    "C": Vendor(False, True, {"default": JPEGLSNearLossless, "realistic": JPEGLSNearLossless},
                {"default": 2.0, "realistic": 15.0}, None, False, 3.0, False),
}
JPEGLS_NEAR = 2  #: near-lossless JPEG-LS: every pixel within +-2 of the original
LATER_CLIP_STARTS_S = (95.0, 150.0, 240.0, 330.0)


@dataclass(frozen=True)
class Clip:
    start_s: float  #: first frame, seconds from injection (ms precision)
    frame_ms: np.ndarray  #: (N,) increments as written: Frame Time repeated, or Frame Time Vector
    times_s: np.ndarray  #: (N,) frame times from injection, recomputed from the written values


def clip_schedule(vendor: Vendor, size: str, rng: np.random.Generator) -> list[Clip]:
    """Clips and their frame times; the times are exactly those the written tags give."""
    fps = vendor.fps[size]
    if vendor.first_clip_s is None:
        spans = [(-vendor.pre_injection_s, CEUS_SPAN_S)]
    else:
        spans = [(0.0, vendor.first_clip_s)]
        for s in LATER_CLIP_STARTS_S:
            start = round(s + float(rng.uniform(-3, 3)), 3)
            spans.append((start, min(start + LAYOUTS[size].later_clip_s, CEUS_SPAN_S)))
    clips = []
    for start, stop in spans:
        n = int(np.floor((stop - start) * fps)) + 1
        if vendor.frame_time_vector:
            inc = np.round(1000.0 / fps * (1.0 + 0.04 * rng.standard_normal(n)), 1)
            inc[0] = 0.0
        else:
            inc = np.full(n, round(1000.0 / fps, 3))
        offsets = np.cumsum(inc) - inc[0] if vendor.frame_time_vector else np.arange(n) * inc[0]
        keep = start + offsets / 1000.0 <= stop + 1e-9  # rounded frame times must not run past stop
        clips.append(Clip(start, inc[keep], start + offsets[keep] / 1000.0))
    return clips


def _region_origins(L: Layout, dual: bool) -> tuple[tuple[int, int], tuple[int, int] | None, int, int]:
    """(contrast x0, y0), (bmode x0, y0) or None, stored rows, stored cols."""
    rows = L.banner + L.rows + L.bottom
    if dual:
        bm = (L.side, L.banner)
        ce = (L.side + L.cols + L.gap, L.banner)
        return ce, bm, rows, 2 * L.side + 2 * L.cols + L.gap
    return (L.side, L.banner), None, rows, 2 * L.side + L.cols


class _Burner:
    """Burned-in annotations outside the regions (banner text, timer, MI, depth ticks), cached per
    displayed second."""

    def __init__(self, p: PatientLatents, L: Layout, stored: tuple[int, int], colour: bool, mi: float):
        self.L, self.shape, self.colour, self.mi = L, stored, colour, mi
        self.font = ImageFont.load_default(size=max(8, int(L.banner * 0.6)))
        self.label = f"{p.vendor}  CEUS  LOW MI"
        self.cache: dict[int, np.ndarray] = {}

    def banner(self, t: float) -> np.ndarray:
        sec = int(np.floor(t))
        if sec not in self.cache:
            mode = "RGB" if self.colour else "L"
            ink = (255, 230, 40) if self.colour else 235
            im = Image.new(mode, (self.shape[1], self.L.banner))
            d = ImageDraw.Draw(im)
            sign = "-" if sec < 0 else ""
            timer = f"{sign}{abs(sec) // 60:02d}:{abs(sec) % 60:02d}"
            d.text((2, 1), f"{self.label}  MI {self.mi:.2f}", fill=ink, font=self.font)
            x = self.shape[1] - int(np.ceil(self.font.getlength(timer))) - self.L.side
            d.text((x, 1), timer, fill=ink, font=self.font)
            self.cache[sec] = np.asarray(im)
        return self.cache[sec]


def _encode(frame: np.ndarray, transfer: str) -> bytes:
    if transfer == JPEGBaseline8Bit:
        buf = io.BytesIO()
        # Pillow converts RGB to YCbCr; subsampling=1 is 4:2:2 -> YBR_FULL_422.
        Image.fromarray(frame, "RGB").save(buf, "JPEG", quality=85, subsampling=1)
        return buf.getvalue()
    import jpeg_ls

    near = JPEGLS_NEAR if transfer == JPEGLSNearLossless else 0
    return bytes(jpeg_ls.encode_array(np.ascontiguousarray(frame), lossy_error=near))


def write_ceus_study(p: PatientLatents, dicom_dir: Path, roi_dir: Path, size: str,
                     rng: np.random.Generator, observer2_roi_dir: Path | None = None) -> dict:
    """Write one patient's CEUS study (one or more clips) and its ground-truth ROIs.

    Files: ``dicom_dir/<opaque>.dcm``; ``roi_dir/ceus_tumour.csv`` (one row per frame, stored-frame
    pixels of the contrast region); ``observer2_roi_dir/ceus_box.csv`` when given. Returns the truth
    values of the kinetics and the list of files written.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size preset {size!r}; choose one of {SIZES}")
    vendor, L = VENDORS[p.vendor], LAYOUTS[size]
    kin = ceus_scene.kinetics(p, rng)
    scene = ceus_scene.build_scene(p, rng, L.rows, L.cols)
    clips = clip_schedule(vendor, size, rng)
    mov = ceus_scene.motion(rng, len(clips))
    (cx0, cy0), bm_origin, s_rows, s_cols = _region_origins(L, vendor.dual)
    mi = round(float(rng.uniform(0.05, 0.10)), 2)
    burner = _Burner(p, L, (s_rows, s_cols), vendor.colour, mi)
    transfer = vendor.transfer[size]
    injection = p.study_datetime
    study_uid = uid_for(p.cohort_seed, p.patient_id, "ceus", "study")
    accession = f"US{p.cohort_seed % 1000:03d}{p.index + 1:05d}"

    roi_rows, files = [], []
    for ci, clip in enumerate(clips):
        shifts = mov.displacement_px(clip.times_s, ci, scene.spacing_mm)
        sop_uid = uid_for(p.cohort_seed, p.patient_id, "ceus", "clip", ci)
        frames: list = []  # uint8 arrays (uncompressed) or encoded bytes, one per frame
        for fi, (t, sh) in enumerate(zip(clip.times_s, shifts)):
            contrast, bmode = ceus_scene.render(scene, kin, float(t), (int(sh[0]), int(sh[1])), rng,
                                                L.rows, L.cols)
            frame = _compose(contrast, bmode, burner.banner(float(t)), (cx0, cy0), bm_origin,
                             (s_rows, s_cols), vendor.colour, L)
            frames.append(frame if transfer == ExplicitVRLittleEndian else _encode(frame, transfer))
            roi_rows.append(_roi_row(scene, sop_uid, fi, float(t), sh, (cx0, cy0), L))
        ds = _dataset(p, vendor, clip, ci, sop_uid, study_uid, accession, injection, (s_rows, s_cols),
                      (cx0, cy0), bm_origin, scene.spacing_mm, mi, size)
        _set_pixel_data(ds, frames, transfer)
        path = Path(dicom_dir) / opaque_name(p.cohort_seed, sop_uid, suffix=".dcm" if p.index % 2 else "")
        files.append(str(save(ds, path)))

    write_rows(Path(roi_dir) / "ceus_tumour.csv", roi_rows)
    if observer2_roi_dir is not None:
        write_rows(Path(observer2_roi_dir) / "ceus_box.csv", [_observer2_box(roi_rows, kin, rng)])
    return {
        "files": files,
        "n_frames": len(roi_rows),
        "ceus_tumour_arrival_s": round(kin.tumour_arrival_s, 3),
        "ceus_tumour_peak_s": round(kin.tumour_peak_s(), 3),
        "ceus_tumour_washout_s": round(kin.tumour_washout_s, 3),
        "ceus_liver_arrival_s": round(kin.liver_arrival_s, 3),
    }


def _set_pixel_data(ds: Dataset, frames: list, transfer: str) -> None:
    """Pixel Data (native or encapsulated) with the transfer syntax and lossy-compression tags."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer
    if transfer == ExplicitVRLittleEndian:
        ds.PixelData = np.stack(frames).tobytes()
        return
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    if transfer in (JPEGBaseline8Bit, JPEGLSNearLossless):
        raw_bytes = len(frames) * ds.Rows * ds.Columns * ds.SamplesPerPixel
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = f"{raw_bytes / sum(len(f) for f in frames):.2f}"
        ds.LossyImageCompressionMethod = "ISO_10918_1" if transfer == JPEGBaseline8Bit else "ISO_14495_1"


def _compose(contrast, bmode, banner, ce_origin, bm_origin, stored, colour: bool, L: Layout) -> np.ndarray:
    """Stored frame: banner text, regions, depth ticks; gold-tinted contrast for colour vendors."""
    rows, cols = stored
    out = np.zeros((rows, cols, 3) if colour else (rows, cols), np.uint8)
    out[: L.banner] = banner
    x, y = ce_origin
    if colour:
        tint = np.array([1.0, 0.82, 0.5], np.float32)
        out[y:y + L.rows, x:x + L.cols] = (contrast[..., None] * tint).astype(np.uint8)
    else:
        out[y:y + L.rows, x:x + L.cols] = contrast
    if bm_origin is not None:
        bx, by = bm_origin
        out[by:by + L.rows, bx:bx + L.cols] = bmode[..., None] if colour else bmode
    # depth ticks every 1 cm in the right margin
    tick_rows = L.banner + np.arange(0, L.rows, L.rows / (ceus_scene.FOV_DEPTH_MM / 10)).astype(int)
    out[tick_rows, x + L.cols + 1: x + L.cols + 1 + max(2, L.side // 3)] = 200
    return out


def _roi_row(scene: ceus_scene.Scene, sop_uid: str, frame: int, t: float, shift, origin, L: Layout) -> dict:
    dy, dx = int(shift[0]), int(shift[1])
    x0r, y0r = origin
    r0, r1, c0, c1 = scene.box_rc
    box = (max(c0 + dx, 0), max(r0 + dy, 0), min(c1 + dx, L.cols), min(r1 + dy, L.rows))
    return {"sop_instance_uid": sop_uid, "frame": frame, "time_s": f"{t:.4f}",
            "cx": x0r + scene.centre_rc[1] + dx, "cy": y0r + scene.centre_rc[0] + dy,
            "x0": x0r + box[0], "y0": y0r + box[1], "x1": x0r + box[2], "y1": y0r + box[3],
            "radius_mm": f"{scene.radius_mm:.2f}"}


def _observer2_box(rows: list[dict], kin: ceus_scene.Kinetics, rng: np.random.Generator) -> dict:
    """Second observer: one rectangle on the frame nearest the tumour's peak, edges perturbed."""
    times = np.array([float(r["time_s"]) for r in rows])
    r = rows[int(np.argmin(np.abs(times - kin.tumour_peak_s())))]
    w, h = r["x1"] - r["x0"], r["y1"] - r["y0"]
    jit = rng.normal(0, 1, 4) * np.array([w, h, w, h]) * 0.06 + rng.normal(0, 1.5, 2).repeat(2)[[0, 2, 1, 3]]
    x0, y0 = int(round(r["x0"] + jit[0])), int(round(r["y0"] + jit[1]))
    x1, y1 = max(x0 + 2, int(round(r["x1"] + jit[2]))), max(y0 + 2, int(round(r["y1"] + jit[3])))
    return {"time_s": r["time_s"], "x0": x0, "y0": y0, "x1": x1, "y1": y1}


def _dataset(p, vendor: Vendor, clip: Clip, ci: int, sop_uid, study_uid, accession, injection: dt.datetime,
             stored, ce_origin, bm_origin, spacing_mm: float, mi: float, size: str) -> Dataset:
    """All modules of the US Multi-frame Image IOD except Pixel Data."""
    ds = Dataset()
    start = injection + dt.timedelta(milliseconds=int(round(clip.start_s * 1000)))
    first = injection + dt.timedelta(seconds=-vendor.pre_injection_s)
    sop_common(ds, UltrasoundMultiFrameImageStorage, sop_uid, start)
    ds.Modality = "US"
    patient_study_modules(ds, p, study_uid, accession, "US ABDOMEN CEUS LIVER", modality="US",
                          study_datetime=first - dt.timedelta(minutes=5))
    series_no = ci + 1 if vendor.series_per_clip else 1
    ds.SeriesInstanceUID = uid_for(p.cohort_seed, p.patient_id, "ceus", "series", series_no)
    ds.SeriesNumber = series_no
    ds.SeriesDescription = "CEUS Liver" if not vendor.series_per_clip else f"CEUS Liver clip {ci + 1}"
    ds.SeriesDate, ds.SeriesTime = da(first), tm(first)
    ds.InstanceNumber = ci + 1
    ds.PatientOrientation = ""
    ds.Laterality = ""  # unpaired organ: type 2C, present and empty
    ds.ContentDate, ds.ContentTime = da(start), tm(start)
    ds.AcquisitionDateTime = dt_str(start)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL", "0001"]
    ds.BurnedInAnnotation = "YES"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    ds.MechanicalIndex = f"{mi:.2f}"
    ds.TransducerData = ["C5-1", "", ""]
    ds.ContrastBolusAgent = "SonoVue (sulphur hexafluoride microbubbles)"
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusVolume = "2.4"
    if vendor.pre_injection_s > 0:
        ds.ContrastBolusStartTime = tm(injection)

    rows, cols = stored
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if vendor.colour:
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        ds.PhotometricInterpretation = "YBR_FULL_422"
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    n = len(clip.times_s)
    ds.NumberOfFrames = n
    if vendor.frame_time_vector:
        ds.FrameIncrementPointer = FRAME_TIME_VECTOR
        ds.FrameTimeVector = [f"{v:.1f}" for v in clip.frame_ms]
    else:
        ds.FrameIncrementPointer = FRAME_TIME
        ds.FrameTime = f"{clip.frame_ms[0]:.3f}"
    fps = vendor.fps[size]
    ds.CineRate = int(round(fps))
    ds.RecommendedDisplayFrameRate = int(round(fps))
    ds.ActualFrameDuration = int(round(1000 / fps))
    ds.StartTrim, ds.StopTrim, ds.PreferredPlaybackSequencing = 1, n, 0

    L = LAYOUTS[size]
    regions = [_region(ce_origin, L, spacing_mm)]
    if bm_origin is not None:
        regions.insert(0, _region(bm_origin, L, spacing_mm))
    ds.SequenceOfUltrasoundRegions = Sequence(regions)
    return ds


def _region(origin: tuple[int, int], L: Layout, spacing_mm: float) -> Dataset:
    """One item of the Sequence of Ultrasound Regions (2D tissue; deltas in cm as DICOM wants)."""
    x0, y0 = origin
    it = Dataset()
    it.RegionSpatialFormat = 1
    it.RegionDataType = 1
    it.RegionFlags = 0
    it.RegionLocationMinX0, it.RegionLocationMinY0 = x0, y0
    it.RegionLocationMaxX1, it.RegionLocationMaxY1 = x0 + L.cols - 1, y0 + L.rows - 1
    it.PhysicalUnitsXDirection = it.PhysicalUnitsYDirection = 3  # cm
    it.PhysicalDeltaX = it.PhysicalDeltaY = spacing_mm / 10.0
    it.ReferencePixelX0, it.ReferencePixelY0 = L.cols // 2, 0
    it.ReferencePixelPhysicalValueX = it.ReferencePixelPhysicalValueY = 0.0
    return it
