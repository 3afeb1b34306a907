"""Ultrasound multi-frame objects: frame timing, the Sequence of Ultrasound Regions, frame decoding.

Everything here follows the DICOM standard (PS3.3 C.7.6.5 Cine module, C.8.5.5 US Region Calibration
module); nothing is vendor-specific. Only the frames asked for are decoded (pydicom 3
``iter_pixels(indices=...)``), so a 2 fps timeline never pays for the 15-25 fps stored.

Under pydicom 2 (the MONAI Label server's venv, docs/label.md) there is no ``pydicom.pixels``: the
decodability check asks pydicom 2's pixel data handlers, and decoding reads the whole ``pixel_array``
once (YBR converted to RGB as pydicom 3 does), then hands out the frames asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from hccrisk.dicom.scan import _acquired
from hccrisk.errors import InputError, MissingDataError

_PYDICOM3 = hasattr(pydicom, "pixels")  # pydicom 2 in .venv-label has no pydicom.pixels

_FRAME_TIME = 0x00181063
_FRAME_TIME_VECTOR = 0x00181065
_CM = 3  # PhysicalUnitsX/YDirection code for centimetres
_SPATIAL_2D = 1  # RegionSpatialFormat: 2D (tissue or flow image)
_IMAGE_DATA_TYPES = (0, 1)  # RegionDataType: none given, tissue (not colour flow, Doppler, colour bars)
_GRAY = ("MONOCHROME1", "MONOCHROME2")
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT")
# Faster decoders where several are installed (measured on 420x864 frames: pyjpegls 10 ms vs
# pylibjpeg 44 ms per JPEG-LS frame; Pillow 28 ms vs pylibjpeg 40 ms per JPEG baseline frame).
_PREFERRED_PLUGIN = {
    "1.2.840.10008.1.2.4.80": "pyjpegls", "1.2.840.10008.1.2.4.81": "pyjpegls",
    "1.2.840.10008.1.2.4.50": "pillow", "1.2.840.10008.1.2.4.51": "pillow",
}


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of the Sequence of Ultrasound Regions, in stored-frame pixels.

    ``x0, y0`` is the top-left pixel; ``width, height`` follow from the standard's inclusive
    RegionLocationMaxX1/MaxY1. ``spacing_mm`` is (row, column) in mm, None when not in cm.
    """

    index: int
    x0: int
    y0: int
    width: int
    height: int
    spatial_format: int
    data_type: int
    flags: int
    spacing_mm: tuple[float, float] | None

    def crop(self, frame: np.ndarray) -> np.ndarray:
        """The region's pixels of a stored frame (rows, columns[, samples])."""
        return frame[self.y0:self.y0 + self.height, self.x0:self.x0 + self.width]


@dataclass(frozen=True)
class Clip:
    """One US multi-frame instance: where its frames lie in time and on the screen."""

    path: Path
    sop_uid: str
    n_frames: int
    rows: int
    columns: int
    start: datetime | None  # acquisition time of the first frame
    offsets_s: np.ndarray  # (n_frames,) seconds from the first frame
    timing_source: str  # which attribute gave the frame timing
    regions: tuple[UltrasoundRegion, ...]
    photometric: str
    transfer_syntax: str
    manufacturer: str
    bits_stored: int

    @property
    def frame_interval_s(self) -> float:
        """Median interval between frames (s); 0 for a single frame."""
        return float(np.median(np.diff(self.offsets_s))) if self.n_frames > 1 else 0.0


def frame_offsets_s(ds: Dataset, path: Path | str) -> tuple[np.ndarray, str]:
    """Seconds from the first frame to each frame, and the attribute they came from.

    Order: the attribute Frame Increment Pointer names (Frame Time or Frame Time Vector), then
    Frame Time Vector, Frame Time, Cine Rate. Raises MissingDataError when none is present and
    InputError when a value is not a positive finite time.
    """
    n = int(ds.get("NumberOfFrames") or 1)
    pointer = ds.get("FrameIncrementPointer")
    pointers = [int(p) for p in (pointer if isinstance(pointer, (list, pydicom.multival.MultiValue))
                                 else [pointer])] if pointer is not None else []
    order = ["FrameTimeVector", "FrameTime", "CineRate"]
    if _FRAME_TIME in pointers:
        order = ["FrameTime", "FrameTimeVector", "CineRate"]
    for kw in order:
        value = ds.get(kw)
        if value in (None, "", []):
            continue
        if kw == "FrameTimeVector":
            vec = np.asarray([float(v) for v in value], dtype=float)
            if len(vec) == n - 1:  # some writers omit the leading 0 increment
                vec = np.concatenate([[0.0], vec])
            if len(vec) != n:
                raise InputError(path, f"Frame Time Vector has {len(vec)} values for {n} frames")
            if not np.all(np.isfinite(vec)) or np.any(vec[1:] <= 0):
                raise InputError(path, "Frame Time Vector has non-positive or non-finite increments")
            vec[0] = 0.0
            return np.cumsum(vec) / 1000.0, kw
        step_ms = float(value) if kw == "FrameTime" else 1000.0 / float(value) if float(value) else 0.0
        if not np.isfinite(step_ms) or step_ms <= 0:
            raise InputError(path, f"{kw} {value!r} is not a positive frame timing")
        return np.arange(n) * step_ms / 1000.0, kw
    raise MissingDataError(path, "no frame timing: none of Frame Time (0018,1063), Frame Time Vector "
                                 "(0018,1065) or Cine Rate (0018,0040) is present")


