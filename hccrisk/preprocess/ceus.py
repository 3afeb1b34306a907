"""CEUS clips -> one 2 frames/s timeline from the injection, split into phases, written as ceus.npz/json.

The timeline (docs/architecture.md, "Ingested layout"): samples at t = 0, 0.5, 1.0, ... s after the
injection up to the last stored frame. Each sample takes the nearest stored frame in time (no blending,
so every sample is a real frame and ``source_sop``/``source_frame`` name it); a sample farther than half
a frame interval from every clip lies in a gap and stays invalid (zeros, ``valid`` False). Only the
frames the samples need are decoded.

Injection time (t = 0), in order: the user's ``--injection-time``; Contrast Bolus Start Time
(0018,1042); the first frame of the first clip.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import numpy as np

from hccrisk.dicom.us import Clip, UltrasoundRegion, decode_regions, image_regions, read_clip
from hccrisk.errors import InputError, MissingDataError

FPS = 2.0
# (name, start exclusive except arterial, end inclusive) in s after injection.
PHASES: tuple[tuple[str, float, float], ...] = (("arterial", 0.0, 30.0), ("portal", 30.0, 120.0),
                                                ("late", 120.0, 360.0))
MAX_DROPOUT = 4.0  # frames further apart than this many median intervals leave a gap between them
_SPACING_RTOL = 1e-3
_MAX_INJECTION_OFFSET_S = 3600.0  # an injection an hour from the first frame is a wrong time or date
_RISE_WINDOW_S = 60.0  # the region-choice rule looks at the first minute
_NO_DATE = datetime(1900, 1, 1)  # stands in for the start of a single clip without acquisition time


@dataclass(frozen=True)
class Injection:
    """A user-given injection time: a clock time (same day as the first clip) or an offset.

    ``offset_s`` is seconds after the first frame of the first clip (negative: before it).
    """

    clock: time | None = None
    offset_s: float | None = None

    def describe(self) -> str:
        return f"clock time {self.clock}" if self.clock is not None else f"{self.offset_s:+g} s from the first frame"


def parse_injection(text: str) -> Injection:
    """Parse ``--injection-time``: ``HH:MM:SS[.f]``, DICOM TM ``HHMMSS[.f]``, or ``[+-]SECONDSs``."""
    text = text.strip()
    m = re.fullmatch(r"([+-]?\d+(?:\.\d*)?)\s*s", text)
    if m:
        return Injection(offset_s=float(m.group(1)))
    m = re.fullmatch(r"(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)", text) or \
        re.fullmatch(r"(\d{2})(\d{2})(\d{2}(?:\.\d+)?)", text)
    if m:
        h, mi, s = int(m.group(1)), int(m.group(2)), float(m.group(3))
        if h < 24 and mi < 60 and s < 60:
            return Injection(clock=time(h, mi, int(s), int(round((s % 1) * 1e6)) % 1000000))
    raise InputError("--injection-time", f"'{text}' is neither a clock time (HH:MM:SS[.f] or HHMMSS[.f]) "
                                         "nor an offset in seconds such as -4.5s")


def read_injection_table(path: Path | str) -> dict[str, Injection]:
    """Per-patient injection times from a CSV with columns ``patient_id`` and ``injection_time``
    (each value as :func:`parse_injection` reads it; an empty cell means "not given")."""
    import csv

    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(path, f"cannot read the injection-time table ({exc.strerror})") from None
    if not rows or not {"patient_id", "injection_time"} <= set(rows[0]):
        raise InputError(path, "an injection-time table needs the columns patient_id, injection_time")
    table = {}
    for line, row in enumerate(rows, start=2):
        value = (row["injection_time"] or "").strip()
        if value:
            try:
                table[row["patient_id"].strip()] = parse_injection(value)
            except InputError as exc:
                raise InputError(f"{path} line {line}", exc.problem) from None
    return table


@dataclass
class Timeline:
    """The 2 fps samples and the stored frame each one takes (clip -1 / frame -1 in gaps)."""

    times: np.ndarray  # (T,) s after injection
    clip: np.ndarray  # (T,) int index into the clip list
    frame: np.ndarray  # (T,) int frame index within that clip

    @property
    def valid(self) -> np.ndarray:
        return self.clip >= 0

    @property
    def phase(self) -> np.ndarray:
        return phase_of(self.times)

    def gaps(self) -> list[tuple[float, float]]:
        """(first, last) sample time of every run of invalid samples."""
        invalid = np.concatenate([[False], ~self.valid, [False]]).astype(np.int8)
        starts = np.flatnonzero(np.diff(invalid) == 1)
        ends = np.flatnonzero(np.diff(invalid) == -1) - 1
        return [(float(self.times[a]), float(self.times[b])) for a, b in zip(starts, ends)]


def phase_of(times: np.ndarray) -> np.ndarray:
    """Phase code per time (s): 0 arterial [0, 30], 1 portal (30, 120], 2 late (120, 360], -1 outside."""
    times = np.asarray(times, dtype=float)
    out = np.full(times.shape, -1, dtype=np.int8)
    for code, (_, lo, hi) in enumerate(PHASES):
        inside = (times >= lo) & (times <= hi) if code == 0 else (times > lo) & (times <= hi)
        out[inside] = code
    return out


def build_timeline(frame_times: list[np.ndarray], fps: float = FPS) -> Timeline:
    """Sample times 0, 1/fps, ... and the nearest frame of any clip covering each.

    ``frame_times[c]`` holds clip c's frame times in s after injection (increasing). With dt the
    clip's median frame interval, a clip covers a sample within dt/2 before its first or after its
    last frame, and between two frames unless they are more than :data:`MAX_DROPOUT` x dt apart (a
    dropout inside the clip is a gap too). Where clips overlap, the nearest frame wins.
    Raises MissingDataError when no frame lies at or after the injection.
    """
    t_end = max(float(t[-1]) for t in frame_times)
    if t_end < 0:
        raise MissingDataError("CEUS", f"every frame precedes the injection (last at {t_end:.1f} s)")
    n = int(np.floor(t_end * fps + 1e-6)) + 1
    times = np.arange(n) / fps
    best = np.full(n, np.inf)
    clip = np.full(n, -1, dtype=np.int64)
    frame = np.full(n, -1, dtype=np.int64)
    for c, ft in enumerate(frame_times):
        dt = float(np.median(np.diff(ft))) if len(ft) > 1 else 1.0 / fps
        right = np.clip(np.searchsorted(ft, times), 0, len(ft) - 1)  # first frame >= t (or last)
        left = np.clip(right - 1, 0, len(ft) - 1)
        nearest = np.where(np.abs(ft[left] - times) <= np.abs(ft[right] - times), left, right)
        dist = np.abs(ft[nearest] - times)
        outside = (times < ft[0]) | (times > ft[-1])
        covered = np.where(outside, dist <= dt / 2 + 1e-6,
                           (ft[right] - ft[left]) <= MAX_DROPOUT * dt + 1e-6)
        take = covered & (dist < best)
        best[take], clip[take], frame[take] = dist[take], c, nearest[take]
    return Timeline(times, clip, frame)


def injection_time(clips: list[Clip], given: Injection | None,
                   bolus_start: datetime | None = None) -> tuple[datetime | None, str]:
    """t = 0 as an absolute time (None: the first frame of a clip without time) and its source."""
    first = clips[0]
    if given is not None:
        if given.offset_s is not None:
            base = first.start or _NO_DATE
            return base + timedelta(seconds=given.offset_s), f"--injection-time ({given.describe()})"
        if first.start is None:
            raise MissingDataError(first.path, "--injection-time is a clock time but the clip has no "
                                               "acquisition time to place it against")
        t0 = datetime.combine(first.start.date(), given.clock)
        return _checked(t0, first), f"--injection-time ({given.describe()})"
    if bolus_start is not None and first.start is not None:
        return _checked(bolus_start, first), "ContrastBolusStartTime (0018,1042)"
    return first.start, "first frame of the first clip"


def _checked(t0: datetime, first: Clip) -> datetime:
    gap = (first.start - t0).total_seconds()
    if abs(gap) > _MAX_INJECTION_OFFSET_S:
        raise InputError(first.path, f"injection time {t0.time()} is {gap:+.0f} s from the first frame "
                                     f"({first.start.time()}): wrong time or date?")
    return t0


def check_geometry(clips: list[Clip]) -> list[list[UltrasoundRegion]]:
    """The image regions of every clip, checked to match the first clip's in number, size, spacing."""
    per_clip = [image_regions(c) for c in clips]
    ref = per_clip[0]
    if not ref:
        raise MissingDataError(clips[0].path, "no 2D image region with a physical size in cm in the "
                                              "Sequence of Ultrasound Regions: pixel size unknown")
    for clip, regions in zip(clips[1:], per_clip[1:]):
        same = len(regions) == len(ref) and all(
            (a.width, a.height) == (b.width, b.height)
            and np.allclose(a.spacing_mm, b.spacing_mm, rtol=_SPACING_RTOL) for a, b in zip(ref, regions))
        if not same:
            raise InputError(clip.path, "inconsistent geometry: ultrasound regions "
                                        f"{_describe(regions)} differ from the first clip's {_describe(ref)}")
    return per_clip


