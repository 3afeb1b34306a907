"""DICOM result objects: the risk report as a Comprehensive 3D SR (``hccrisk.results.sr``) and heatmap
overlays as Secondary Capture images (``hccrisk.results.sc``), with stable UIDs."""
