"""Synthetic cohort generator: latent model, clinical variables, outcomes, CEUS and MRI DICOM writers,
ground-truth ROIs. Entry point: :func:`hccrisk.synth.cohort.generate_cohort` (CLI ``hccrisk synth``).
The generative model is documented in docs/synthetic.md."""
