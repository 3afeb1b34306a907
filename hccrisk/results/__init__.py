"""DICOM result objects: the risk report as a Comprehensive 3D SR (``hccrisk.results.sr``) and heatmap
overlays as Secondary Capture images (``hccrisk.results.sc``), with stable UIDs."""

#: Series descriptions of the result series start with these (followed by "(<model> <version>)"), so a
#: service reading a study back from the PACS can tell its own results from the images it must read.
SR_SERIES_PREFIX = "hccrisk risk report"
SC_SERIES_PREFIX = "hccrisk heatmap"


def is_result_series(series_description: str | None) -> bool:
    """True for a series of hccrisk's own results (risk SR, heatmap SCs), by its series description."""
    return str(series_description or "").startswith((SR_SERIES_PREFIX, SC_SERIES_PREFIX))