def _describe(regions: list[UltrasoundRegion]) -> str:
    return "[" + "; ".join(f"{r.width}x{r.height} px at ({r.x0},{r.y0}), {r.spacing_mm[0]:.4g}x"
                           f"{r.spacing_mm[1]:.4g} mm" for r in regions) + "]"


def choose_contrast_region(regions: list[UltrasoundRegion], stacks: list[np.ndarray], times: np.ndarray,
                           valid: np.ndarray, rule: str = "auto") -> tuple[int, str, list[float]]:
    """Position (in ``regions``) of the contrast-mode region, the reason, and each region's rise.

    ``auto``: the region whose mean intensity rises most over the first minute (peak minus the first
    valid second): contrast mode starts dark and fills, B-mode stays. ``left``/``right``: by column.
    An integer: that item of the Sequence of Ultrasound Regions (0-based).
    """
    window = valid & (times <= _RISE_WINDOW_S)
    rises = []
    for stack in stacks:
        means = stack[window].reshape(int(window.sum()), -1).mean(axis=1) if window.any() else np.zeros(1)
        base = means[: max(1, int(FPS))].mean()
        rises.append(float(means.max() - base))
    if len(regions) == 1 and (not rule.isdigit() or int(rule) == regions[0].index):
        return 0, "the only image region", rises
    if rule == "auto":
        k = int(np.argmax(rises))
        return k, f"largest intensity rise over the first {_RISE_WINDOW_S:.0f} s ({rises[k]:.1f})", rises
    if rule in ("left", "right"):
        xs = [r.x0 for r in regions]
        k = int(np.argmin(xs) if rule == "left" else np.argmax(xs))
        return k, f"--contrast-region {rule}", rises
    try:
        wanted = int(rule)
    except ValueError:
        raise InputError("--contrast-region", f"'{rule}' is not auto, left, right or a region number") \
            from None
    for k, r in enumerate(regions):
        if r.index == wanted:
            return k, f"--contrast-region {wanted}", rises
    raise InputError("--contrast-region", f"region {wanted} is not an image region with a pixel size "
                                          f"(image regions: {[r.index for r in regions]})")


