#!/usr/bin/env bash
# Build the deploy app's container image without a daemon or a registry, then run it on a synthetic study.
#
#   scripts/build_image.sh [--bundle DIR | --demo-bundle] [--rev REV] [--tag NAME:VERSION] [--work DIR]
#                          [--skip-build] [--skip-run] [--skip-service] [--clean]
#
# --rev REV builds the code of that commit (`git archive REV`, e.g. HEAD) instead of the working tree: an
# image that matches a commit, and a build that edits in the tree (a shared checkout) cannot reach.
#
# Steps (each prints the free disk first; the build needs ~10 GB free, see docs/deploy.md):
#   1. bundle : DIR (default bundles/ceus_mp) must hold models/model.ts + model.pt (`hccrisk train ceus`) and
#               nomogram.json; --demo-bundle trains one here instead (40 synthetic patients, 5 epochs).
#   2. stage  : the CPU torch wheel and a copy of the bundle into build/image/ of the build context (the
#               repository root, git-ignored there; or WORK/context with --rev).
#   3. base   : Debian bookworm by debootstrap (minbase) -> localhost/debian:bookworm-minbase (kept; made once).
#   4. build  : buildah bud (vfs storage, chroot isolation, one committed layer) of deploy/Dockerfile.
#   5. run    : podman runs the image's entry point on a synthetic CEUS study folder -> SR + SC; dciodvfy.
#   6. service: Orthanc on 127.0.0.1, the image's `serve` with host network, a study sent, SR + SC back.
# --skip-build runs steps 5-6 on the image already built. --clean removes the image, the working
# containers and build/image/ (the base image is kept).
#
# Needs (Debian): buildah, podman, runc, debootstrap, dcmtk, dicom3tools, orthanc + orthanc-dicomweb,
# and the project's .venv (synthetic data, reading the SR). Runs as root (vfs storage, chroot isolation).
set -euo pipefail
{ # the whole script is read before it runs: editing it while a build runs cannot derail that build
cd "$(dirname "$0")/.."
root=$PWD

BUNDLE=bundles/ceus_mp DEMO_BUNDLE=0 TAG=localhost/hccrisk-deploy:0.1.0 WORK=/tmp/hccrisk-image
RUN_APP=1 RUN_SERVICE=1 CLEAN=0 REV= BUILD=1
BASE=localhost/debian:bookworm-minbase MIN_FREE_GB=10
while (($#)); do
  case $1 in
    --bundle) BUNDLE=$2; shift 2 ;;
    --demo-bundle) DEMO_BUNDLE=1; shift ;;
    --tag) TAG=$2; shift 2 ;;
    --rev) REV=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --skip-run) RUN_APP=0; RUN_SERVICE=0; shift ;;
    --skip-service) RUN_SERVICE=0; shift ;;
    --skip-build) BUILD=0; shift ;;
    --clean) CLEAN=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[build-image %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { echo "error: $*" >&2; exit 1; }
free_gb() { df -BG --output=avail / | tail -1 | tr -dc 0-9; }
disk() { log "disk: $(free_gb) GB free on / (container storage: $(du -sh /var/lib/containers/storage 2>/dev/null | cut -f1))"; }
# vfs: overlay is not available here; chroot isolation: no OCI runtime needed for RUN steps.
BUILDAH=(buildah --storage-driver vfs)
# podman (rootful) in this sandbox: runc (crun refuses its hybrid cgroups), cgroupfs, no default ulimits
# (raising RLIMIT_NOFILE/NPROC above the sandbox's hard limits is refused), events to a file.
export CONTAINERS_CONF=$WORK/containers.conf
PODMAN=(podman --runtime runc --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
PY=$root/.venv/bin/python
mkdir -p "$WORK"
printf '[containers]\ndefault_ulimits = []\n' > "$CONTAINERS_CONF"

if ((CLEAN)); then
  "${BUILDAH[@]}" rm --all >/dev/null || true
  "${BUILDAH[@]}" rmi "$TAG" 2>/dev/null || true
  rm -rf build/image "$WORK"
  disk; exit 0
fi
[[ $(id -u) == 0 ]] || die "run as root (vfs storage and chroot isolation need it here)"
for tool in buildah debootstrap; do command -v $tool >/dev/null || die "$tool missing: apt-get install $tool"; done
((RUN_APP == 0)) || for tool in podman runc dciodvfy; do command -v $tool >/dev/null \
  || die "$tool missing (apt-get install podman runc dicom3tools; or --skip-run)"; done
[[ -x $PY ]] || die "$PY missing: run scripts/setup.sh"

# The image's `serve` next to a real Orthanc on 127.0.0.1 (host network): a study sent to Orthanc by DIMSE,
# the service (polling Orthanc's stable studies) stores the SR + SCs back by STOW-RS; QIDO-RS finds them.
service_check() {
  local http dicom uid qido found=0 t
  read -r http dicom < <("$PY" -c 'from hccrisk.pacs.orthanc_server import free_port as f; a = f(); b = f()
while b == a: b = f()
print(a, b)')
  rm -rf "$WORK/orthanc" "$WORK/service" && mkdir -p "$WORK/service" && chmod 777 "$WORK/service"
  "$PY" -m hccrisk.pacs.orthanc_server --storage "$WORK/orthanc" --http-port "$http" --dicom-port "$dicom" \
    --stable-age 2 >"$WORK/orthanc.log" 2>&1 &
  ORTHANC_PID=$!   # global: the EXIT trap runs outside this function
  trap '"${PODMAN[@]}" rm -f hccrisk-service >/dev/null 2>&1 || true; kill $ORTHANC_PID 2>/dev/null || true' EXIT
  for t in $(seq 60); do curl -sf "http://127.0.0.1:$http/system" >/dev/null && break; sleep 1; done
  log "Orthanc on 127.0.0.1:$http (HTTP) / $dicom (DICOM); the service in the image polls it"
  "${PODMAN[@]}" run -d --name hccrisk-service --ulimit host --network host -v "$WORK/service:/var/lib/hccrisk" \
    -v "$WORK/study/clinical.csv:/srv/clinical.csv:ro" "$TAG" serve --work /var/lib/hccrisk \
    --orthanc "http://127.0.0.1:$http" --clinical /srv/clinical.csv --poll 2 >/dev/null
  # The service starts after Orthanc's newest change: send the study only once it polls.
  for t in $(seq 180); do "${PODMAN[@]}" logs hccrisk-service 2>&1 | grep -q 'serving:' && break; sleep 1; done
  .venv/bin/hccrisk pacs send "$WORK"/study/*.dcm --to "ORTHANC@127.0.0.1:$dicom" >/dev/null
  uid=$("$PY" -c 'import sys, pydicom; print(pydicom.dcmread(sys.argv[1], stop_before_pixels=True).StudyInstanceUID)' "$WORK/study/roi_sr.dcm")
  qido="http://127.0.0.1:$http/dicom-web/studies/$uid/series?includefield=SeriesDescription"
  start=$(date +%s)
  for t in $(seq 300); do
    if curl -sf "$qido" | grep -q 'hccrisk risk report' && curl -sf "$qido" | grep -q 'hccrisk heatmap'; then found=1; break; fi
    sleep 2
  done
  "${PODMAN[@]}" logs hccrisk-service >"$WORK/service.log" 2>&1 || true
  grep -E 'analysed|stored|NOT' "$WORK/service.log" | tail -5
  ((found)) || die "no SR/SC in Orthanc after 600 s: $WORK/service.log"
  log "SR + SC in Orthanc $(( $(date +%s) - start )) s after the study was sent; series of the study:"
  curl -sf "$qido" | "$PY" -c 'import json, sys
for s in json.load(sys.stdin): print("   ", s["00080060"]["Value"][0], s.get("0008103E", {}).get("Value", [""])[0])'
  "${PODMAN[@]}" rm -f hccrisk-service >/dev/null; kill $ORTHANC_PID; wait $ORTHANC_PID 2>/dev/null || true; trap - EXIT
}

if ((BUILD)); then
# -- 1. bundle -------------------------------------------------------------------------------------------
if ((DEMO_BUNDLE)); then
  BUNDLE=$WORK/demo-bundle/ceus_mp
  if [[ ! -s $BUNDLE/nomogram.json ]]; then
    log "training a demo ceus_mp bundle on 40 synthetic patients (hccrisk synth, ingest, train ceus, nomogram)"
    rm -rf "$WORK/demo"; mkdir -p "$BUNDLE"
    cp -rL bundles/ceus_mp/configs bundles/ceus_mp/docs "$BUNDLE/"   # configs/ links into ceus_common
    .venv/bin/hccrisk synth --out "$WORK/demo/cohort" --patients 40 --seed 0 --modality ceus --workers 1
    .venv/bin/hccrisk ingest "$WORK/demo/cohort/dicom" --out "$WORK/demo/ingest"
    .venv/bin/hccrisk train ceus --ingest "$WORK/demo/ingest" --cohort "$WORK/demo/cohort" \
      --out "$BUNDLE/models" --model ceus_mp --label er_2y --epochs 5 --batch-size 8 --threads 1
    "$PY" -m hccrisk.models.nomogram_file --table "$WORK/demo/cohort/clinical.csv" \
      --table "$WORK/demo/cohort/outcomes.csv" --scores "$BUNDLE/models/predictions.csv" --where cohort=training \
      --label er_2y --predictors dl_score,afp,alb,child_pugh --categorical child_pugh --out "$BUNDLE/nomogram.json"
  fi
fi
for f in configs/metadata.json models/model.ts models/model.pt nomogram.json; do
  [[ -s $BUNDLE/$f ]] || die "$BUNDLE/$f missing: train the bundle (docs/deploy.md) or pass --demo-bundle"
done
log "bundle $BUNDLE: $(du -sh "$BUNDLE" | cut -f1)"

# -- 2. stage the build context's inputs (build/ is git-ignored) -------------------------------------------
wheel=${TORCH_WHEEL:-$(ls ${PIP_FIND_LINKS:-/opt/wheels}/torch-2.13.0+cpu-cp311-*.whl 2>/dev/null | head -1)}
[[ -f $wheel ]] || die "CPU torch wheel missing: set TORCH_WHEEL=/path/torch-2.13.0+cpu-cp311-*.whl"
context=$root
if [[ -n $REV ]]; then
  context=$WORK/context && rm -rf "$context" && mkdir -p "$context"
  git archive "$REV" | tar -x -C "$context"
  log "build context: $REV = $(git rev-parse --short "$REV") (git archive)"
fi
rm -rf "$context/build/image" && mkdir -p "$context/build/image/wheels" "$context/build/image/bundle"
cp "$wheel" "$context/build/image/wheels/"
cp -rL "$BUNDLE"/. "$context/build/image/bundle/"

# -- 3. base image --------------------------------------------------------------------------------------
disk
if ! "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  log "making $BASE with debootstrap (minbase bookworm from deb.debian.org, ~1 min, 200 MB)"
  rm -rf "$WORK/rootfs"
  nice -n 10 debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log"
  rm -f "$WORK"/rootfs/var/cache/apt/archives/*.deb
  ctr=$("${BUILDAH[@]}" from scratch)
  tar -C "$WORK/rootfs" -cf - . | tar -C "$("${BUILDAH[@]}" mount "$ctr")" -xpf - --numeric-owner
  "${BUILDAH[@]}" config --cmd /bin/bash "$ctr"
  "${BUILDAH[@]}" commit --rm -q "$ctr" "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
fi

# -- 4. build -------------------------------------------------------------------------------------------
(( $(free_gb) >= MIN_FREE_GB )) || die "$(free_gb) GB free: the vfs build needs ~$MIN_FREE_GB GB (working copy + committed layer)"
log "building $TAG (deps from PyPI; ~10 min)"
start=$(date +%s)
nice -n 10 "${BUILDAH[@]}" bud --isolation chroot --layers=false --ignorefile "$context/deploy/Dockerfile.dockerignore" \
  --build-arg BASE="$BASE" --build-arg WHEELS=build/image/wheels --build-arg BUNDLE=build/image/bundle \
  --secret id=pipcert,src="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" \
  -f "$context/deploy/Dockerfile" -t "$TAG" "$context" 2>&1 | tee "$WORK/build.log" | grep -E '^(STEP|COMMIT|Successfully|hccrisk image)|rror'
[[ ${PIPESTATUS[0]} == 0 ]] || die "build failed: $WORK/build.log"
log "built $TAG in $(( $(date +%s) - start )) s: $("${BUILDAH[@]}" images --format '{{.Size}}' "$TAG")"
rm -rf "$context/build/image" "$WORK/context"
disk
else
  "${BUILDAH[@]}" inspect --type image "$TAG" >/dev/null 2>&1 || die "--skip-build: no image $TAG"
fi
((RUN_APP)) || exit 0

# -- 5. the entry point on one study folder --------------------------------------------------------------
log "a synthetic CEUS study (1 patient, seed 7) and the image's entry point on it"
rm -rf "$WORK/study-cohort" "$WORK/study" "$WORK/out"
.venv/bin/hccrisk synth --out "$WORK/study-cohort" --patients 1 --seed 7 --modality ceus --workers 1 >/dev/null
"$PY" -m deploy.demo --cohort "$WORK/study-cohort" --patient SYN0001 --out "$WORK/study"
mkdir -p "$WORK/out" && chmod 777 "$WORK/out"       # the image runs as user hccrisk
start=$(date +%s)
"${PODMAN[@]}" run --rm --ulimit host --network none -v "$WORK/study:/var/holoscan/input:ro" \
  -v "$WORK/out:/var/holoscan/output" "$TAG" 2>&1 | tee "$WORK/run.log" | grep -E 'hccrisk|rror' | tail -20
[[ ${PIPESTATUS[0]} == 0 ]] || die "the app in the image failed: $WORK/run.log"
log "study -> $(ls "$WORK/out" | tr '\n' ' ') in $(( $(date +%s) - start )) s"
check_dicom() {  # dciodvfy: count the Error lines (it exits 0 with errors)
  local f n
  for f in "$@"; do
    n=$(dciodvfy "$f" 2>&1 | grep -c '^Error' || true)
    log "dciodvfy $(basename "$f"): $n errors, $(dciodvfy "$f" 2>&1 | grep -c '^Warning' || true) warnings"
    ((n == 0)) || { dciodvfy "$f" 2>&1 | grep '^Error' >&2; die "dciodvfy errors in $f"; }
  done
}
ls "$WORK"/out/SR_*.dcm >/dev/null && ls "$WORK"/out/SC_*.dcm >/dev/null || die "no SR or SC in $WORK/out"
check_dicom "$WORK"/out/*.dcm
"$PY" -c "import sys; from hccrisk.results.sr import read_risk_sr; r = read_risk_sr(sys.argv[1]);
print(f'SR read back: model {r.model_name} {r.model_version}, signature {r.imaging_signature:.6f}, risk {r.risk}, cut-off {r.cutoff}')" "$WORK"/out/SR_*.dcm
((RUN_SERVICE)) || exit 0

# -- 6. the service next to Orthanc (host network) -------------------------------------------------------
service_check
exit 0
}
