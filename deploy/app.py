"""The hccrisk MONAI Deploy application: a CEUS study folder in, a risk SR and heatmap SCs out.

    python -m deploy -i STUDY_FOLDER -o OUTPUT_FOLDER          (or deploy/run.sh -m deploy ...)
    python -m deploy serve ...                                 (the PACS service: deploy/service.py)

``HCCRISK_BUNDLE`` names the model bundle folder (default ``bundles/ceus_mp`` in the repository).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from holoscan.conditions import CountCondition
from monai.deploy.core import Application

from hccrisk.log import configure
from operators import (BundleInferenceOperator, CeusRoiOperator, CeusSeriesSelectorOperator, CeusTimelineOperator,
                       ClinicalValuesOperator, HeatmapWriterOperator, NomogramOperator, RiskReportWriterOperator,
                       StudyLoaderOperator)
from operators.inference_core import check_bundle

from deploy import DEFAULT_BUNDLE


class HccRiskApp(Application):
    """Study -> CEUS series -> 2 fps timeline -> ROI from the box SR -> bundle inference -> clinical values
    -> nomogram -> SR -> SC."""

    name = "hccrisk"
    description = "Early recurrence risk of HCC from a CEUS study (research use only)"
    version = "0.1.0"

    def __init__(self, *args, bundle: Path | None = None, **kwargs):
        self.bundle = Path(bundle) if bundle is not None else Path(os.environ.get("HCCRISK_BUNDLE", DEFAULT_BUNDLE))
        self.work_folder: Path | None = None
        super().__init__(*args, **kwargs)

    def compose(self) -> None:
        context = Application.init_app_context(self.argv)
        input_folder, output_folder = Path(context.input_path), Path(context.output_path)
        bundle = self.bundle
        check_bundle(bundle)  # fail before the study is read, not after
        output_folder.mkdir(parents=True, exist_ok=True)
        # The 2 fps timeline is an intermediate: it lives in a scratch folder, not among the results.
        self.work_folder = Path(tempfile.mkdtemp(prefix="hccrisk-deploy-"))
        work = self.work_folder

        study = StudyLoaderOperator(self, CountCondition(self, 1), input_folder=input_folder, name="study")
        series = CeusSeriesSelectorOperator(self, name="series")
        timeline = CeusTimelineOperator(self, work_folder=work, name="timeline")
        roi = CeusRoiOperator(self, name="roi")
        inference = BundleInferenceOperator(self, bundle_folder=bundle, name="inference")
        clinical = ClinicalValuesOperator(self, input_folder=input_folder, name="clinical")
        nomogram = NomogramOperator(self, bundle_folder=bundle, name="nomogram")
        report = RiskReportWriterOperator(self, output_folder=output_folder, name="sr")
        heatmaps = HeatmapWriterOperator(self, output_folder=output_folder, name="sc")

        self.add_flow(study, series, {("study", "study")})
        self.add_flow(series, timeline, {("selection", "selection")})
        self.add_flow(timeline, roi, {("case", "case")})
        self.add_flow(roi, inference, {("case", "case")})
        self.add_flow(inference, clinical, {("case", "case")})
        self.add_flow(clinical, nomogram, {("case", "case")})
        self.add_flow(nomogram, report, {("case", "case")})
        self.add_flow(report, heatmaps, {("case", "case")})


def run_study(study_folder: Path, output_folder: Path, bundle: Path | None = None) -> list[Path]:
    """Run the app once, in this process, on one study folder; returns the result files written.

    The service calls this per study: the SDK graph is composed anew each time, while the networks
    stay loaded (operators.inference caches them), so a warm process spends its time on the study.
    Errors of the study (``hccrisk.errors.HccriskError``) propagate to the caller.
    """
    output_folder = Path(output_folder)
    # holoscan's Application drops argv[0]; the SDK's argument parser then drops the program name.
    app = HccRiskApp([sys.argv[0], "hccrisk-app", "-i", str(study_folder), "-o", str(output_folder)], bundle=bundle)
    try:
        app.run()
    finally:
        if app.work_folder is not None:
            shutil.rmtree(app.work_folder, ignore_errors=True)
    return sorted(output_folder.glob("*.dcm"))


def main() -> None:
    configure(verbose=False)
    app = HccRiskApp()
    try:
        app.run()
    finally:
        if app.work_folder is not None:
            shutil.rmtree(app.work_folder, ignore_errors=True)
