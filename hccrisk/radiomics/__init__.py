"""Handcrafted radiomics through pyradiomics: checked single extractions, cached parallel cohorts, counts.

    from hccrisk.radiomics import Case, extract, extract_cohort, feature_counts
    features = extract(image, mask, "zhao2024_mri")                      # one case -> Series
    table, failures = extract_cohort(cases, "chen2025_mri", "cache/")     # cohort -> DataFrame per case id

Parameter files kept in the repository: ``hccrisk/radiomics/params/{zhao2024_mri,chen2025_mri,
huang2022_ceus2d}.yaml`` (see docs/radiomics.md for their counts against the papers).
"""

from hccrisk.radiomics.cohort import Case, default_workers, extract_cohort
from hccrisk.radiomics.counts import feature_counts, parse_feature_name
from hccrisk.radiomics.extraction import extract, extract_phases, with_prefix
from hccrisk.radiomics.parameters import PARAMS_DIR, available_params, load_params, resolve_params

__all__ = [
    "Case",
    "PARAMS_DIR",
    "available_params",
    "default_workers",
    "extract",
    "extract_cohort",
    "extract_phases",
    "feature_counts",
    "load_params",
    "parse_feature_name",
    "resolve_params",
    "with_prefix",
]
