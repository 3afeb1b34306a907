"""The app's DICOMweb datastore: saved labels become DICOM objects in the PACS, one reading per observer.

MONAI Label's own DICOMweb datastore (monailabel 0.8.5) stores only the ``final`` label, always as a
dcmqi SEG, and treats every SEG in the PACS as the final label of the series it references. Here:

- observers: the label tag names the reader. ``final`` (or ``observer1``) is observer1, the primary
  reading that the train tasks learn from; ``observer2``, ``observer3``, ... are further readings for the
  inter-observer ICC, stored under their own tag locally and as their own series in the PACS. Each object's
  SeriesDescription says whose it is (``hccrisk.roi.io.observer_series_description``: "hccrisk observer2:
  tumour"); a SEG's ContentCreatorName is the observer too. Other tags (e.g. ``original``) stay local.
- CEUS (US) labels become a box SR (TID 1500, ``hccrisk.roi.sr.write_box_sr``): one planar ROI per frame
  with a box, on that frame of its clip, in stored-frame pixels; MR labels a SEG (dcmqi, as MONAI Label).
  A SEG over a US multi-frame is not made: the frames have no patient-space plane position, so dcmqi's
  volume-based conversion has no geometry to put them on.
- sync: only observer1's SEGs come down as final labels (training data); CEUS labels with an SR in the
  PACS stay valid locally.
- multi-clip US series: converted to one cine NIfTI by the app (``lib.images.write_clips_nifti``) before
  MONAI Label's own conversion, which fails on several multi-frame files.

Uses private attributes of monailabel 0.8.5's DICOMWebDatastore (``_client``, ``_datastore``,
``_fetch_by_frame``): re-check on a MONAI Label upgrade.
"""

from __future__ import annotations

import logging
import os
import pathlib
import tempfile
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from monailabel.datastore.dicom import DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.datastore.utils.convert import binary_to_image, nifti_to_dicom_seg
from monailabel.datastore.utils.dicom import dicom_web_download_series, dicom_web_upload_dcm
from monailabel.interfaces.datastore import DefaultLabelTag
from pydicom.dataset import Dataset

from hccrisk.errors import InputError
from hccrisk.roi.io import OBSERVER_TAG, observer_of, observer_series_description
from hccrisk.roi.sr import write_box_sr
from hccrisk.roi.cine_volume import cine_frame_index, volume_series_uid
from lib.ceus import boxes_from_mask, cine_from_stored_frames
from lib.cine_volumes import volume_sources, write_volume_nifti
from lib.images import read_image, us_clips, us_geometry, write_clips_nifti

logger = logging.getLogger(__name__)
PRIMARY = "observer1"  #: the reading saved as MONAI Label's final label


def observer_for_tag(tag: str) -> str | None:
    """The observer a label tag stands for (``final`` -> observer1), or None for a local-only tag."""
    tag = str(tag or DefaultLabelTag.FINAL.value)
    if tag == DefaultLabelTag.FINAL.value:
        return PRIMARY
    return tag if OBSERVER_TAG.match(tag) else None


