"""The MRI path of the MONAI Deploy app: a synthetic contrast-MRI study (T2, AP, PVP, DP) with observer1's
tumour VOI as a DICOM SEG (as the MONAI Label app stores it) and clinical.csv, run as a user runs it
(deploy/run.sh -m deploy -i IN -o OUT) and through a real Orthanc (the service polling it), with a
resnet_zhao2024 bundle: the bundle's configs, weights = zhao2024's MultiPhaseResNet-10 with seeded random
weights (the tests check that the app computes what the research path computes, not accuracy; training
needs >= 12 MRI patients), and a nomogram.json from a fitted NomogramModel.

Research path for the same patient: ``hccrisk ingest`` of the study's DICOM, the cohort's ground-truth
NIfTI VOI (not the SEG), ``hccrisk.nets.resnet_train.case_input`` and ``hccrisk.nets.engine.predict``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pydicom
import pytest
import torch

from deploy.demo_mri import SEG_NAME, make_mri_demo_study, study_uid
from hccrisk.errors import InputError
from hccrisk.models.nomogram_file import nomogram_spec, write_nomogram_file
from hccrisk.results.sr import read_risk_sr
from hccrisk.synth.cohort import generate_cohort
from operators.mri_core import read_mri_bundle, select_mri_study
from operators.study_core import load_study, study_kind
from tests.deploy.conftest import RUN, deploy_env, needs_deploy_venv, research_path_risk
from tests.results.conftest import dciodvfy

PATIENT = "SYN0001"


@pytest.fixture(scope="module")
def mri_cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deploy-mri") / "cohort"
    generate_cohort(out, 1, seed=3, modality="mri", workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def mri_bundle(nomogram_model, tmp_path_factory) -> Path:
    """bundles/resnet_zhao2024's configs, models/model.pt (seeded resnet10) and nomogram.json (cut-off 0.4)."""
    import shutil

    from hccrisk.nets.engine import seed_everything
    from hccrisk.nets.mri import MultiPhaseResNet

    folder = tmp_path_factory.mktemp("deploy-mri-bundle") / "resnet_zhao2024"
    shutil.copytree(Path(__file__).resolve().parents[2] / "bundles" / "resnet_zhao2024" / "configs", folder / "configs")
    (folder / "models").mkdir()
    seed_everything(7)
    torch.save(MultiPhaseResNet("resnet10").state_dict(), folder / "models" / "model.pt")
    write_nomogram_file(nomogram_spec(nomogram_model, 0.4, label="er_2y"), folder / "nomogram.json")
    return folder


@pytest.fixture(scope="module")
def mri_study(mri_cohort, tmp_path_factory) -> Path:
    return make_mri_demo_study(mri_cohort, PATIENT, tmp_path_factory.mktemp("deploy-mri-study") / PATIENT)


def research_path_signature(study: Path, cohort: Path, bundle: Path, work: Path) -> float:
    """`hccrisk ingest` of the study's DICOM, the cohort's NIfTI VOI, the bundle's weights: ``predict``."""
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.nets.engine import predict
    from hccrisk.nets.mri import MultiPhaseResNet
    from hccrisk.nets.resnet_train import case_input, observer_tumour

    result = ingest(study, work, workers=1, progress=False)
    assert result.n_done == 1, (work / "problems.csv").read_text()
    x = case_input(work / PATIENT, observer_tumour(cohort / "rois" / "observer1" / PATIENT, work / PATIENT))
    net = MultiPhaseResNet("resnet10")
    net.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True))
    return predict(net, [{"image": x, "patient": PATIENT}], device="cpu")[PATIENT]


@pytest.fixture(scope="module")
def research_signature(mri_study, mri_cohort, mri_bundle, tmp_path_factory) -> float:
    return research_path_signature(mri_study, mri_cohort, mri_bundle, tmp_path_factory.mktemp("research"))


def run_app(study: Path, out: Path, bundle: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUN), "-m", "deploy", "-i", str(study), "-o", str(out)],
                          env=deploy_env(HCCRISK_MRI_BUNDLE=str(bundle)), capture_output=True, text=True, timeout=300)


