#!/usr/bin/env bash
# Create the MONAI Label server's own virtual environment (idempotent; fast when already done).
# MONAI Label 0.8.5 needs pydicom<3 / pynetdicom<3 / numpy 1.26 (its pydicom-seg dependency), while
# hccrisk's main venv has pydicom 3; so the label server runs from .venv-label (see docs/label.md).
# Usage: scripts/setup_label.sh          (env HCCRISK_LABEL_VENV overrides the folder)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${HCCRISK_LABEL_VENV:-.venv-label}
log() { printf '[setup-label %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
source scripts/_venv.sh

# The stamp covers this script and what it installs from: a change to any of them re-runs the installs.
if venv_up_to_date "$VENV" "$0" pyproject.toml; then log "label venv $VENV up to date"; exit 0; fi
venv_with_torch "$VENV"
pip=("$VENV/bin/python" -m pip install -q)

constraints="$VENV/constraints.txt"
cat > "$constraints" <<'EOF'
torch==2.13.0
pydicom<3
pynetdicom<3
numpy>=1.26,<2
EOF

# sam2 (a monailabel dependency) is source-only: build it without CUDA and against the installed torch.
log "installing monailabel==0.8.5 and dcmqi"
SAM2_BUILD_CUDA=0 "${pip[@]}" --no-build-isolation -c "$constraints" monailabel==0.8.5 dcmqi
# torchvision's wheel is built for another torch; only monailabel.transform.post.Restored imports it,
# and the app keeps that out.
"$VENV/bin/python" -m pip uninstall -q -y torchvision || true

# hccrisk itself without its dependencies (its pins want pydicom 3), plus the subset that works with
# pydicom 2 / numpy 1.26. highdicom 0.22 is the last release on pydicom 2.
log "installing hccrisk (no deps) and its pydicom-2-compatible dependencies"
"${pip[@]}" -c "$constraints" \
  "SimpleITK>=2.3" "scipy>=1.11" "pandas>=2.1" "nibabel>=5" "pillow>=10" "pyyaml>=6" "typer>=0.12" \
  "tqdm>=4.66" "scikit-learn>=1.4" "highdicom==0.22.0" "pylibjpeg>=2.0" "pylibjpeg-libjpeg>=2.1" \
  "pylibjpeg-openjpeg>=2.3" "dicomweb-client>=0.59" "monai>=1.4,<1.6" "pytest>=8"
"${pip[@]}" --no-deps -e .

"$VENV/bin/python" -c "import monailabel, hccrisk.roi; print('monailabel', monailabel.__version__)"
venv_mark_installed "$VENV"
log "done"
