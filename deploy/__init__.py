"""hccrisk's MONAI Deploy application package (``python -m deploy -i IN -o OUT``); see docs/deploy.md."""
