"""The MRI path of the app without the SDK (what ``operators.mri``'s operators run; importable and testable
where the MONAI Deploy SDK is not installed): the study's contrast phases and the radiologist's tumour VOI
(a DICOM SEG, as the MONAI Label app stores it), the ingested volumes, the zhao2024 multi-phase ResNet of
``bundles/resnet_zhao2024`` on the 3 max-area slices x AP, PVP, DP, and Grad-CAM of the key slices.

Every step is the library's: ``hccrisk.dicom.select.select_mri`` (phases), ``hccrisk.preprocess.mri.ingest_mri``
(1 mm, N4, z-score, registration to AP), ``hccrisk.roi.io.write_observer_rois`` (SEG -> the cohort's ROI
layout, as ``hccrisk ingest`` does), ``hccrisk.roi.mri`` (VOI on the ingested grid, largest nodule,
``tumour_slices``), the bundle's ``network_def`` and ``models/model.pt``, ``hccrisk.nets.cam.grad_cam``.
So the imaging signature is the research path's prediction for that patient (``hccrisk ingest`` + the
bundle's inference.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
import torch
from scipy import ndimage

from hccrisk.dicom.scan import Series
from hccrisk.dicom.select import select_mri
from hccrisk.errors import HccriskError, InputError
from hccrisk.roi.io import observer_of

PRIMARY_OBSERVER = "observer1"  #: the reading the models use (docs/architecture.md, labels in the PACS)
#: The MRI bundle the app uses unless ``HCCRISK_MRI_BUNDLE`` names another: zhao2024's multi-phase ResNet.
DEFAULT_MRI_BUNDLE = Path(__file__).resolve().parent.parent / "bundles" / "resnet_zhao2024"
DISPLAY_SIDE = 256  #: the heatmap SCs are resampled to at least this many pixels a side (viewers show them small)


class MissingMriBundleError(HccriskError):
    """The MRI model bundle (or its weights) the app needs is not there."""


@dataclass
class MriSelection:
    """What the app reads of an MRI study: phase -> DICOM files of its selected series (the bundle's
    phases), the tumour VOI's SEG, the phase whose series the SEG segments, and the patient."""

    patient_id: str
    accession: str
    phase_files: dict[str, list[Path]]
    seg_file: Path
    seg_series: Series
    seg_phase: str
    phase_series: dict[str, Series] = field(default_factory=dict)

    @property
    def sources(self) -> list[Path]:
        """Every source image the model read (the SR references them)."""
        return [f for files in self.phase_files.values() for f in files]


# --- the bundle ---------------------------------------------------------------------------------------

def bundle_kind(bundle: Path) -> str:
    """"mri" for a bundle whose input is MR (its metadata's ``network_data_format``), else "ceus"."""
    try:
        meta = json.loads((Path(bundle) / "configs" / "metadata.json").read_text())
        modality = meta["network_data_format"]["inputs"]["image"].get("modality", "")
    except (OSError, ValueError, KeyError, TypeError):
        return "ceus"  # the CEUS checks name what is missing
    return "mri" if str(modality).upper() == "MR" else "ceus"


def check_mri_bundle(bundle: Path) -> None:
    """Raise :class:`MissingMriBundleError` naming ``models/model.pt`` when the MRI bundle has no weights,
    so the app fails before it ingests a study."""
    weights = Path(bundle) / "models" / "model.pt"
    if not (Path(bundle) / "configs" / "inference.json").is_file():
        raise MissingMriBundleError(f"{Path(bundle) / 'configs' / 'inference.json'}: not an MRI model bundle "
                                    f"(no inference config); point HCCRISK_MRI_BUNDLE at bundles/resnet_zhao2024")
    if not weights.is_file():
        raise MissingMriBundleError(
            f"{weights}: the MRI model bundle has no weights, so inference cannot run and no SR is written. "
            f"Train it (`hccrisk train resnet --out {Path(bundle) / 'models'}`) or point HCCRISK_MRI_BUNDLE "
            f"at a bundle folder with models/model.pt.")


