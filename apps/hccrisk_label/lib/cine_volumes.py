"""CEUS cines as pseudo-volumes in the PACS, so that OHIF's MONAI Label mode (an MPR hanging protocol, a
panel that needs a volume) can show a cine and run ``ceus_box`` on it (``hccrisk.roi.cine_volume``).

- ``publish_cine_volumes``: for every US cine series in the PACS without one, write its pseudo-volume (the
  stored frames at 2 fps, gray; one image per frame) and store it (STOW-RS) as a derived series of the
  same study. The app runs
  it at start-up in the background (conf ``cine_volumes``, default true).
- ``write_volume_nifti`` / ``volume_sources``: the label server's side: the volume's image for MONAI Label,
  and which cine frame each of its frames is.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset

from hccrisk.roi.cine_volume import (SERIES_DESCRIPTION, CineVolumeSources, is_cine_volume, read_cine_volume,
                                     sample_frames, volume_series_uid, write_cine_volume)
from lib.images import us_clips, us_geometry

logger = logging.getLogger(__name__)


def cine_volume_files(folder: str | Path) -> list[Path]:
    """The pseudo-volume images of a cached series folder (or of the ``.nii.gz`` beside it); [] when the
    folder holds anything else."""
    folder = Path(str(folder).removesuffix(".nii.gz"))
    files = sorted(folder.glob("*")) if folder.is_dir() else []
    try:
        if files and is_cine_volume(pydicom.dcmread(files[0], stop_before_pixels=True)):
            return files
    except Exception:  # not DICOM: not a volume
        pass
    return []


def volume_sources(image_path: str | Path) -> CineVolumeSources | None:
    """The source frames of the pseudo-volume behind a converted image, or None when it is not one."""
    files = cine_volume_files(image_path)
    return read_cine_volume(files) if files else None


def write_volume_nifti(folder: str | Path, out: str | Path) -> bool:
    """Write a cached pseudo-volume series as a NIfTI on the volume's grid (x = column, y = row, z = frame in
    Instance Number order; spacing from Pixel Spacing and the positions). Returns False (writing nothing) when
    the folder holds no volume."""
    files = cine_volume_files(folder)
    if not files:
        return False
    images = sorted((pydicom.dcmread(f) for f in files), key=lambda d: int(d.InstanceNumber))
    image = sitk.GetImageFromArray(np.stack([d.pixel_array for d in images]).astype(np.uint8))
    sy, sx = (float(v) for v in images[0].PixelSpacing)
    dz = float(images[1].ImagePositionPatient[2]) - float(images[0].ImagePositionPatient[2])
    image.SetSpacing((sx, sy, dz))
    sitk.WriteImage(image, str(out), useCompression=True)
    return True


def _cine_frames(folder: Path) -> tuple[np.ndarray, list[tuple[Dataset, int]], np.ndarray, list]:
    """Every stored frame of a cached US series in gray (T, rows, columns) uint8, each frame's (clip header,
    frame), (T,) times in s from the first frame, and those times split by clip."""
    clips = us_clips(folder)
    regions, times, starts = us_geometry(folder)
    arrays, sources = [], []
    for path, ds in clips:
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        a = a[None] if a.ndim == 2 else a
        arrays.append(np.round(a[..., :3].mean(axis=-1)).astype(np.uint8) if a.ndim == 4 else a.astype(np.uint8))
        sources += [(ds, f) for f in range(len(arrays[-1]))]
    return np.concatenate(arrays), sources, times, [times[s:e] for s, e in zip(starts, list(starts[1:]) + [len(times)])]


def write_series_volume(folder: str | Path, out_dir: str | Path, series_uid: str) -> list[Path]:
    """Write the pseudo-volume of the cached US series in ``folder`` into ``out_dir`` (one file per frame);
    [] when the folder holds no cine."""
    folder = Path(folder)
    if not us_clips(folder):
        return []
    frames, sources, _, per_clip = _cine_frames(folder)
    spacing = next(r.spacing_mm for r in us_geometry(folder)[0] if r.spacing_mm is not None)
    take = sample_frames(per_clip)
    return write_cine_volume(frames[take], [sources[i] for i in take], spacing, out_dir,
                             series_instance_uid=series_uid)


def publish_cine_volumes(client, study_uid: str | None = None) -> list[str]:
    """Store a pseudo-volume for every US cine series of the PACS (or of one study) that has none yet.

    client: a ``dicomweb_client.DICOMwebClient`` on the PACS. Returns the series UIDs stored. A series that
    cannot be made into a volume is logged and skipped (the others go on).
    """
    from monailabel.datastore.utils.dicom import dicom_web_download_series

    filters = {"Modality": "US", **({"StudyInstanceUID": study_uid} if study_uid else {})}
    series = [Dataset.from_json(s) for s in client.search_for_series(search_filters=filters, get_remaining=True)]
    present = {str(s.SeriesInstanceUID) for s in series}
    stored = []
    for s in series:
        if str(s.get("SeriesDescription", "")) == SERIES_DESCRIPTION:
            continue
        uid = volume_series_uid(str(s.SeriesInstanceUID))
        if uid in present:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                folder = os.path.join(tmp, "series")
                dicom_web_download_series(str(s.StudyInstanceUID), str(s.SeriesInstanceUID), folder, client)
                paths = write_series_volume(folder, os.path.join(tmp, "volume"), uid)
                for i in range(0, len(paths), 100):  # STOW-RS in parts: one request per 100 images
                    client.store_instances([pydicom.dcmread(p) for p in paths[i:i + 100]])
            except Exception as exc:  # a bad series must not stop the others, nor the server
                logger.warning("no CEUS cine volume for series %s: %s", s.SeriesInstanceUID, exc)
                continue
            if not paths:
                continue
            stored.append(uid)
            logger.info("CEUS cine volume %s stored for series %s", uid, s.SeriesInstanceUID)
    return stored


if __name__ == "__main__":  # by hand, for studies stored after the server started (from apps/hccrisk_label):
    # ../../.venv-label/bin/python -m lib.cine_volumes http://127.0.0.1:8042/dicom-web [STUDY_UID]
    import sys

    from dicomweb_client.api import DICOMwebClient

    logging.basicConfig(level=logging.INFO)
    print("\n".join(publish_cine_volumes(DICOMwebClient(sys.argv[1]), *sys.argv[2:3])))