def ingest_ceus(clip_paths: list[Path], out_dir: Path, injection: Injection | None = None,
                contrast_region: str = "auto", bolus_start: datetime | None = None) -> dict:
    """Build the 2 fps timeline from the clips and write ``out_dir/ceus.npz`` and ``ceus.json``.

    ``bolus_start``: the headers' Contrast Bolus Start Time on the acquisition date, if any.
    Returns the summary written to ceus.json. Raises InputError / MissingDataError naming the file.
    """
    clips = [read_clip(p) for p in clip_paths]
    if len(clips) > 1:
        for c in clips:
            if c.start is None:
                raise MissingDataError(c.path, "no acquisition time (Acquisition DateTime, Acquisition "
                                               "or Content Time): the clips cannot be ordered in time")
        clips.sort(key=lambda c: c.start)
    t0, t0_source = injection_time(clips, injection, bolus_start)
    frame_times = [((c.start or _NO_DATE) - t0).total_seconds() + c.offsets_s if t0 is not None
                   else c.offsets_s for c in clips]
    per_clip = check_geometry(clips)
    timeline = build_timeline(frame_times)
    _check_phases(timeline, frame_times, clips)

    stacks = [np.zeros((len(timeline.times), r.height, r.width), dtype=np.uint8) for r in per_clip[0]]
    for c, clip in enumerate(clips):
        rows = np.flatnonzero(timeline.clip == c)
        if rows.size == 0:
            continue
        decode_regions(clip, timeline.frame[rows].tolist(), per_clip[c], out=stacks, out_rows=rows.tolist())
    k, reason, rises = choose_contrast_region(per_clip[0], stacks, timeline.times, timeline.valid,
                                              contrast_region)
    contrast = per_clip[0][k]
    others = [j for j in range(len(per_clip[0])) if j != k]
    bmode = min(others, key=lambda j: abs(per_clip[0][j].width * per_clip[0][j].height
                                          - contrast.width * contrast.height)) if others else None

    valid = timeline.valid
    arrays = {
        "contrast": stacks[k], "times": timeline.times.astype(np.float64), "valid": valid,
        "phase": timeline.phase, "source_sop": np.array([clips[c].sop_uid if c >= 0 else ""
                                                         for c in timeline.clip]),
        "source_frame": np.where(valid, timeline.frame, -1).astype(np.int64),
        "spacing_mm": np.asarray(contrast.spacing_mm, dtype=np.float64),
        "region_origin": np.array([contrast.x0, contrast.y0], dtype=np.int64),
    }
    if bmode is not None:
        arrays["bmode"] = stacks[bmode]
        arrays["bmode_region_origin"] = np.array([per_clip[0][bmode].x0, per_clip[0][bmode].y0],
                                                 dtype=np.int64)
    summary = {
        "fps": FPS, "n_samples": int(len(timeline.times)), "n_valid": int(valid.sum()),
        "injection": {"time": t0.isoformat() if t0 else None, "source": t0_source},
        "phases": {name: _coverage(timeline, code) for code, (name, _, _) in enumerate(PHASES)},
        "gaps_s": timeline.gaps(),
        "contrast_region": {"index": contrast.index, "rule": contrast_region, "reason": reason,
                            "rise_per_region": dict(zip([r.index for r in per_clip[0]], rises))},
        "bmode_region": per_clip[0][bmode].index if bmode is not None else None,
        "spacing_mm": list(contrast.spacing_mm),
        "clips": [{"sop_instance_uid": c.sop_uid, "path": str(c.path), "n_frames": c.n_frames,
                   "start_s": float(ft[0]), "end_s": float(ft[-1]),
                   "frame_rate_hz": 1.0 / c.frame_interval_s if c.frame_interval_s else None,
                   "timing_source": c.timing_source, "manufacturer": c.manufacturer,
                   "transfer_syntax": c.transfer_syntax, "photometric": c.photometric,
                   "frames_decoded": int(len(set(timeline.frame[timeline.clip == i].tolist()))),
                   "region_origins": {r.index: [r.x0, r.y0] for r in per_clip[i]}}
                  for i, (c, ft) in enumerate(zip(clips, frame_times))],
    }
    _write(out_dir, arrays, summary)
    return summary


