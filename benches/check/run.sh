#!/usr/bin/env bash
# `berth check` against kubeconform on the same 10,000 generated objects, in one run.
#
#   benches/check/run.sh [OBJECTS]        # default 10000
#
# Method: generate.py writes OBJECTS objects (Deployments, StatefulSets, Services, ConfigMaps,
# HPAs, PVCs; 100 per file) and, from the same kubernetes-validate wheel berth's embedded
# schemas are built from, kubeconform schemas for those kinds (strict, Kubernetes 1.34, read
# from a local directory: no network). The two tools then run alternately (berth, kubeconform,
# berth, ...) RUNS times each (default 5) under /usr/bin/time -v, so that load from elsewhere
# on a shared machine hits both alike; the medians of wall time, CPU time (user + system) and
# peak RSS are reported, with the ratios berth / kubeconform. Peak RSS does not depend on the
# load; wall time does, CPU time much less.
# berth runs every rule (schema validation is one of them) and writes JSON to /dev/null;
# kubeconform runs `-strict -summary` with its default 4 workers.
#
# Needs: python3, pip (to fetch the wheel once into $KV_DIR), berth as the release archives
# ship it (the `dist` profile, built here unless BERTH is set), kubeconform (KUBECONFORM, default
# ~/.cache/berth/local/kubeconform-v0.8.0/kubeconform; build it with
# `GOFLAGS=-mod=mod go build -o /tmp/kubeconform github.com/yannh/kubeconform/cmd/kubeconform`
# inside testbed/go/peers). Set KEEP=1 to reuse the inputs of a previous run in $WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
objects="${1:-10000}"
runs="${RUNS:-5}"
work="${WORK:-/tmp/berth-bench-check-$objects}"
kv_dir="${KV_DIR:-/tmp/kv}"
wheel="$kv_dir/kubernetes_validate-1.37.0-py3-none-any.whl"
kubeconform="${KUBECONFORM:-$HOME/.cache/berth/local/kubeconform-v0.8.0/kubeconform}"

[[ -f "$wheel" ]] || pip download --no-deps kubernetes-validate==1.37.0 -d "$kv_dir" >/dev/null
[[ -x "$kubeconform" ]] || { echo "kubeconform not found at $kubeconform (set KUBECONFORM)" >&2; exit 2; }
if [[ -z "${BERTH:-}" ]]; then
  cargo build --profile dist -q -p berth-cli
  BERTH="${CARGO_TARGET_DIR:-target}/dist/berth"
fi

if [[ -z "${KEEP:-}" || ! -d "$work/stack" ]]; then
  rm -rf "$work"
  python3 benches/check/generate.py "$work" --objects "$objects" --wheel "$wheel" --k8s 1.34
fi

berth_cmd=("$BERTH" check "$work/stack" --profile eks --format json)
kubeconform_cmd=("$kubeconform" -strict -summary -kubernetes-version 1.34.0
  -schema-location "$work/schemas/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json"
  "$work/stack")

echo "== sanity: findings and validity"
"${berth_cmd[@]}" | python3 -c \
  'import json,sys; d=json.load(sys.stdin); print("berth:", len(d["findings"]), "findings", d["summary"])'
"${kubeconform_cmd[@]}" | tail -1

# sample NAME CMD...: one run under /usr/bin/time -v; appends "wall cpu rss_kb" to $work/NAME.
sample() {
  local name="$1"; shift
  /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || true
  awk -F': ' '
    /Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; wall=s}
    /User time/ {cpu+=$2} /System time/ {cpu+=$2}
    /Maximum resident set size/ {rss=$2}
    END {print wall, cpu, rss}' "$work/time.txt" >>"$work/$name"
}

# median FILE COLUMN
median() {
  sort -g -k"$2","$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
}

rm -f "$work/berth" "$work/kubeconform"
echo "== $objects objects, $runs runs each, alternated ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
for _ in $(seq "$runs"); do
  sample berth "${berth_cmd[@]}"
  sample kubeconform "${kubeconform_cmd[@]}"
done
for name in berth kubeconform; do
  printf '%-12s median wall %7.3f s (%s)   CPU %7.3f s   peak RSS %7.1f MB\n' "$name" \
    "$(median "$work/$name" 1)" "$(cut -d' ' -f1 "$work/$name" | sort -g | paste -sd' ')" \
    "$(median "$work/$name" 2)" "$(awk -v k="$(median "$work/$name" 3)" 'BEGIN{print k/1024}')"
done
awk -v bw="$(median "$work/berth" 1)" -v kw="$(median "$work/kubeconform" 1)" \
  -v bc="$(median "$work/berth" 2)" -v kc="$(median "$work/kubeconform" 2)" \
  -v bm="$(median "$work/berth" 3)" -v km="$(median "$work/kubeconform" 3)" \
  'BEGIN{printf "berth / kubeconform: wall %.2f   CPU %.2f   peak RSS %.2f\n", bw/kw, bc/kc, bm/km}'
