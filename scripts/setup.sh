#!/usr/bin/env bash
# Set up everything hccrisk needs on a fresh Debian 12 machine (idempotent; fast when already done):
#   system packages (DICOM tools, R for the statistics tests, Orthanc for the PACS tests),
#   the virtual environment .venv with torch==2.13.0 installed FIRST (the CPU wheel), then hccrisk;
#   .venv-label (MONAI Label server) and .venv-deploy (MONAI Deploy app), see their scripts.
# Usage: scripts/setup.sh [--no-system]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${HCCRISK_VENV:-.venv}
SYSTEM_PACKAGES=(
  dicom3tools dcmtk                      # dciodvfy; storescu/findscu as outside DICOM clients
  orthanc orthanc-dicomweb               # the PACS the deploy and label tests talk to
  r-base-core r-cran-proc r-cran-rms r-cran-survival r-cran-cmprsk r-cran-psych r-cran-glmnet
  chromium                               # headless browser: OHIF test (Playwright drives it), report screenshots
)

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
source scripts/_venv.sh

install_system() {
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    [[ $p == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then log "system packages present"; return; fi
  if [[ $(id -u) != 0 ]]; then
    log "missing system packages (${missing[*]}); run as root or install them with apt-get"; exit 1
  fi
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_venv() {
  if venv_up_to_date "$VENV" pyproject.toml; then log "venv $VENV up to date"; return; fi
  venv_with_torch "$VENV"
  log "installing hccrisk and its dependencies"
  "$VENV/bin/python" -m pip install -q -e ".[test]"
  venv_mark_installed "$VENV"
}

if [[ ${1:-} != --no-system ]]; then install_system; fi
install_venv
# The MONAI Label server needs pydicom<3 / numpy<2: its own environment (.venv-label).
bash scripts/setup_label.sh
# The MONAI Deploy app (holoscan, CUDA runtime for CPU runs): its own environment (.venv-deploy).
bash scripts/setup_deploy.sh
log "done"
