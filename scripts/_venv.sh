# Shared by the set-up scripts (sourced, not run): one virtual environment per server process, each with
# torch==2.13.0 installed FIRST (the CPU wheel on disk; a bare or newer torch requirement would pull a
# multi-GB CUDA build), and a stamp so a re-run with nothing changed installs nothing.
# The caller defines log().

# venv_up_to_date VENV FILE...: true when VENV was installed from these very FILEs (sets VENV_WANT).
venv_up_to_date() {
  local venv=$1; shift
  VENV_WANT=$(cat "$@" | sha256sum | cut -c1-16)
  [[ -f $venv/.hccrisk-stamp && $(cat "$venv/.hccrisk-stamp") == "$VENV_WANT" ]]
}

# venv_with_torch VENV: create VENV if needed, upgrade the packaging tools, install torch first.
venv_with_torch() {
  local venv=$1
  [[ -x $venv/bin/python ]] || { log "creating $venv"; "${PYTHON:-python3}" -m venv "$venv"; }
  "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
  log "installing torch==2.13.0"
  "$venv/bin/python" -m pip install -q torch==2.13.0
}

# venv_mark_installed VENV: record the stamp computed by venv_up_to_date.
venv_mark_installed() { echo "$VENV_WANT" > "$1/.hccrisk-stamp"; }
