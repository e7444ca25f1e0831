#!/usr/bin/env bash
# Installs moto's server mode (PyPI `moto[server]`, pinned), the local AWS endpoint the AWS
# tests start on 127.0.0.1 (crates/berth-cli/tests/aws.rs), into ~/.cache/berth/venv-moto.
# Idempotent: does nothing when that version is there. Needs python3 with venv.
set -euo pipefail
venv="${BERTH_MOTO_VENV:-$HOME/.cache/berth/venv-moto}"
version=5.2.5
if [[ -x "$venv/bin/moto_server" ]] && "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$version')" 2>/dev/null; then
  exit 0
fi
echo "berth: installing moto[server]==$version into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q "moto[server]==$version"
