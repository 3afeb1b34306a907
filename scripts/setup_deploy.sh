#!/usr/bin/env bash
# Create the MONAI Deploy application's own virtual environment (idempotent; fast when already done).
# Why a separate venv: `pip install --dry-run monai-deploy-app-sdk==4.0.0` into .venv changes none of
# numpy/pydicom/torch, but adds ~550 MB (holoscan-cu13, cupy, cuda-python, tritonclient, grpcio,
# protobuf) to the environment every engineer and test shares; the deploy app is a separate process and
# its image is built from this environment alone, so it gets its own: .venv-deploy.
# Usage: scripts/setup_deploy.sh        (env HCCRISK_DEPLOY_VENV overrides the folder)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${HCCRISK_DEPLOY_VENV:-.venv-deploy}
log() { printf '[setup-deploy %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
source scripts/_venv.sh

# The stamp covers this script and what it installs from: a change to any of them re-runs the installs.
if venv_up_to_date "$VENV" "$0" deploy/requirements.txt pyproject.toml; then log "deploy venv $VENV up to date"; exit 0; fi
venv_with_torch "$VENV"
pip=("$VENV/bin/python" -m pip install -q)

# holoscan needs libcudart.so.13 even on CPU; nvidia-cuda-runtime ships it inside the venv so the app
# does not depend on the host (deploy/run.sh puts its lib folder on LD_LIBRARY_PATH).
log "installing deploy/requirements.txt (monai-deploy-app-sdk, nvidia-cuda-runtime) and hccrisk"
"${pip[@]}" -r deploy/requirements.txt -e ".[test]"

"$VENV/bin/python" - <<'PY'
import numpy, pydicom, torch, highdicom, hccrisk
print("numpy", numpy.__version__, "pydicom", pydicom.__version__, "torch", torch.__version__,
      "highdicom", highdicom.__version__)
PY
deploy/run.sh -c "import monai.deploy.core as c, holoscan; print('monai-deploy core OK, holoscan', holoscan.__version__)"
venv_mark_installed "$VENV"
log "done"