@dataclass(frozen=True)
class MriBundle:
    """The bundle's inference settings (configs/inference.json, metadata.json)."""

    folder: Path
    phases: tuple[str, ...]
    size: int
    version: str


def read_mri_bundle(bundle: Path) -> MriBundle:
    check_mri_bundle(bundle)
    config = json.loads((Path(bundle) / "configs" / "inference.json").read_text())
    meta = json.loads((Path(bundle) / "configs" / "metadata.json").read_text())
    return MriBundle(Path(bundle), tuple(config.get("phases", ("AP", "PVP", "DP"))), int(config.get("size", 32)),
                     str(meta["version"]))


@lru_cache(maxsize=2)
def load_mri_network(bundle: str, mtime_ns: int, device: str = "cpu") -> torch.nn.Module:
    """The bundle's ``network_def`` (configs/inference.json, MONAI's ConfigParser) with ``models/model.pt``,
    eval mode, kept loaded across studies (a new weights file reloads). DLRCR bundles (a tabular input)
    are refused: the app has no Rad score to give them."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(Path(bundle) / "configs" / "inference.json"))
    parser["bundle_root"] = bundle
    net = parser.get_parsed_content("network_def")
    if not hasattr(net, "phase_nets"):
        raise InputError(bundle, f"the bundle's network is a {type(net).__name__}; the app's MRI path serves "
                                 "zhao2024's multi-phase ResNet (bundles/resnet_zhao2024)")
    if getattr(net, "tabular", 0):
        raise InputError(bundle, "a DLRCR bundle needs the Rad score and CR predictors as a second input; the "
                                 "app serves the image-only multi-phase ResNet (bundles/resnet_zhao2024)")
    weights = Path(bundle) / "models" / "model.pt"
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise InputError(weights, f"cannot load the weights into the bundle's network: {exc}") from None
    return net.to(device).eval()


# --- selection ----------------------------------------------------------------------------------------

def select_mri_study(series: list[Series], phases: tuple[str, ...]) -> MriSelection:
    """The bundle's ``phases`` among the study's MR series (``select_mri``) and observer1's tumour SEG.

    Raises InputError naming the missing phase (with what was found) or the missing SEG."""
    where = series[0].instances[0].path.parent
    chosen, decisions = select_mri(series)
    missing = [p for p in phases if p not in chosen]
    if missing:
        found = "; ".join(f"'{d.series.description}': {d.reason}" for d in decisions) or "no MR series"
        raise InputError(where, f"missing MRI phase {', '.join(missing)}: no MR series of the study was selected as "
                                f"{' or '.join(missing)} (the model reads {', '.join(phases)}). Series found: {found}")
    phase_of = {chosen[p].series_uid: p for p in phases}
    segs = []
    for s in series:
        if s.modality != "SEG":
            continue
        for inst in s.instances:
            ref = pydicom.dcmread(inst.path, stop_before_pixels=True)
            source = str(ref.ReferencedSeriesSequence[0].SeriesInstanceUID) if "ReferencedSeriesSequence" in ref else ""
            segs.append((observer_of(s.description), phase_of.get(source), s, inst.path))
    usable = [x for x in segs if x[0] == PRIMARY_OBSERVER and x[1] is not None]
    if not usable:
        seen = ", ".join(f"'{s.description}'" + ("" if ph else " (not on a selected phase)")
                         for _, ph, s, _ in segs) or "none"
        raise InputError(where, f"no tumour VOI: the study has no DICOM SEG of {PRIMARY_OBSERVER} (SeriesDescription "
                                f"'hccrisk {PRIMARY_OBSERVER}: ...', as the MONAI Label app stores it) on its "
                                f"{'/'.join(phases)} series; SEGs found: {seen}")
    usable.sort(key=lambda x: phases.index(x[1]))  # the AP VOI first: the one the model was trained with
    _, seg_phase, seg_series, seg_file = usable[0]
    files = {p: [i.path for i in chosen[p].instances] for p in phases}
    accession = str(pydicom.dcmread(files[phases[0]][0], stop_before_pixels=True, specific_tags=["AccessionNumber"])
                    .get("AccessionNumber", "") or "")
    return MriSelection(series[0].patient_id, accession, files, Path(seg_file), seg_series, seg_phase,
                        {p: chosen[p] for p in phases})


# --- volumes and VOI ----------------------------------------------------------------------------------

def ingest_study(selection: MriSelection, patient_dir: Path) -> sitk.Image:
    """Ingest the phases into ``patient_dir/mri`` (``ingest_mri``, as ``hccrisk ingest``) and read the
    SEG into ``patient_dir/rois/observer1`` (``write_observer_rois``); returns the tumour VOI's largest
    nodule on the ingested grid (UInt8 0/1)."""
    from hccrisk.preprocess.mri import ingest_mri
    from hccrisk.roi.io import write_observer_rois
    from hccrisk.roi.mri import largest_component, mask_to_ingested, read_mask

    summary = ingest_mri(selection.phase_files, patient_dir)
    for phase in selection.phase_files:
        record = summary["phases"].get(phase, {})
        if record.get("status") != "ok":
            raise InputError(f"MRI {phase} series ({selection.phase_series[phase].description!r})",
                             f"not ingested: {record.get('problem', record.get('status'))}")
    written = write_observer_rois([selection.seg_series], patient_dir, selection.phase_series)
    tumours = sorted(p for p in written if p.name.startswith(f"mri_{selection.seg_phase}_tumour"))
    if not tumours:
        names = ", ".join(p.name for p in written) or "none"
        raise InputError(selection.seg_file, f"the SEG has no segment labelled 'tumour' (files made: {names})")
    mask = read_mask(tumours[0])
    for more in tumours[1:]:  # "tumour 1", "tumour 2": every nodule; the largest is used
        mask = sitk.Maximum(mask, read_mask(more))
    return largest_component(mask_to_ingested(mask, selection.seg_phase, patient_dir))


def network_input(patient_dir: Path, tumour: sitk.Image, bundle: MriBundle) -> tuple[np.ndarray, dict]:
    """zhao2024's input, exactly ``hccrisk.nets.resnet_train.case_input``: (P * 3, size, size) float32 and
    ``tumour_slices``' info (slices, crop) for the heatmaps."""
    from hccrisk.roi.mri import ingested_volumes, tumour_slices

    arr, info = tumour_slices(ingested_volumes(patient_dir, bundle.phases), tumour, size=bundle.size)
    return arr.reshape((-1, bundle.size, bundle.size)), info


