"""The risk report as a DICOM Comprehensive 3D SR with a TID 1500 measurement report (highdicom).

Content tree (one ``MeasurementReport``, two TID 1501 measurement groups):

- "Risk of early recurrence" group: algorithm identification (model name, version), finding HCC in
  the liver, the imaging signature (probability, no units); when the nomogram was computed, the
  predicted probability of early recurrence, the cut-off and the risk group (High/Low at the cut-off),
  nomogram status "Computed"; otherwise nomogram status "Not computed" and no risk/group. The group
  references the source images and, as evidence, the ROI object (SEG or box SR).
- "Clinical inputs" group: each clinical value used as a measurement with its UCUM unit (AFP ng/mL,
  ALB g/L, ...) or a coded qualitative evaluation (sex, Child-Pugh, ...); each missing value as a
  qualitative evaluation "Value missing".

UIDs are derived from (study, model name, model version): a re-run of the same study with the same
model writes the same SOP Instance UID, so a PACS keeps one SR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

import hccrisk
from hccrisk.errors import InputError
from hccrisk.results import SR_SERIES_PREFIX
from hccrisk.results import codes as rc

RISK_TRACKING_ID = "hccrisk early recurrence risk"
CLINICAL_TRACKING_ID = "hccrisk clinical inputs"
SERIES_NUMBER = 910


@dataclass(frozen=True)
class RiskResult:
    """What the SR reports (and what ``read_risk_sr`` gives back).

    ``risk`` is None when the nomogram was not computed (``missing`` names the clinical values that
    were missing, if that was the reason); ``risk_group`` is "high" when risk >= cutoff, "low" below, None when not computed.
    ``clinical`` holds the values used (float for numeric, str for categorical columns).
    """

    model_name: str
    model_version: str
    imaging_signature: float
    risk: float | None
    cutoff: float
    clinical: Mapping[str, float | str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def risk_group(self) -> str | None:
        if self.risk is None:
            return None
        return "high" if self.risk >= self.cutoff else "low"


def stable_uid(*parts: str) -> str:
    """A UID that depends only on ``parts`` (a hash under pydicom's root): same inputs, same UID."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _check(result: RiskResult) -> None:
    for name, value in (("imaging signature", result.imaging_signature), ("risk", result.risk),
                        ("cut-off", result.cutoff)):
        if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise InputError("risk SR", f"{name} {value!r} is not a probability in [0, 1]")
    unknown = [c for c in [*result.clinical, *result.missing]
               if c not in rc.CLINICAL_NUMERIC and c not in rc.CLINICAL_CATEGORICAL]
    if unknown:
        raise InputError("risk SR", f"unknown clinical variable(s) {unknown}")


def algorithm_identification(result: RiskResult) -> hd.sr.AlgorithmIdentification:
    """TID 4019 algorithm identification of the model."""
    return hd.sr.AlgorithmIdentification(name=result.model_name, version=result.model_version,
                                         manufacturer="hccrisk")


def risk_measurements(result: RiskResult) -> tuple[list[hd.sr.Measurement], list[hd.sr.QualitativeEvaluation]]:
    """The imaging signature, and risk, cut-off and group when the nomogram was computed."""
    algo = algorithm_identification(result)
    measurements = [hd.sr.Measurement(rc.IMAGING_SIGNATURE, result.imaging_signature, rc.NO_UNITS, algorithm_id=algo)]
    if result.risk is None:
        return measurements, [hd.sr.QualitativeEvaluation(rc.NOMOGRAM_STATUS, rc.NOT_COMPUTED)]
    measurements += [hd.sr.Measurement(rc.RISK_OF_EARLY_RECURRENCE, result.risk, rc.NO_UNITS, algorithm_id=algo),
                     hd.sr.Measurement(rc.RISK_CUTOFF, result.cutoff, rc.NO_UNITS)]
    group = rc.HIGH if result.risk_group == "high" else rc.LOW
    return measurements, [hd.sr.QualitativeEvaluation(rc.NOMOGRAM_STATUS, rc.COMPUTED),
                          hd.sr.QualitativeEvaluation(rc.RISK_GROUP, group)]


def clinical_inputs(result: RiskResult) -> tuple[list[hd.sr.Measurement], list[hd.sr.QualitativeEvaluation]]:
    """Clinical values used (with units) and the missing ones (qualitative "Value missing")."""
    measurements, evaluations = [], []
    for column, value in result.clinical.items():
        if column in rc.CLINICAL_NUMERIC:
            var = rc.CLINICAL_NUMERIC[column]
            measurements.append(hd.sr.Measurement(var.name, float(value), var.unit))
        else:
            evaluations.append(hd.sr.QualitativeEvaluation(rc.CLINICAL_CATEGORICAL[column],
                                                           rc.categorical_value(column, str(value))))
    for column in result.missing:
        evaluations.append(hd.sr.QualitativeEvaluation(rc.clinical_concept(column), rc.MISSING_VALUE))
    return measurements, evaluations


def _source_image_refs(sources: Sequence[pydicom.Dataset]) -> list[hd.sr.SourceImageForMeasurementGroup]:
    return [hd.sr.SourceImageForMeasurementGroup(ds.SOPClassUID, ds.SOPInstanceUID) for ds in sources]


def measurement_report(result: RiskResult, sources: Sequence[pydicom.Dataset], procedure: hd.sr.CodedConcept
                       ) -> hd.sr.MeasurementReport:
    """TID 1500 with the risk group and the clinical-inputs group (both TID 1501)."""
    study = sources[0].StudyInstanceUID
    risk_m, risk_q = risk_measurements(result)
    risk_group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=stable_uid(study, result.model_name, result.model_version, "risk-group"), identifier=RISK_TRACKING_ID),
        finding_type=rc.HCC, finding_sites=[hd.sr.FindingSite(rc.LIVER)],
        algorithm_id=algorithm_identification(result), measurements=risk_m, qualitative_evaluations=risk_q,
        source_images=_source_image_refs(sources))
    clin_m, clin_q = clinical_inputs(result)
    groups = [risk_group]
    if clin_m or clin_q:
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=stable_uid(study, result.model_name, result.model_version, "clinical-group"),
                identifier=CLINICAL_TRACKING_ID),
            measurements=clin_m or None, qualitative_evaluations=clin_q or None))
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=stable_uid("hccrisk-device", result.model_name), name=f"hccrisk {result.model_name}",
            model_name=result.model_name, manufacturer_name="hccrisk")))
    return hd.sr.MeasurementReport(observation_context=context, procedure_reported=procedure,
                                   imaging_measurements=groups)


