"""From selected series to analysis-ready arrays.

- :mod:`hccrisk.preprocess.ceus`: CEUS clips -> 2 fps timeline from injection -> phases (ceus.npz/json).
- :mod:`hccrisk.preprocess.mri`: MRI phases -> 1 mm, N4, normalised, registered to AP.
"""
