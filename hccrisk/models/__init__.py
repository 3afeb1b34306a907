"""Classifiers, scores, clinical and nomogram models, cohort split (SPEC section 4; docs/models.md)."""

from hccrisk.models.classifiers import CLASSIFIERS, compare_classifiers, make_classifier, make_pipeline_model
from hccrisk.models.clinical import PAPER_RULES, ClinicalModel
from hccrisk.models.nomogram import NomogramModel
from hccrisk.models.scores import LinearScore
from hccrisk.models.split import CohortSplit, split_cohort

__all__ = ["CLASSIFIERS", "compare_classifiers", "make_classifier", "make_pipeline_model", "LinearScore", "ClinicalModel", "PAPER_RULES",
           "NomogramModel", "CohortSplit", "split_cohort"]