def check_results(files: list[Path], study: Path, cohort: Path, signature: float, nomogram_model) -> None:
    """1 SR + 3 SCs (AP, PVP, DP), dciodvfy 0 errors, highdicom reads the SR, its signature and risk equal
    the research path's, and SR and SCs reference the study's MR series and the SEG."""
    srs = [p for p in files if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SR"]
    scs = [p for p in files if p not in srs]
    assert len(srs) == 1 and len(scs) == 3
    for path in files:
        errors, _ = dciodvfy(path)
        assert errors == [], path.name
    result = read_risk_sr(srs[0])
    assert abs(result.imaging_signature - signature) <= 1e-6
    risk = research_path_risk(signature, cohort / "clinical.csv", PATIENT, nomogram_model)
    assert abs(result.risk - risk) <= 1e-6 and result.missing == ()
    assert result.model_name == "resnet_zhao2024" and result.risk_group == ("high" if risk >= 0.4 else "low")

    series = load_study(study)
    selection = select_mri_study(series, ("AP", "PVP", "DP"))
    phase_uids = {s.series_uid: p for p, s in selection.phase_series.items()}
    sop_series = {i.sop_uid: s.series_uid for s in series for i in s.instances}
    seg_uid = pydicom.dcmread(study / SEG_NAME, stop_before_pixels=True).SOPInstanceUID
    sr = pydicom.dcmread(srs[0])
    evidence = {(r.SeriesInstanceUID, i.ReferencedSOPInstanceUID) for e in sr.CurrentRequestedProcedureEvidenceSequence
                for r in e.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}
    assert {s for s, _ in evidence} >= set(phase_uids) and seg_uid in {i for _, i in evidence}
    assert sr.StudyInstanceUID == study_uid(study)
    phases = set()
    for path in scs:
        sc = pydicom.dcmread(path)
        assert sc.StudyInstanceUID == study_uid(study) and sc.Rows >= 256 and sc.SamplesPerPixel == 3
        phase = phase_uids[sop_series[sc.SourceImageSequence[0].ReferencedSOPInstanceUID]]  # a slice of that phase
        phases.add(phase)
        if path.name.startswith("SC_"):  # the app's file names say the phase
            assert path.stem.endswith(f"_{phase}")
    assert phases == {"AP", "PVP", "DP"}


@needs_deploy_venv()
@pytest.mark.slow
def test_app_on_an_mri_study_folder(mri_study, mri_cohort, mri_bundle, nomogram_model, research_signature, tmp_path):
    out = tmp_path / "out"
    run = run_app(mri_study, out, mri_bundle)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    files = sorted(out.glob("*.dcm"))
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in files]  # nothing but the results
    scs = {p.name for p in files if p.name.startswith("SC_")}
    assert scs == {f"SC_resnet_zhao2024_{phase}.dcm" for phase in ("AP", "PVP", "DP")}
    check_results(files, mri_study, mri_cohort, research_signature, nomogram_model)


@needs_deploy_venv()
@pytest.mark.slow
def test_app_without_the_seg_says_so(mri_study, mri_bundle, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    for f in mri_study.iterdir():
        if f.name != SEG_NAME:
            (folder / f.name).symlink_to(f)
    run = run_app(folder, tmp_path / "out", mri_bundle)
    assert run.returncode == 1
    assert f"error: {folder}: no tumour VOI: the study has no DICOM SEG of observer1" in run.stderr
    assert not list((tmp_path / "out").glob("*.dcm"))


def test_a_missing_phase_or_seg_is_named(mri_cohort, tmp_path):
    """Selection (no SDK): a study without its DP series names DP; one whose SEG is another observer's
    says that observer1's is missing and lists the SEG found; a study is told MRI by its series."""
    no_dp = make_mri_demo_study(mri_cohort, PATIENT, tmp_path / "no_dp", phases=("T2", "AP", "PVP"))
    series = load_study(no_dp)
    assert study_kind(series) == "mri"
    with pytest.raises(InputError, match=r"missing MRI phase DP: no MR series of the study was selected as DP"):
        select_mri_study(series, ("AP", "PVP", "DP"))
    other = make_mri_demo_study(mri_cohort, PATIENT, tmp_path / "observer2", seg=False)
    from hccrisk.dicom.select import select_mri
    from hccrisk.roi.io import observer_series_description, write_seg
    from hccrisk.roi.mri import read_mask

    ap = select_mri(load_study(other))[0]["AP"]
    write_seg(read_mask(mri_cohort / "rois" / "observer1" / PATIENT / "mri_AP_tumour.nii.gz") > 0,
              [i.path for i in ap.instances], other / "seg2.dcm",
              series_description=observer_series_description("observer2", "tumour"))
    with pytest.raises(InputError, match=r"no tumour VOI.*SEGs found: 'hccrisk observer2: tumour'"):
        select_mri_study(load_study(other), ("AP", "PVP", "DP"))


def test_bundle_settings_are_read_from_its_configs(mri_bundle):
    bundle = read_mri_bundle(mri_bundle)
    assert bundle.phases == ("AP", "PVP", "DP") and bundle.size == 32 and bundle.version == "0.1.0"


@needs_deploy_venv()
@pytest.mark.slow
def test_service_serves_an_mri_study_from_orthanc(mri_study, mri_cohort, mri_bundle, bundle, nomogram_model,
                                                  research_signature, tmp_path):
    """A site serving CEUS and MRI: the service polls a real Orthanc with its CEUS bundle (``--bundle``) and
    the MRI bundle (``HCCRISK_MRI_BUNDLE``); the MRI study + SEG stored into Orthanc (STOW-RS) -> the SR and
    3 SCs arrive in Orthanc; fetched back by WADO-RS they pass the checks of the folder run."""
    from hccrisk.pacs import connect
    from hccrisk.pacs.orthanc_server import DICOMWEB_PLUGIN, ORTHANC_BINARY, OrthancServer, free_port

    if not (Path(ORTHANC_BINARY).exists() and Path(DICOMWEB_PLUGIN).exists()):
        pytest.skip("Orthanc or its DICOMweb plugin is not installed (Debian orthanc, orthanc-dicomweb)")
    pacs = OrthancServer(scp_ae_title="HCCRISK", scp_port=free_port(), stable_age_s=1)
    pacs.start()
    log = tmp_path / "service.log"
    command = [str(RUN), "-m", "deploy", "serve", "--work", str(tmp_path / "work"), "--bundle", str(bundle),
               "--orthanc", pacs.url, "--store-to", pacs.dicomweb_url, "--clinical", str(mri_cohort / "clinical.csv"),
               "--poll", "0.5", "--flush", "1"]
    with open(log, "w") as out:
        service = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   env=deploy_env(HCCRISK_MRI_BUNDLE=str(mri_bundle)))
    client = connect(pacs.dicomweb_url)
    uid = study_uid(mri_study)

    def results() -> dict:
        found = {}
        for s in client.find_series(uid):
            kind = str(s.get("SeriesDescription") or "")
            if kind.startswith(("hccrisk risk report", "hccrisk heatmap")):
                found[kind.split(" (")[0]] = s
        return found

    try:
        deadline = time.monotonic() + 120
        while "serving:" not in log.read_text() and service.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert service.poll() is None and "serving:" in log.read_text(), log.read_text()[-4000:]
        client.store(sorted(p for p in mri_study.glob("*.dcm")))
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            found = results()
            if "hccrisk risk report" in found and \
                    int(found.get("hccrisk heatmap", {}).get("NumberOfSeriesRelatedInstances") or 0) == 3:
                break
            time.sleep(1)
        else:
            raise AssertionError("no SR + 3 SCs in Orthanc\n" + log.read_text()[-4000:])
        files = []
        for s in found.values():
            files += client.retrieve(uid, tmp_path / "back", s["SeriesInstanceUID"])
        check_results(sorted(files), mri_study, mri_cohort, research_signature, nomogram_model)
    finally:
        service.terminate()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
        pacs.close()


