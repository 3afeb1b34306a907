"""Regions of interest (issue 5): CEUS boxes and their tracking over the cine, the huang2022 peak frame,
MRI tumour VOIs and liver masks in the ingested space, and ROI I/O (DICOM SEG, NIfTI, box JSON/CSV).
See docs/roi.md."""
