"""The ingest pipeline: scan a DICOM folder, select series by rules, preprocess, write per-patient outputs.

Entry point: :func:`hccrisk.ingest.pipeline.ingest` (CLI: ``hccrisk ingest``); layout in
docs/architecture.md ("Ingested layout"), rules in docs/ingest.md.
"""