class ObserverDICOMWebDatastore(DICOMWebDatastore):
    """MONAI Label's DICOMweb datastore with hccrisk's save and sync rules (module docstring)."""

    def get_image_uri(self, image_id: str) -> str:
        folder = os.path.realpath(os.path.join(self._datastore.image_path(), image_id))
        if self._convert_to_nifti and not os.path.exists(folder + ".nii.gz"):
            if not os.path.isdir(folder) or not os.listdir(folder):
                dicom_web_download_series(None, image_id, folder, self._client, self._fetch_by_frame)
            cine = tempfile.NamedTemporaryFile(suffix=".nii.gz", delete=False).name
            # a multi-clip US series or a CEUS cine volume (False otherwise: MONAI Label converts it)
            if write_clips_nifti(folder, cine) or write_volume_nifti(folder, cine):
                LocalDatastore.add_image(self, image_id, cine, self._dicom_info(image_id))  # copies it in
            os.unlink(cine)
        return super().get_image_uri(image_id)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any],
                   label_id: str = "") -> str:
        observer = observer_for_tag(label_tag)
        if observer is None:
            return LocalDatastore.save_label(self, image_id, label_filename, label_tag, label_info)
        image_uri = self.get_image_uri(image_id)
        converted = ""
        if "".join(pathlib.Path(label_filename).suffixes) == ".bin":  # OHIF sends a raw binary label
            converted = label_filename = binary_to_image(image_uri, label_filename)
        info = self._dicom_info(image_id)
        image_dir = os.path.realpath(os.path.join(self._datastore.image_path(), image_id))
        if info.get("Modality") == "US":
            margin = label_info.get("margin_mm", 5.0)
            cine_uri, cine_label = self._on_cine(image_uri, label_filename)
            dcm = ceus_label_sr(cine_uri, cine_label, observer, None if margin is None else float(margin))
            if cine_label != label_filename:
                os.unlink(cine_label)
        else:
            dcm = nifti_to_dicom_seg(image_dir, label_filename, label_info.get("label_info"))
            if not dcm:
                raise InputError(label_filename, "the label is empty: nothing to store")
            _mark_seg(dcm, observer, label_info.get("label_info"))
        series_uid = dicom_web_upload_dcm(dcm, self._client)
        os.unlink(dcm)
        label_info.update({"SeriesInstanceUID": series_uid, "Modality": info.get("Modality"), "observer": observer,
                           "PatientID": info.get("PatientID"), "StudyInstanceUID": info.get("StudyInstanceUID")})
        tag = DefaultLabelTag.FINAL.value if observer == PRIMARY else observer
        saved = LocalDatastore.save_label(self, image_id, label_filename, tag, label_info)
        logger.info("label of %s by %s stored in the PACS as series %s", image_id, observer, series_uid)
        if converted:
            os.unlink(converted)
        return saved

    def _on_cine(self, image_uri: str, label_path: str) -> tuple[str, str]:
        """A label saved on a CEUS cine volume, put back on its cine: (the cine's image, a label file the
        cine's size, frames not in the volume empty); a label on the cine itself is returned as is."""
        sources = volume_sources(image_uri)
        if sources is None:
            return image_uri, label_path
        cine_uri = self.get_image_uri(sources.source_series_uid)
        clips = us_clips(str(cine_uri).removesuffix(".nii.gz"))
        _, _, starts = us_geometry(cine_uri)
        index = cine_frame_index(sources, [str(ds.SOPInstanceUID) for _, ds in clips], starts)
        cine = read_image(cine_uri)
        label = sitk.GetArrayFromImage(read_image(label_path))
        if len(label) != len(index):
            raise InputError(label_path, f"the label has {len(label)} frames, the cine volume {len(index)}")
        full = np.zeros((cine.GetSize()[2], *label.shape[1:]), np.uint8)
        full[index] = label > 0
        out = tempfile.NamedTemporaryFile(suffix=".nii.gz", delete=False).name
        sitk.WriteImage(sitk.GetImageFromArray(full), out)
        return cine_uri, out

    # --- sync: observer1's SEGs are the final labels ------------------------------------------------

    def _primary_labels(self) -> tuple[list[dict[str, str]], set[str]]:
        """observer1's (or another tool's) SEGs as [{"image", "label"}] for listed images, and the images
        that have an observer1 CEUS box SR."""
        listed = set(self.list_images())
        segs, with_sr = [], set()
        for modality in ("SEG", "SR"):
            for item in self._client.search_for_series(search_filters={"Modality": modality}):
                series = Dataset.from_json(item)
                if observer_of(str(series.get("SeriesDescription", ""))) not in (None, PRIMARY):
                    continue  # another observer's reading: kept apart
                if modality == "SR" and observer_of(str(series.get("SeriesDescription", ""))) is None:
                    continue  # not an hccrisk box SR
                meta = Dataset.from_json(self._client.retrieve_series_metadata(
                    str(series.StudyInstanceUID), str(series.SeriesInstanceUID))[0])
                image = _referenced_series(meta)
                if modality == "SR":
                    with_sr.add(image or "")
                elif image in listed:
                    segs.append({"image": image, "label": str(series.SeriesInstanceUID)})
        return segs, with_sr

    def get_labeled_images(self, label_tag: str | None = None, labels: list[str] | None = None) -> list[str]:
        segs, _ = self._primary_labels()
        return [s["image"] for s in segs]

    def _download_labeled_data(self) -> None:
        segs, with_sr = self._primary_labels()
        # a label saved on a cine's volume is stored as the cine's SR: keep the volume's local label too
        valid = {s["image"] for s in segs} | with_sr | {volume_series_uid(uid) for uid in with_sr}
        for image in set(LocalDatastore.get_labeled_images(self)) - valid:
            logger.info("final label of %s no longer in the PACS: removed locally", image)
            uri = LocalDatastore.get_label_uri(self, image, DefaultLabelTag.FINAL)
            if uri and os.path.exists(uri):
                os.unlink(uri)
        for s in segs:
            self.get_image_uri(s["image"])
            self.get_label_uri(label_id=s["label"], label_tag=DefaultLabelTag.FINAL, image_id=s["image"])


