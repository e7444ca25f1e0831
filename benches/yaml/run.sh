#!/usr/bin/env bash
# berth-yaml's MB/s beside libyaml's (PyYAML's CSafeLoader), same files, same run.
#
#   benches/yaml/run.sh [OBJECTS]        # default 10000 (about 2.4 MB of manifests)
#
# Method: benches/check/generate.py writes OBJECTS Kubernetes objects in files of 100
# documents (the `berth check` benchmark's input). Both readers load every file into memory
# first, then parse all files once per round on one thread, ROUNDS rounds (default 5), and
# print the median round; the two tools alternate PAIRS times (default 3) so that a load
# from elsewhere on the machine hits both alike. Two figures each: the events alone
# (granit-parser's / libyaml's scanner and parser) and the full reader (berth-yaml: JSON
# values with kubectl's YAML 1.1 scalar rules and a position for every node; PyYAML: Python
# values with CSafeLoader).
#
# Needs: python3 with venv, a release build of the example (built here unless YAML_MBPS is
# set), PyYAML with libyaml (installed into $VENV, default ~/.cache/berth/venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
objects="${1:-10000}"
rounds="${ROUNDS:-5}"
pairs="${PAIRS:-3}"
work="${WORK:-/tmp/berth-bench-yaml}"
venv="${VENV:-$HOME/.cache/berth/venv}"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pyyaml
fi
if [[ -z "${YAML_MBPS:-}" ]]; then
  cargo build --release -q -p berth-yaml --example yaml_mbps
  YAML_MBPS="${CARGO_TARGET_DIR:-target}/release/examples/yaml_mbps"
fi

rm -rf "$work"
python3 benches/check/generate.py "$work" --objects "$objects" >/dev/null
files=("$work"/stack/*.yaml)

echo "== ${#files[@]} files, $objects objects; median of $rounds rounds, $pairs pairs alternated ($(nproc) CPUs)"
for i in $(seq "$pairs"); do
  echo "-- pair $i"
  "$YAML_MBPS" --rounds "$rounds" "${files[@]}" | grep -v '^input' || true
  "$venv/bin/python" benches/yaml/libyaml_mbps.py --rounds "$rounds" "${files[@]}" | grep -v '^input' || true
done
"$YAML_MBPS" --rounds 1 "${files[@]}" | grep '^input'
"$venv/bin/python" benches/yaml/libyaml_mbps.py --rounds 1 "${files[@]}" | grep '^input'
rm -rf "$work"