def imaging_signature(net: torch.nn.Module, x: np.ndarray, device: str = "cpu") -> float:
    """Probability of class 1 (early recurrence) for one input (C, H, W)."""
    with torch.no_grad():
        return float(torch.softmax(net(torch.as_tensor(x[None], device=device)), 1)[0, 1])


def cam_layer(net: torch.nn.Module, x: np.ndarray, phase: int = 0, min_side: int = 8) -> str:
    """The deepest ResNet block of ``phase``'s net whose maps are at least ``min_side`` pixels a side (at
    32 px input layer4 is 1 x 1: nothing to show)."""
    sides: dict[str, int] = {}
    hooks = [getattr(net.phase_nets[phase], name).register_forward_hook(
        lambda _m, _i, out, name=name: sides.__setitem__(name, int(out.shape[-1])))
        for name in ("layer1", "layer2", "layer3", "layer4")]
    try:
        with torch.no_grad():
            net(torch.as_tensor(x[None], device=next(net.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    fitting = [n for n in ("layer4", "layer3", "layer2", "layer1") if sides.get(n, 0) >= min_side]
    return f"phase_nets.{phase}.{fitting[0] if fitting else 'layer1'}"


def key_slice_heatmaps(net: torch.nn.Module, x: np.ndarray, patient_dir: Path, tumour: sitk.Image,
                       info: dict, bundle: MriBundle, device: str = "cpu") -> list[dict]:
    """Grad-CAM of early recurrence per phase (each phase's own ResNet), over the key slice (the middle of
    the 3 max-area slices), on the ingested 1 mm crop the network's input was resized from.

    Returns per phase {phase, image (h, w) ingested intensities, heatmap (h, w) in [0, 1], slice (z on the
    ingested grid), centre (physical point of the crop centre on that slice, mm), spacing_mm (row, col)}."""
    from hccrisk.nets.cam import grad_cam
    from hccrisk.roi.mri import ingested_volumes

    volumes = ingested_volumes(patient_dir, bundle.phases)
    y0, y1, x0, x1 = info["crop_yx"]
    z = int(info["slices"][len(info["slices"]) // 2])
    xt = torch.as_tensor(x[None], device=device)
    out = []
    for p, phase in enumerate(bundle.phases):
        cam = grad_cam(net, xt, target_layer=cam_layer(net, x, p))[0]  # (size, size) in [0, 1]
        arr = sitk.GetArrayViewFromImage(volumes[phase])[z].astype(np.float32)
        pad = ((max(0, -y0), max(0, y1 - arr.shape[0])), (max(0, -x0), max(0, x1 - arr.shape[1])))
        crop = np.pad(arr, pad, constant_values=float(arr.min()))[y0 + pad[0][0]:y1 + pad[0][0],
                                                                  x0 + pad[1][0]:x1 + pad[1][0]]
        heat = ndimage.zoom(cam, (crop.shape[0] / cam.shape[0], crop.shape[1] / cam.shape[1]), order=1,
                            mode="nearest", grid_mode=True)
        centre = tumour.TransformContinuousIndexToPhysicalPoint(((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2, float(z)))
        sy, sx = tumour.GetSpacing()[1], tumour.GetSpacing()[0]
        out.append({"phase": phase, "image": crop, "heatmap": np.clip(heat, 0.0, 1.0), "slice": z,
                    "centre": centre, "spacing_mm": (sy, sx)})
    return out


def source_slice(files: list[Path], point_in_phase: tuple[float, float, float]) -> Path:
    """The DICOM slice of a series whose plane lies nearest to a physical point (mm, patient space)."""
    best, best_d = None, np.inf
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True,
                             specific_tags=["ImagePositionPatient", "ImageOrientationPatient"])
        if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            continue
        o = np.asarray(ds.ImageOrientationPatient, float)
        d = abs(float(np.dot(np.asarray(point_in_phase) - np.asarray(ds.ImagePositionPatient, float),
                             np.cross(o[:3], o[3:]))))
        if d < best_d:
            best, best_d = Path(f), d
    if best is None:
        raise InputError(files[0].parent, "no slice of the series has a position: cannot reference the key slice")
    return best


def heatmap_source(patient_dir: Path, selection: MriSelection, item: dict) -> Path:
    """The native slice of ``item``'s phase under the key slice's crop centre: the ingested (AP) point
    mapped through ``mri/transforms/<phase>_to_AP.tfm`` (AP point -> phase point)."""
    from hccrisk.preprocess.mri import transform_path

    transform = sitk.ReadTransform(str(transform_path(patient_dir, item["phase"])))
    return source_slice(selection.phase_files[item["phase"]], transform.TransformPoint(item["centre"]))


def display(item: dict) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """(image, heatmap, pixel spacing mm) of a heatmap item resampled (linear) to >= ``DISPLAY_SIDE`` px a side."""
    factor = int(np.ceil(DISPLAY_SIDE / min(item["image"].shape)))
    image = ndimage.zoom(item["image"], factor, order=1, mode="nearest", grid_mode=True)
    heat = np.clip(ndimage.zoom(item["heatmap"], factor, order=1, mode="nearest", grid_mode=True), 0.0, 1.0)
    sy, sx = item["spacing_mm"]
    return image, heat, (sy / factor, sx / factor)
