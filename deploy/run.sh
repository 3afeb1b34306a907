#!/usr/bin/env bash
# Run Python from the deploy venv with the venv's libcudart.so.13 visible to holoscan (CPU hosts have none).
# Usage: deploy/run.sh -m deploy -i IN -o OUT      (any python arguments)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
VENV=${HCCRISK_DEPLOY_VENV:-$root/.venv-deploy}
[[ -x $VENV/bin/python ]] || { echo "deploy venv $VENV missing: run scripts/setup_deploy.sh" >&2; exit 2; }
cudart=$("$VENV/bin/python" -c 'import nvidia.cu13, os; print(os.path.join(list(nvidia.cu13.__path__)[0], "lib"))' 2>/dev/null \
  || "$VENV/bin/python" -c 'import nvidia.cuda_runtime, os; print(os.path.join(list(nvidia.cuda_runtime.__path__)[0], "lib"))')
# holoscan asks for a 32 MiB stack (it warns of crashes below); raise the soft limit where allowed.
ulimit -s 32768 2>/dev/null || true
export LD_LIBRARY_PATH="$cudart${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd "$root"
exec "$VENV/bin/python" "$@"