def ultrasound_regions(ds: Dataset, path: Path | str) -> tuple[UltrasoundRegion, ...]:
    """Parse the Sequence of Ultrasound Regions; regions must lie inside the stored frame."""
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    out = []
    for i, item in enumerate(ds.get("SequenceOfUltrasoundRegions") or []):
        try:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
        except AttributeError as exc:
            raise InputError(path, f"ultrasound region {i} lacks its location ({exc})") from None
        if not (0 <= x0 <= x1 < cols and 0 <= y0 <= y1 < rows):
            raise InputError(path, f"ultrasound region {i} ({x0},{y0})-({x1},{y1}) lies outside the "
                                   f"{cols}x{rows} frame")
        spacing = None
        if int(item.get("PhysicalUnitsXDirection", 0)) == _CM and \
                int(item.get("PhysicalUnitsYDirection", 0)) == _CM:
            dx, dy = float(item.get("PhysicalDeltaX", 0)), float(item.get("PhysicalDeltaY", 0))
            if dx > 0 and dy > 0:
                spacing = (abs(dy) * 10.0, abs(dx) * 10.0)
        out.append(UltrasoundRegion(
            index=i, x0=x0, y0=y0, width=x1 - x0 + 1, height=y1 - y0 + 1,
            spatial_format=int(item.get("RegionSpatialFormat", 0)),
            data_type=int(item.get("RegionDataType", 0)),
            flags=int(item.get("RegionFlags", 0)),
            spacing_mm=spacing,
        ))
    return tuple(out)


def image_regions(clip: Clip) -> list[UltrasoundRegion]:
    """The regions that hold a 2D image with a physical pixel size (tissue/contrast displays)."""
    return [r for r in clip.regions if r.spatial_format == _SPATIAL_2D and r.spacing_mm is not None
            and r.data_type in _IMAGE_DATA_TYPES]


def check_decodable(transfer_syntax: str, path: Path | str) -> None:
    """Raise InputError when no installed pydicom decoder handles this transfer syntax."""
    uid = UID(transfer_syntax)
    if not uid:
        raise InputError(path, "no Transfer Syntax UID in the file meta information")
    if not uid.is_compressed:
        return
    if not _PYDICOM3:
        if not any(h.supports_transfer_syntax(uid) and h.is_available() for h in _pydicom2_handlers()):
            raise InputError(path, f"unreadable transfer syntax {uid.name} ({uid}): no installed pydicom 2 "
                                   "pixel data handler decodes it")
        return
    try:
        decoder = pydicom.pixels.get_decoder(uid)
    except NotImplementedError:
        raise InputError(path, f"unreadable transfer syntax {uid.name} ({uid}): no decoder exists "
                               f"for it in pydicom") from None
    if not decoder.is_available:
        raise InputError(path, f"unreadable transfer syntax {uid.name} ({uid}): its decoder plugins "
                               f"are not installed")


def _available_plugins(transfer_syntax: str) -> tuple[str, ...]:
    if not _PYDICOM3:
        return ()
    try:
        return tuple(pydicom.pixels.get_decoder(UID(transfer_syntax)).available_plugins)
    except NotImplementedError:
        return ()


