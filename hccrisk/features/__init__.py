"""Feature selection as scikit-learn selectors (SPEC section 4; docs/models.md).

Every selector learns only from the data passed to ``fit`` (so inside a ``Pipeline`` it sees the
training split only), keeps a boolean ``support_``, and names its output columns
(``get_feature_names_out``; ``set_output(transform="pandas")`` keeps DataFrames).
"""

from hccrisk.features._validation import EstimatorInputError
from hccrisk.features.filters import CorrelationFilter, ICCFilter, UnivariateLogisticFilter, UnivariateTestFilter
from hccrisk.features.lasso import LassoSelector, logistic_lambda_max, logistic_lasso_path
from hccrisk.features.mrmr import MRMRSelector, mrmr_order

__all__ = [
    "EstimatorInputError", "ICCFilter", "UnivariateTestFilter", "CorrelationFilter", "UnivariateLogisticFilter",
    "MRMRSelector", "mrmr_order", "LassoSelector", "logistic_lasso_path", "logistic_lambda_max",
]
