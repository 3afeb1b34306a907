"""Classifiers, scores, clinical and nomogram models, cohort split (SPEC section 4; docs/models.md).

The names are imported on first use: the deploy app imports only ``hccrisk.models.nomogram_file``, and
importing every model here (scikit-learn pipelines, feature selection, statistics) cost its start-up
0.5-0.9 s of CPU.
"""

from importlib import import_module

_WHERE = {"CLASSIFIERS": "classifiers", "compare_classifiers": "classifiers", "make_classifier": "classifiers",
          "make_pipeline_model": "classifiers", "PAPER_RULES": "clinical", "ClinicalModel": "clinical",
          "NomogramModel": "nomogram", "LinearScore": "scores", "CohortSplit": "split", "split_cohort": "split"}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"hccrisk.models.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'hccrisk.models' has no attribute {name!r}")