def read_clip(path: Path | str) -> Clip:
    """Read one US multi-frame header into a :class:`Clip` (no pixel data)."""
    path = Path(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    check_decodable(ts, path)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric not in _GRAY + _COLOUR:
        raise InputError(path, f"unsupported Photometric Interpretation {photometric!r} (grayscale, RGB "
                               "or YBR expected)")
    offsets, source = frame_offsets_s(ds, path)
    return Clip(
        path=path, sop_uid=str(ds.SOPInstanceUID), n_frames=int(ds.get("NumberOfFrames") or 1),
        rows=int(ds.Rows), columns=int(ds.Columns), start=_acquired(ds), offsets_s=offsets,
        timing_source=source, regions=ultrasound_regions(ds, path),
        photometric=photometric,
        transfer_syntax=ts, manufacturer=str(ds.get("Manufacturer", "") or ""),
        bits_stored=int(ds.get("BitsStored") or 8),
    )


def to_gray_uint8(pixels: np.ndarray, bits_stored: int, invert: bool = False) -> np.ndarray:
    """Grayscale uint8 of a decoded (rows, cols) or RGB (rows, cols, 3) array.

    RGB uses ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), the Y of YBR_FULL, so a gray image
    stored as RGB or YBR comes back unchanged. Samples over 8 bits are shifted down to 8.
    ``invert`` (MONOCHROME1) makes the lowest value white, as displayed.
    """
    if invert:
        return 255 - to_gray_uint8(pixels, bits_stored)
    if pixels.ndim == 3:
        rgb = pixels.astype(np.float32)
        gray = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    if bits_stored > 8:
        return (pixels.astype(np.uint32) >> (bits_stored - 8)).clip(0, 255).astype(np.uint8)
    return pixels.astype(np.uint8, copy=False)


def decode_regions(clip: Clip, frames: list[int], regions: list[UltrasoundRegion],
                   out: list[np.ndarray] | None = None, out_rows: list[int] | None = None) -> list[np.ndarray]:
    """Decode only ``frames`` of the clip and return each region's grayscale stack.

    Returns one uint8 array (len(frames), height, width) per region, frames in the order given; with
    ``out`` (one array per region) and ``out_rows``, frame ``frames[i]`` is written to
    ``out[j][out_rows[i]]`` instead (no intermediate copy) and ``out`` is returned.
    Raises InputError naming the file when the pixel data cannot be decoded.
    """
    if out is None:
        out = [np.empty((len(frames), r.height, r.width), dtype=np.uint8) for r in regions]
        out_rows = list(range(len(frames)))
    if not frames:
        return out
    targets: dict[int, list[int]] = {}
    for f, row in zip(frames, out_rows):
        targets.setdefault(int(f), []).append(int(row))
    wanted = sorted(targets)
    if wanted[0] < 0 or wanted[-1] >= clip.n_frames:
        raise InputError(clip.path, f"frame {wanted[-1]} asked of a clip with {clip.n_frames} frames")
    plugin = _PREFERRED_PLUGIN.get(clip.transfer_syntax, "")
    if plugin and plugin not in _available_plugins(clip.transfer_syntax):
        plugin = ""
    invert = clip.photometric == "MONOCHROME1"
    while True:
        try:
            for f, pixels in zip(wanted, _iter_frames(clip.path, wanted, plugin)):
                for stack, region in zip(out, regions):
                    gray = to_gray_uint8(region.crop(pixels), clip.bits_stored, invert=invert)
                    for row in targets[f]:
                        stack[row] = gray
            return out
        except Exception as exc:  # decoder errors have many types; name the file and the cause
            if plugin:  # the preferred plugin failed: let pydicom pick from all installed ones
                plugin = ""
                continue
            raise InputError(clip.path, f"pixel data cannot be decoded ({type(exc).__name__}: {exc})") \
                from None


def _pydicom2_handlers() -> list:
    """pydicom 2's pixel data handler modules (decoders), in its own preference order."""
    return list(pydicom.config.pixel_data_handlers)


def _iter_frames(path: Path, indices: list[int], plugin: str):
    """The decoded frames ``indices`` (sorted) of a multi-frame file, one (rows, cols[, 3]) array each.

    pydicom 3: ``pydicom.pixels.iter_pixels`` (only those frames decoded). pydicom 2: the whole
    ``pixel_array`` once, YBR converted to RGB as pydicom 3's default ``as_rgb`` does.
    """
    if _PYDICOM3:
        yield from pydicom.pixels.iter_pixels(path, indices=indices, decoding_plugin=plugin)
        return
    from pydicom.pixel_data_handlers.util import convert_color_space

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if int(ds.get("NumberOfFrames") or 1) == 1:
        arr = arr[None]
    photometric = str(ds.get("PhotometricInterpretation", ""))
    # pydicom 2's handlers (Pillow, pylibjpeg) leave YBR_FULL(_422) as decoded: convert as pydicom 3 does
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        arr = convert_color_space(arr, photometric, "RGB", per_frame=True)
    for i in indices:
        yield arr[i]
