"""Feature counts per image type and feature class, from pyradiomics feature names (for the reports)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from hccrisk.errors import InputError

# pyradiomics names: [<prefix>_]<image type>_<class>_<feature>; image types are original, wavelet-<bands>,
# log-sigma-<s>-mm-3D, and the simple filters (square, gradient, lbp-2D...)
_NAME = re.compile(
    r"^(?:(?P<prefix>.+?)_)?"
    r"(?P<image>original|wavelet\d*-[LH]+|log-sigma-[\d-]+mm-[23]D|square|squareroot|logarithm|exponential|gradient"
    r"|lbp-[23]D(?:-[A-Za-z0-9]+)?)"
    r"_(?P<cls>firstorder|shape|shape2D|glcm|glrlm|glszm|gldm|ngtdm)_(?P<feature>[^_]+)$"
)
CLASS_ORDER = ["shape", "shape2D", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
TEXTURE_CLASSES = ["glcm", "glrlm", "glszm", "gldm", "ngtdm"]


def parse_feature_name(name: str) -> dict[str, str | None]:
    """``AP_wavelet-LLH_glcm_Idmn`` -> prefix ``AP``, image ``wavelet-LLH``, family ``wavelet``, class ``glcm``,
    feature ``Idmn``. Raises InputError for a name pyradiomics does not produce."""
    match = _NAME.match(name)
    if match is None:
        raise InputError(name, "not a pyradiomics feature name ([prefix_]<image type>_<class>_<feature>)")
    parts = match.groupdict()
    parts["family"] = re.split(r"[-\d]", parts["image"], maxsplit=1)[0]  # wavelet, log, original, lbp...
    return parts


def feature_counts(features: pd.Series | pd.DataFrame | Iterable[str]) -> pd.DataFrame:
    """How many features per prefix, image family and class, with totals, ready to print.

    Args:
        features: an ``extract`` Series (names in the index), a cohort DataFrame (names in the columns) or
            the names themselves.

    Returns:
        integer DataFrame indexed by (``prefix``, ``image_type``): ``image_type`` is the filter family
        (``original``, ``wavelet``, ``log``...; the number of filtered images in ``n_images``), columns
        are the classes present in ``CLASS_ORDER``, then ``texture`` (GLCM + GLRLM + GLSZM + GLDM + NGTDM)
        and ``total``; a last row (``all``, ``all``) sums everything. ``prefix`` is ``""`` without prefix.
    """
    if isinstance(features, pd.DataFrame):
        names = list(features.columns)
    elif isinstance(features, pd.Series):
        names = list(features.index)
    else:
        names = list(features)
    parsed = pd.DataFrame([parse_feature_name(n) for n in names], columns=["prefix", "image", "family", "cls"])
    if parsed.empty:
        return pd.DataFrame(columns=["n_images", "texture", "total"])
    parsed["prefix"] = parsed["prefix"].fillna("")
    table = pd.crosstab([parsed["prefix"], parsed["family"]], parsed["cls"])
    table = table[[c for c in CLASS_ORDER if c in table.columns]]
    table.insert(0, "n_images", parsed.groupby(["prefix", "family"])["image"].nunique())
    # rows in order of first appearance (original before wavelet before log, as pyradiomics writes them)
    order = list(dict.fromkeys(zip(parsed["prefix"], parsed["family"])))
    table = table.loc[order]
    table["texture"] = table[[c for c in TEXTURE_CLASSES if c in table.columns]].sum(axis=1)
    table["total"] = table[[c for c in CLASS_ORDER if c in table.columns]].sum(axis=1)
    table.loc[("all", "all"), :] = table.sum()
    table.index.names = ["prefix", "image_type"]
    table.columns.name = None
    return table.astype(int)
