"""The hccrisk MONAI Deploy application: a CEUS or contrast MRI study folder in, a risk SR and heatmap SCs out.

    python -m deploy -i STUDY_FOLDER -o OUTPUT_FOLDER          (or deploy/run.sh -m deploy ...)
    python -m deploy serve ...                                 (the PACS service: deploy/service.py)

``HCCRISK_BUNDLE`` names the CEUS model bundle folder (default ``bundles/ceus_mp`` in the repository),
``HCCRISK_MRI_BUNDLE`` the MRI one (default ``bundles/resnet_zhao2024``; docs/deploy.md, MRI path).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from holoscan.conditions import CountCondition
from monai.deploy.core import Application

from hccrisk.errors import HccriskError
from hccrisk.log import configure
from operators import (BundleInferenceOperator, CeusRoiOperator, CeusSeriesSelectorOperator, CeusTimelineOperator,
                       ClinicalValuesOperator, HeatmapWriterOperator, MriHeatmapWriterOperator, MriInferenceOperator,
                       MriSeriesSelectorOperator, MriVolumesOperator, NomogramOperator, RiskReportWriterOperator,
                       StudyLoaderOperator)
from operators.inference_core import check_bundle
from operators.mri_core import DEFAULT_MRI_BUNDLE, bundle_kind, check_mri_bundle
from operators.study_core import load_study, study_kind

from deploy import DEFAULT_BUNDLE


class HccRiskApp(Application):
    """Study -> the CEUS or the MRI path, chosen by the study's series (``operators.study_core.study_kind``):

    CEUS: cines -> 2 fps timeline -> ROI from the box SR -> bundle inference;
    MRI:  AP/PVP/DP + observer1's tumour SEG -> ingested volumes and VOI -> multi-phase ResNet + Grad-CAM;
    then clinical values -> nomogram -> SR -> heatmap SCs."""

    name = "hccrisk"
    description = "Early recurrence risk of HCC from a CEUS or contrast MRI study (research use only)"
    version = "0.1.0"

    def __init__(self, *args, bundle: Path | None = None, mri_bundle: Path | None = None, **kwargs):
        self.bundle, self.mri_bundle = bundles(bundle, mri_bundle)
        self.work_folder: Path | None = None
        super().__init__(*args, **kwargs)

    def compose(self) -> None:
        context = Application.init_app_context(self.argv)
        input_folder, output_folder = Path(context.input_path), Path(context.output_path)
        series = load_study(input_folder)
        kind = study_kind(series)
        bundle = self.mri_bundle if kind == "mri" else self.bundle
        (check_mri_bundle if kind == "mri" else check_bundle)(bundle)  # fail before the study is read, not after
        output_folder.mkdir(parents=True, exist_ok=True)
        # The 2 fps timeline / ingested volumes are intermediates: a scratch folder, not among the results.
        self.work_folder = Path(tempfile.mkdtemp(prefix="hccrisk-deploy-"))
        work = self.work_folder

        study = StudyLoaderOperator(self, CountCondition(self, 1), input_folder=input_folder, series=series,
                                    name="study")
        if kind == "mri":
            series_op = MriSeriesSelectorOperator(self, bundle_folder=bundle, name="series")
            images = MriVolumesOperator(self, work_folder=work, name="volumes")
            inference = MriInferenceOperator(self, bundle_folder=bundle, name="inference")
            steps = [images, inference]
        else:
            series_op = CeusSeriesSelectorOperator(self, name="series")
            images = CeusTimelineOperator(self, work_folder=work, name="timeline")
            roi = CeusRoiOperator(self, name="roi")
            inference = BundleInferenceOperator(self, bundle_folder=bundle, name="inference")
            steps = [images, roi, inference]
        clinical = ClinicalValuesOperator(self, input_folder=input_folder, name="clinical")
        nomogram = NomogramOperator(self, bundle_folder=bundle, name="nomogram")
        report = RiskReportWriterOperator(self, output_folder=output_folder, name="sr")
        heatmaps = (MriHeatmapWriterOperator if kind == "mri" else HeatmapWriterOperator)(
            self, output_folder=output_folder, name="sc")

        self.add_flow(study, series_op, {("study", "study")})
        self.add_flow(series_op, images, {("selection", "selection")})
        chain = steps + [clinical, nomogram, report, heatmaps]
        for upstream, downstream in zip(chain, chain[1:]):
            self.add_flow(upstream, downstream, {("case", "case")})


def bundles(bundle: Path | None = None, mri_bundle: Path | None = None) -> tuple[Path, Path]:
    """(CEUS bundle, MRI bundle): the arguments, else ``HCCRISK_BUNDLE`` / ``HCCRISK_MRI_BUNDLE``, else
    bundles/ceus_mp / bundles/resnet_zhao2024. An MRI bundle given as ``bundle`` (the service's
    ``--bundle``) is taken as the MRI bundle."""
    if bundle is not None and bundle_kind(Path(bundle)) == "mri" and mri_bundle is None:
        bundle, mri_bundle = None, bundle
    ceus = Path(bundle) if bundle is not None else Path(os.environ.get("HCCRISK_BUNDLE", DEFAULT_BUNDLE))
    mri = Path(mri_bundle) if mri_bundle is not None else Path(os.environ.get("HCCRISK_MRI_BUNDLE", DEFAULT_MRI_BUNDLE))
    return ceus, mri


def run_study(study_folder: Path, output_folder: Path, bundle: Path | None = None,
              mri_bundle: Path | None = None) -> list[Path]:
    """Run the app once, in this process, on one study folder; returns the result files written.

    The service calls this per study: the SDK graph is composed anew each time, while the networks
    stay loaded (operators.inference caches them), so a warm process spends its time on the study.
    Errors of the study (``hccrisk.errors.HccriskError``) propagate to the caller.
    """
    output_folder = Path(output_folder)
    # holoscan's Application drops argv[0]; the SDK's argument parser then drops the program name.
    app = HccRiskApp([sys.argv[0], "hccrisk-app", "-i", str(study_folder), "-o", str(output_folder)], bundle=bundle,
                     mri_bundle=mri_bundle)
    try:
        app.run()
    finally:
        if app.work_folder is not None:
            shutil.rmtree(app.work_folder, ignore_errors=True)
    return sorted(output_folder.glob("*.dcm"))


def main() -> None:
    """``python -m deploy -i IN -o OUT``: a study the app cannot analyse exits 1 with ``error: <file>: <problem>``."""
    configure(verbose=False)
    app = HccRiskApp()
    try:
        app.run()
    except HccriskError as exc:  # the study's problem, said plainly (the SDK has logged where it happened)
        sys.exit(f"error: {exc}")
    finally:
        if app.work_folder is not None:
            shutil.rmtree(app.work_folder, ignore_errors=True)
