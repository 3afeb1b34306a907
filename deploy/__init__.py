"""hccrisk's MONAI Deploy application package (``python -m deploy -i IN -o OUT``, ``python -m deploy serve``);
see docs/deploy.md."""

from pathlib import Path

#: The model bundle used unless ``HCCRISK_BUNDLE`` (app) or ``--bundle`` (service) names another.
DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "bundles" / "ceus_mp"
