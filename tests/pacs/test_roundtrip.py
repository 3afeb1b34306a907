"""Store into a real Orthanc over STOW-RS, C-STORE and dcmtk's storescu; find and fetch back over
DICOMweb and DIMSE; what comes back is the same data set, byte for byte, in its transfer syntax."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from hccrisk.pacs import RetryPolicy, connect
from tests.orthanc import clear_orthanc
from tests.pacs.studies import by_sop_uid, dataset_bytes, pixels

FAST = RetryPolicy(attempts=2, initial_delay_s=0.1)


def _study_uid(files: list[Path]) -> str:
    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def _assert_same_instances(sent: list[Path], got: list[Path]) -> None:
    sent_by_uid, got_by_uid = by_sop_uid(sent), by_sop_uid(got)
    assert sorted(got_by_uid) == sorted(sent_by_uid)
    for uid, path in sent_by_uid.items():
        back = got_by_uid[uid]
        assert dataset_bytes(back) == dataset_bytes(path), f"{uid}: data set bytes differ"
        assert (pydicom.dcmread(back).file_meta.TransferSyntaxUID
                == pydicom.dcmread(path).file_meta.TransferSyntaxUID)
        np.testing.assert_array_equal(pixels(back), pixels(path))


@pytest.fixture
def web(orthanc):
    return connect(orthanc.dicomweb_url, FAST)


@pytest.fixture
def dimse(orthanc):
    return connect(orthanc.dimse_address, FAST)


def test_stow_then_find_and_fetch_over_both_protocols(orthanc, ceus_files, web, dimse, tmp_path):
    clear_orthanc(orthanc)  # the searches below must find exactly this study
    assert web.find_studies() == []
    # 1 MiB per request: the 4.5 MB study goes in several STOW-RS requests
    from hccrisk.pacs.dicomweb import _chunks

    assert len(_chunks(ceus_files, 2**20)) >= 2
    assert web.store(ceus_files, max_request_bytes=2**20) == len(ceus_files)
    study_uid = _study_uid(ceus_files)
    patient = str(pydicom.dcmread(ceus_files[0], stop_before_pixels=True).PatientID)

    for client in (web, dimse):
        studies = client.find_studies(PatientID=patient)
        assert [s["StudyInstanceUID"] for s in studies] == [study_uid]
        assert studies[0]["NumberOfStudyRelatedInstances"] == len(ceus_files)
        assert studies[0]["ModalitiesInStudy"] == "US"
        series = client.find_series(study_uid)
        assert sum(s["NumberOfSeriesRelatedInstances"] for s in series) == len(ceus_files)

    _assert_same_instances(ceus_files, web.retrieve(study_uid, tmp_path / "wado"))
    got = dimse.retrieve(study_uid, tmp_path / "cget")
    _assert_same_instances(ceus_files, got)
    assert all(p.is_relative_to(tmp_path / "cget" / study_uid) for p in got)


def test_c_store_keeps_compressed_transfer_syntaxes(mr_files, web, dimse, tmp_path):
    syntaxes = {str(pydicom.dcmread(p).file_meta.TransferSyntaxUID) for p in mr_files}
    assert len(syntaxes) == 3  # uncompressed, JPEG-LS lossless, RLE lossless
    assert dimse.store(mr_files) == len(mr_files)
    study_uid = _study_uid(mr_files)
    _assert_same_instances(mr_files, dimse.retrieve(study_uid, tmp_path / "cget"))
    _assert_same_instances(mr_files, web.retrieve(study_uid, tmp_path / "wado"))
    # one series only
    series_uid = str(pydicom.dcmread(mr_files[-1]).SeriesInstanceUID)
    for client, sub in ((web, "wado1"), (dimse, "cget1")):
        got = client.retrieve(study_uid, tmp_path / sub, series_uid=series_uid)
        assert len(got) == 2 and {p.parent.name for p in got} == {series_uid}


def test_storescu_as_an_outside_client(orthanc, mr_files, web, tmp_path):
    # storescu proposes one transfer syntax family per run: uncompressed, JPEG-LS (-xt), RLE (-xr)
    for option, files in (("-xe", mr_files[:3]), ("-xt", mr_files[3:6]), ("-xr", mr_files[6:])):
        result = subprocess.run(["storescu", "-aec", orthanc.ae_title, "-aet", "OUTSIDE", option,
                                 "127.0.0.1", str(orthanc.dicom_port), *map(str, files)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    study_uid = _study_uid(mr_files)
    assert [s["StudyInstanceUID"] for s in web.find_studies(StudyInstanceUID=study_uid)] == [study_uid]
    _assert_same_instances(mr_files, web.retrieve(study_uid, tmp_path / "wado"))


def test_findscu_sees_what_we_stored(orthanc, mr_files, dimse):
    dimse.store(mr_files)
    result = subprocess.run(["findscu", "-S", "-aet", "HCCRISK", "-aec", orthanc.ae_title,
                             "-k", "QueryRetrieveLevel=STUDY", "-k",
                             f"StudyInstanceUID={_study_uid(mr_files)}", "-k", "PatientID",
                             "127.0.0.1", str(orthanc.dicom_port)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "PACS001" in result.stderr + result.stdout
