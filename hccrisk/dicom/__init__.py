"""DICOM reading only (no pixels are changed here).

- :mod:`hccrisk.dicom.scan`: walk any folder layout, read headers, group patients/studies/series.
- :mod:`hccrisk.dicom.select`: series selection rules (CEUS cines, MRI phases by keyword and timing).
- :mod:`hccrisk.dicom.us`: US multi-frame timing, Sequence of Ultrasound Regions, frame decoding.
- :mod:`hccrisk.dicom.mr`: MR series -> SimpleITK image.
"""
