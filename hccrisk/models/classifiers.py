"""The classifiers the papers compare (zhao2024: LR, SVM, kNN, XGBoost, MLP) behind one factory, the
usual radiomics pipeline (z-scoring with training statistics -> selectors -> classifier) and the
training-vs-validation comparison table."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from hccrisk.features._validation import EstimatorInputError
from hccrisk.stats import auc_ci, delong_unpaired

__all__ = ["CLASSIFIERS", "make_classifier", "make_pipeline_model", "compare_classifiers"]

CLASSIFIERS = ("lr", "svm", "knn", "xgboost", "mlp")


def make_classifier(name: str, random_state: int | None = None, **params: Any) -> BaseEstimator:
    """An unfitted classifier with ``predict_proba``; ``params`` override the defaults below.

    - "lr": ``LogisticRegression`` (L2, C=1; for the unpenalised score model use ``LinearScore``)
    - "svm": ``SVC(kernel="rbf")`` with Platt scaling on 5-fold CV decision values
      (``CalibratedClassifierCV(method="sigmoid", ensemble=False)``; ``params`` go to the SVC)
    - "knn": ``KNeighborsClassifier(n_neighbors=5)``
    - "xgboost": ``xgboost.XGBClassifier`` (200 trees, depth 3, eta 0.05, subsample 0.8, 1 thread)
    - "mlp": ``MLPClassifier`` (one hidden layer of 32 ReLU units, L-BFGS, L2 alpha 1e-2)
    """
    if name == "lr":
        return LogisticRegression(**{"max_iter": 5000, "random_state": random_state, **params})
    if name == "svm":
        # Platt scaling as SVC(probability=True) did (deprecated in scikit-learn 1.9): sigmoid fitted
        # on 5-fold cross-validated decision values, one SVC refitted on all data
        svc = SVC(**{"kernel": "rbf", "random_state": random_state, **params})
        return CalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False)
    if name == "knn":
        return KNeighborsClassifier(**{"n_neighbors": 5, **params})
    if name == "xgboost":
        from xgboost import XGBClassifier  # optional heavy import only when asked for

        defaults = {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8,
                    "n_jobs": 1, "random_state": 0 if random_state is None else random_state, "eval_metric": "logloss"}
        return XGBClassifier(**{**defaults, **params})
    if name == "mlp":
        # lbfgs: sklearn's advice for small data sets; Adam with early stopping underfits ~100 patients
        defaults = {"hidden_layer_sizes": (32,), "solver": "lbfgs", "alpha": 1e-2, "max_iter": 2000,
                    "random_state": random_state}
        return MLPClassifier(**{**defaults, **params})
    raise EstimatorInputError("classifier", f"unknown name {name!r}; choose one of {CLASSIFIERS}")


def make_pipeline_model(selectors: Sequence[tuple[str, BaseEstimator]], classifier: str | BaseEstimator = "lr",
                        random_state: int | None = None) -> Pipeline:
    """``Pipeline``: StandardScaler (training mean/SD only) -> ``selectors`` (name, selector) in order
    -> ``classifier`` (a ``make_classifier`` name or an estimator). DataFrames stay DataFrames between
    steps, so the selected feature names can be read from the fitted steps."""
    clf = make_classifier(classifier, random_state) if isinstance(classifier, str) else classifier
    pipe = Pipeline([("scale", StandardScaler()), *selectors, ("classifier", clf)])
    return pipe.set_output(transform="pandas")


def compare_classifiers(
    X_train: Any, y_train: Any, X_val: Any, y_val: Any,
    selectors: Sequence[tuple[str, BaseEstimator]] = (), names: Sequence[str] = CLASSIFIERS,
    random_state: int | None = None,
) -> pd.DataFrame:
    """zhao2024's comparison: each classifier in ``make_pipeline_model(selectors, name)`` fitted on the
    training cohort; one row per classifier with AUC (DeLong 95% CI) in training and validation and the
    unpaired DeLong test between the two cohorts (a small p flags overfitting)."""
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    rows = []
    for name in names:
        model = make_pipeline_model([(n, clone(s)) for n, s in selectors], name, random_state).fit(X_train, y_train)
        p_train, p_val = model.predict_proba(X_train)[:, 1], model.predict_proba(X_val)[:, 1]
        a_train, a_val = auc_ci(y_train, p_train), auc_ci(y_val, p_val)
        rows.append({"classifier": name, "auc_train": a_train.auc, "low_train": a_train.low, "high_train": a_train.high,
                     "auc_validation": a_val.auc, "low_validation": a_val.low, "high_validation": a_val.high,
                     "delong_p_train_vs_validation": delong_unpaired(y_train, p_train, y_val, p_val).p_value})
    return pd.DataFrame(rows)
