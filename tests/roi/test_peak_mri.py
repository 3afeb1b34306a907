import numpy as np
import pytest
import SimpleITK as sitk

from hccrisk.roi.cine import load_cine
from hccrisk.roi.frames import peak_frame
from hccrisk.roi.mri import ingested_rois, ingested_volumes, max_area_slices, tumour_slices
from hccrisk.roi.observers import observer_box
from hccrisk.roi.tracking import track_box
from hccrisk.synth.ceus_scene import Kinetics

from .conftest import MRI_PATIENT


def _tumour_curve(row: dict, t: np.ndarray) -> np.ndarray:
    """The generator's tumour enhancement curve (docs/synthetic.md, Kinetics), amplitude 1."""
    washin = 3.0 + 4.0 * (1.0 - float(row["arterial_enhancement"]))
    k = Kinetics(float(row["ceus_tumour_arrival_s"]), washin, float(row["ceus_tumour_washout_s"]), 1.0,
                 0.0, 1.0, 1.0, 0.0)
    return k.tumour(t)


@pytest.mark.parametrize("pid", ["SYN0001", "SYN0002", "SYN0003", "SYN0004"])
def test_peak_frame_is_near_the_true_peak(roi_cohort, pid):
    row = roi_cohort.truth[pid]
    cine = load_cine(roi_cohort.ingest / pid)
    track = track_box(cine, observer_box(roi_cohort.roi_dir(pid, 2), cine))
    peak = peak_frame(cine, track.boxes)
    true_peak = float(row["ceus_tumour_peak_s"])
    # Measured (docs/roi.md): up to 21 s after the kinetic peak, because the curve is flat around a slowly
    # washing-out peak and the liver in the box and the rim lag enhance later; on the frame found the
    # tumour is at >= 88 % of its peak enhancement. It may also be the 2 fps sample just before the peak
    # (the frames are 0.5 s apart: SYN0001's true peak 24.79 s, found 24.5 s).
    assert -0.5 <= peak.time_s - true_peak <= 25.0, (peak.time_s, true_peak)
    assert _tumour_curve(row, peak.time_s) >= 0.85 * _tumour_curve(row, true_peak)
    assert peak.contrast.shape == cine.shape and peak.grayscale.shape == cine.shape
    if cine.bmode is None:
        assert cine.times[peak.grayscale_index] <= 0.0 + 1e-9 or peak.grayscale_index == 0
    else:
        assert peak.grayscale_index == peak.index


def test_mri_rois_and_zhao_slices(roi_cohort):
    patient = roi_cohort.ingest / MRI_PATIENT
    rois = ingested_rois(roi_cohort.roi_dir(MRI_PATIENT), patient)
    ap = rois["AP"]["tumour"]
    ref = sitk.ReadImage(str(patient / "mri" / "AP.nii.gz"))
    assert ap.GetSize() == ref.GetSize() and ap.GetSpacing() == pytest.approx((1.0, 1.0, 1.0))
    tumour = sitk.GetArrayFromImage(ap)
    liver = sitk.GetArrayFromImage(rois["AP"]["liver"])
    assert set(np.unique(tumour)) == {0, 1}
    # The tumour lies in the liver (the liver mask includes tumours); its 1 mm volume is that of a sphere
    # of the largest nodule's diameter within the lobulation and resampling error.
    assert (liver[tumour > 0] > 0).mean() > 0.97
    d = float(roi_cohort.truth[MRI_PATIENT]["tumour_size_cm"]) * 10
    assert tumour.sum() == pytest.approx(np.pi / 6 * d ** 3, rel=0.35)
    arr, info = tumour_slices(ingested_volumes(patient), ap)
    assert arr.shape == (3, 3, 256, 256) and arr.dtype == np.float32 and np.isfinite(arr).all()
    z = info["slices"]
    area = (tumour > 0).reshape(tumour.shape[0], -1).sum(axis=1)
    assert z == list(range(z[0], z[0] + 3)) and area[z].sum() == max(area[i:i + 3].sum() for i in range(len(area) - 2))
    # The tumour fills the middle of the crop: in at least one phase its enhancement differs inside from the
    # corners (a tumour may be iso-enhancing in one phase: the generator gives the arterial phase and the
    # washout phases independent halves of the aggressiveness, docs/synthetic.md).
    assert any(not np.allclose(arr[p, 1, 100:156, 100:156].mean(), arr[p, 1, :20, :20].mean(), rtol=0.05)
               for p in range(3))


def test_largest_nodule_and_slices_rules():
    mask = np.zeros((10, 20, 20), dtype=np.uint8)
    mask[2:4, 2:5, 2:5] = 1  # small nodule
    mask[5:9, 8:16, 8:16] = 1  # large nodule, largest area on slices 5..8
    img = sitk.GetImageFromArray(mask)
    from hccrisk.roi.mri import largest_component
    big = sitk.GetArrayFromImage(largest_component(img))
    assert big.sum() == 4 * 64 and big[2:4].sum() == 0
    assert max_area_slices(mask).tolist() == [5, 6, 7]


def test_observer2_loads_like_observer1(roi_cohort):
    patient = roi_cohort.ingest / MRI_PATIENT
    one = sitk.GetArrayFromImage(ingested_rois(roi_cohort.roi_dir(MRI_PATIENT), patient)["PVP"]["tumour"])
    two_rois = ingested_rois(roi_cohort.roi_dir(MRI_PATIENT, 2), patient)
    assert "liver" not in two_rois["PVP"]
    two = sitk.GetArrayFromImage(two_rois["PVP"]["tumour"])
    dice = 2 * (one & two).sum() / (one.sum() + two.sum())
    assert 0.6 < dice < 1.0  # perturbed, not identical (docs/synthetic.md: Dice ~0.7-0.95)