@pytest.mark.slow
def test_a_seg_on_pvp_with_two_nodules_gives_the_ap_voi(mri_cohort, tmp_path):
    """A radiologist who segments on PVP, one "tumour" segment per nodule (the study's nodule + a small second
    one added in a corner of the field of view): the VOI the app uses (every tumour segment, mapped through
    PVP's registration to the ingested grid, largest nodule) overlaps the AP VOI the
    model was trained with: Dice > 0.8 (measured 0.88 on this ~4 cm3 nodule, 0.97 on a 45 cm3 one of the
    default cohort; nearest-neighbour masks of thick slices on a 1 mm grid); the wrong nodule or a wrong
    mapping gives ~0."""
    import numpy as np
    import SimpleITK as sitk

    from hccrisk.dicom.select import select_mri
    from hccrisk.nets.resnet_train import observer_tumour
    from hccrisk.roi.io import observer_series_description, write_seg
    from hccrisk.roi.mri import read_mask
    from operators.mri_core import ingest_study

    study = make_mri_demo_study(mri_cohort, PATIENT, tmp_path / "study", seg=False)
    drawn = read_mask(mri_cohort / "rois" / "observer1" / PATIENT / "mri_PVP_tumour.nii.gz")
    labels = sitk.GetArrayFromImage(drawn) > 0
    labels = labels.astype(np.uint8) * 2  # the nodule is segment 2, so reading segment 1 alone would fail
    labels[labels.shape[0] // 2, 8:12, 8:12] = 1  # a second, smaller nodule: its own "tumour" segment
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(drawn)
    pvp = select_mri(load_study(study))[0]["PVP"]
    write_seg(mask, [i.path for i in pvp.instances], study / "seg.dcm", {1: "tumour", 2: "tumour"},
              series_description=observer_series_description("observer1", "tumour"))
    selection = select_mri_study(load_study(study), ("AP", "PVP", "DP"))
    assert selection.seg_phase == "PVP"
    work = tmp_path / "work"  # the SEG gives mri_PVP_tumour_1 and _2: both read, the largest kept
    voi = sitk.GetArrayFromImage(ingest_study(selection, work)) > 0
    ap = sitk.GetArrayFromImage(observer_tumour(mri_cohort / "rois" / "observer1" / PATIENT, work)) > 0
    assert 2 * (voi & ap).sum() / (voi.sum() + ap.sum()) > 0.8
