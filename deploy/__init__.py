"""hccrisk's MONAI Deploy application package (``python -m deploy -i IN -o OUT``, ``python -m deploy serve``);
see docs/deploy.md."""

from pathlib import Path

#: The model bundle used unless ``HCCRISK_BUNDLE`` (app) or ``--bundle`` (service) names another.
DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "bundles" / "ceus_mp"


def check_bundles(bundle: Path, mri_bundle: Path) -> tuple[list[str], list[Exception]]:
    """(study kinds whose model is there: "CEUS", "MRI"; the problems of the others). The app and the service
    start when at least one model is there; a study of the other kind then fails naming its missing model."""
    from hccrisk.errors import HccriskError
    from operators.inference_core import check_bundle
    from operators.mri_core import check_mri_bundle

    kinds, problems = [], []
    for kind, check, folder in (("CEUS", check_bundle, bundle), ("MRI", check_mri_bundle, mri_bundle)):
        try:
            check(Path(folder))
            kinds.append(kind)
        except HccriskError as exc:
            problems.append(exc)
    return kinds, problems