def _referenced_series(meta: Dataset) -> str | None:
    """The image series a SEG (ReferencedSeriesSequence) or an SR (evidence) refers to."""
    if meta.get("ReferencedSeriesSequence"):
        return str(meta.ReferencedSeriesSequence[0].SeriesInstanceUID)
    for seq in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in meta.get(seq, []):
            for series in study.get("ReferencedSeriesSequence", []):
                return str(series.SeriesInstanceUID)
    return None


def _mark_seg(path: str, observer: str, label_info: list[dict] | None) -> None:
    """Name the observer in a dcmqi SEG: SeriesDescription and ContentCreatorName."""
    names = ", ".join(str(i.get("name", "")) for i in (label_info or []) if i.get("name")) or "segmentation"
    ds = pydicom.dcmread(path)
    ds.SeriesDescription = observer_series_description(observer, names)
    ds.ContentCreatorName = observer
    ds.save_as(path)


def ceus_label_sr(image_uri: str, label_path: str, observer: str, margin_mm: float | None) -> str:
    """A saved CEUS label (the cine's size, 1 inside the ROI box) as a box SR over its clips; returns
    the SR's path (a temporary file). Each frame's box is the label's bounding box inside the contrast
    region (stored-frame pixels); frames without label get no box. ``margin_mm``: the margin the
    label's boxes include (recorded in the SR; the ``ceus_box`` infer's ``margin_mm``)."""
    geometry = us_geometry(image_uri)
    if geometry is None:
        raise InputError(image_uri, "a US label needs the cached DICOM clips of its series (US regions)")
    regions, times, clip_starts = geometry
    clips = us_clips(str(image_uri).removesuffix(".nii.gz"))
    frames = sitk.GetArrayFromImage(read_image(image_uri))
    frames = frames[..., :3].mean(axis=-1) if frames.ndim == 4 else frames
    label = sitk.GetArrayFromImage(read_image(label_path))
    if label.shape != frames.shape:
        raise InputError(label_path, f"the label is {label.shape}, the cine {frames.shape} (frames, rows, columns)")
    _, contrast, _ = cine_from_stored_frames(frames, regions, times, name=image_uri, clip_starts=clip_starts)
    boxes = []
    for frame, box in boxes_from_mask(label, contrast):
        k = int(np.searchsorted(clip_starts, frame, side="right")) - 1  # the clip holding this frame
        boxes.append((box.__class__(box.x0, box.y0, box.x1, box.y1, frame - int(clip_starts[k])), clips[k][0]))
    if not boxes:
        raise InputError(label_path, "the label marks no box in the contrast region: nothing to store")
    out = tempfile.NamedTemporaryFile(suffix=".dcm", delete=False).name
    return str(write_box_sr(boxes, out, margin_mm=margin_mm, observer="hccrisk MONAI Label", person=observer,
                            series_description=observer_series_description(observer, "CEUS tumour box")))