def _coverage(timeline: Timeline, code: int) -> dict:
    inside = timeline.phase == code
    return {"samples": int(inside.sum()), "valid": int((inside & timeline.valid).sum())}


def _check_phases(timeline: Timeline, frame_times: list[np.ndarray], clips: list[Clip]) -> None:
    """Every phase needs at least one valid sample; a shorter cine is an error naming the gap."""
    missing = [name for code, (name, lo, hi) in enumerate(PHASES)
               if not np.any(timeline.valid & (timeline.phase == code))]
    if missing:
        lo = min(float(t[0]) for t in frame_times)
        hi = max(float(t[-1]) for t in frame_times)
        spans = ", ".join(f"{n} ({a:g}, {b:g}] s" for n, a, b in PHASES if n in missing)
        raise MissingDataError(clips[-1].path, f"cine shorter than the phases need: frames cover "
                                               f"{lo:.1f} to {hi:.1f} s after injection; no frame for {spans}")


def _write(out_dir: Path, arrays: dict, summary: dict) -> None:
    """Write ceus.npz and ceus.json atomically (a crash never leaves a half-written file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".ceus.tmp.npz"
    # Uncompressed: speckle compresses to only ~60% and zlib would cost more than the decoding.
    np.savez(tmp, **arrays)
    os.replace(tmp, out_dir / "ceus.npz")
    tmp_json = out_dir / ".ceus.tmp.json"
    tmp_json.write_text(json.dumps(summary, indent=2, default=str))
    os.replace(tmp_json, out_dir / "ceus.json")