def _read_header(path: str | Path, what: str) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(path, f"cannot read the {what}: {exc}") from None


def write_risk_sr(result: RiskResult, source_files: Sequence[str | Path], path: str | Path, *,
                  roi_file: str | Path | None = None) -> Path:
    """Write the risk report for the study of ``source_files`` (the series the model read).

    Args:
        result: the prediction (see ``RiskResult``).
        source_files: DICOM files of the source series (CEUS clips or MR slices; one is enough).
        roi_file: the ROI object (DICOM SEG or box SR) the model used; referenced as evidence.
    Returns: the path written.
    """
    _check(result)
    if not source_files:
        raise InputError("risk SR", "no source image to reference")
    sources = [_read_header(f, "source image") for f in source_files]
    studies = {ds.StudyInstanceUID for ds in sources}
    if len(studies) != 1:
        raise InputError(source_files[0], f"source images span {len(studies)} studies; one SR reports one study")
    evidence = list(sources)
    if roi_file is not None:
        evidence.append(_read_header(roi_file, "ROI object"))
    study = sources[0].StudyInstanceUID
    procedure = rc.ABDOMINAL_MRI if sources[0].Modality == "MR" else rc.ABDOMINAL_US
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence, content=measurement_report(result, sources, procedure),
        series_instance_uid=stable_uid(study, result.model_name, result.model_version, "sr-series"),
        series_number=SERIES_NUMBER,
        sop_instance_uid=stable_uid(study, result.model_name, result.model_version, "sr"),
        instance_number=1, manufacturer="hccrisk", is_complete=True,
        series_description=f"{SR_SERIES_PREFIX} ({result.model_name} {result.model_version})")
    sr.SoftwareVersions = hccrisk.__version__
    scheme = pydicom.Dataset()
    scheme.CodingSchemeDesignator = rc.PRIVATE_SCHEME
    scheme.CodingSchemeName = "hccrisk private codes"
    scheme.CodingSchemeResponsibleOrganization = "hccrisk project"
    sr.CodingSchemeIdentificationSequence = [scheme]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sr.save_as(path, enforce_file_format=True)
    return path


def _code_key(concept) -> tuple[str, str]:
    return (str(concept.value), str(concept.scheme_designator))


def _algorithm(group) -> tuple[str, str]:
    """(name, version) of the TID 4019 algorithm identification in a measurement group's container."""
    found = {}
    for item in group[0].ContentSequence:
        code = item.ConceptNameCodeSequence[0].CodeValue
        if code in ("111001", "111003"):  # DCM Algorithm Name, Algorithm Version
            found[code] = str(item.TextValue)
    return found.get("111001", ""), found.get("111003", "")


def read_risk_sr(path: str | Path) -> RiskResult:
    """Read back an SR written by ``write_risk_sr`` (via ``highdicom.sr.srread``)."""
    try:
        sr = hd.sr.srread(path)
        groups = sr.content.get_image_measurement_groups()
    except Exception as exc:  # highdicom raises several types for a non-SR or non-TID-1500 file
        raise InputError(path, f"not a TID 1500 measurement report: {exc}") from None
    by_id = {str(g.tracking_identifier): g for g in groups}
    if RISK_TRACKING_ID not in by_id:
        raise InputError(path, f"no measurement group '{RISK_TRACKING_ID}': not an hccrisk risk report")
    risk_group = by_id[RISK_TRACKING_ID]
    values = {_code_key(m.name): m.value for m in risk_group.get_measurements()}
    model_name, model_version = _algorithm(risk_group)
    clinical: dict[str, float | str] = {}
    missing: list[str] = []
    numeric = {_code_key(v.name): c for c, v in rc.CLINICAL_NUMERIC.items()}
    categorical = {_code_key(v): c for c, v in rc.CLINICAL_CATEGORICAL.items()}
    if CLINICAL_TRACKING_ID in by_id:
        g = by_id[CLINICAL_TRACKING_ID]
        for m in g.get_measurements():
            clinical[numeric[_code_key(m.name)]] = float(m.value)
        for q in g.get_qualitative_evaluations():
            key = _code_key(q.name)
            column = numeric.get(key) or categorical[key]
            if _code_key(q.value) == _code_key(rc.MISSING_VALUE):
                missing.append(column)
            else:
                clinical[column] = str(q.value.meaning).split(" ", 1)[1]
    risk_key = _code_key(rc.RISK_OF_EARLY_RECURRENCE)
    return RiskResult(
        model_name=model_name, model_version=model_version,
        imaging_signature=float(values[_code_key(rc.IMAGING_SIGNATURE)]),
        risk=float(values[risk_key]) if risk_key in values else None,
        cutoff=float(values.get(_code_key(rc.RISK_CUTOFF), math.nan)),
        clinical=clinical, missing=tuple(missing))
