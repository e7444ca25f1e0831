#!/usr/bin/env bash
# `berth check` against kubeconform on the same 10,000 generated objects, in one run.
#
#   benches/check/run.sh [OBJECTS]        # default 10000
#
# Method: generate.py writes OBJECTS objects (Deployments, StatefulSets, Services, ConfigMaps,
# HPAs, PVCs; 100 per file) and, from the same kubernetes-validate wheel berth's embedded
# schemas are built from, kubeconform schemas for those kinds (strict, Kubernetes 1.34, read
# from a local directory: no network). Each tool runs RUNS times (default 3) under
# /usr/bin/time -v; the best wall time and its peak RSS are reported, with the ratio.
# berth runs every rule (schema validation is one of 26) and writes JSON to /dev/null;
# kubeconform runs `-strict -summary` with its default 4 workers.
#
# Needs: python3, pip (to fetch the wheel once into $KV_DIR), a release build of berth
# (built here unless BERTH is set), kubeconform (KUBECONFORM, default
# ~/.cache/berth/local/kubeconform-v0.8.0/kubeconform; build it with
# `GOFLAGS=-mod=mod go build -o /tmp/kubeconform github.com/yannh/kubeconform/cmd/kubeconform`
# inside testbed/go/peers).
set -euo pipefail
cd "$(dirname "$0")/../.."
objects="${1:-10000}"
runs="${RUNS:-3}"
work="${WORK:-/tmp/berth-bench-check}"
kv_dir="${KV_DIR:-/tmp/kv}"
wheel="$kv_dir/kubernetes_validate-1.37.0-py3-none-any.whl"
kubeconform="${KUBECONFORM:-$HOME/.cache/berth/local/kubeconform-v0.8.0/kubeconform}"

[[ -f "$wheel" ]] || pip download --no-deps kubernetes-validate==1.37.0 -d "$kv_dir" >/dev/null
[[ -x "$kubeconform" ]] || { echo "kubeconform not found at $kubeconform (set KUBECONFORM)" >&2; exit 2; }
if [[ -z "${BERTH:-}" ]]; then
  cargo build --release -q -p berth-cli
  BERTH="${CARGO_TARGET_DIR:-target}/release/berth"
fi

rm -rf "$work"
python3 benches/check/generate.py "$work" --objects "$objects" --wheel "$wheel" --k8s 1.34

# measure NAME CMD...: best-of-$runs wall seconds and the peak RSS (KB) of that run.
measure() {
  local name="$1"; shift
  local best="" rss=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || true
    local wall kb
    wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/time.txt")"
    kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
    if [[ -z "$best" ]] || awk -v a="$wall" -v b="$best" 'BEGIN{exit !(a<b)}'; then best="$wall"; rss="$kb"; fi
  done
  printf '%-12s %8.3f s   peak RSS %7.1f MB\n' "$name" "$best" "$(awk -v k="$rss" 'BEGIN{print k/1024}')"
  eval "${name//-/_}_wall=$best"
}

echo "== sanity: findings and validity"
"$BERTH" check "$work/stack" --profile eks --format json | python3 -c \
  'import json,sys; d=json.load(sys.stdin); print("berth:", len(d["findings"]), "findings", d["summary"])'
"$kubeconform" -strict -summary -kubernetes-version 1.34.0 \
  -schema-location "$work/schemas/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
  "$work/stack" | tail -1

echo "== $objects objects, best of $runs runs ($(nproc) CPUs)"
measure berth "$BERTH" check "$work/stack" --profile eks --format json
measure kubeconform "$kubeconform" -strict -summary -kubernetes-version 1.34.0 \
  -schema-location "$work/schemas/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
  "$work/stack"
awk -v b="$berth_wall" -v k="$kubeconform_wall" 'BEGIN{printf "ratio        kubeconform / berth = %.2fx\n", k/b}'
