#!/usr/bin/env bash
# `berth simulate` measured against the real controllers on the local cluster, in one run.
#
#   benches/autoscaling/run.sh [--minutes N] [--nodes karpenter] [--name CLUSTER] [--keep]
#
# Method: one stack (stack/: `web` and `worker`, each with a CPU HPA) and one ramp-and-step
# load (written by this script, its times scaled to --minutes, 20 by default) run twice:
# 1. `berth simulate` with the local cluster's timing: HPA sync 5s (the local
#    kube-controller-manager's `--horizontal-pod-autoscaler-sync-period`), 5s steps, pods
#    Ready 2s after placement, nodes Ready 5s after launch (kwok nodes register at once);
# 2. the local cluster: `berth up` of the stack, then `berth local load` plays the same load
#    (kwok's emulated usage → metrics-server → the real HPA), while this script samples every
#    workload's `spec.replicas` and the node count every 5s into observed.csv.
# Then `berth simulate --observed observed.csv` prints both timelines side by side with their
# differences — per workload the largest replica difference once neither side changed for
# 30s, the time offsets of paired scale events, node counts and node-hours — and writes
# observed.png. With `--nodes karpenter` the stack is stack-karpenter/ (the same workloads,
# their pods selecting its NodePool `bench`), the cluster runs Karpenter (`berth local up
# --autoscaler karpenter`) and the simulation models it, with the NodePool's two kwok
# instance types given as a price file (prices.csv, written here with the sizes and prices of
# berth-local's instance-types file).
# Output goes to $OUT (default target/autoscaling/<time>): load.csv, observed.csv,
# simulated/ (timeline.csv, report.json, charts), observed.json, observed.png, comparison.txt.
# Needs: kubectl and jq on PATH, Go for the first `berth local up` (see README), a release
# build of berth (built here unless BERTH is set).
set -euo pipefail
cd "$(dirname "$0")/../.."

minutes=20
nodes=""
name="${BERTH_LOCAL_NAME:-bench-autoscaling}"
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--minutes N] [--nodes karpenter] [--name CLUSTER] [--keep]" >&2; exit 2 ;;
  esac
done
[[ "$minutes" =~ ^[0-9]+$ && "$minutes" -ge 2 ]] || { echo "--minutes must be a whole number of at least 2" >&2; exit 2; }
[[ -z "$nodes" || "$nodes" == karpenter ]] || { echo "--nodes takes only karpenter (the default is the fixed nodes)" >&2; exit 2; }
for tool in kubectl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is needed on PATH" >&2; exit 2; }
done
if [[ -z "${BERTH:-}" ]]; then
  cargo build --release -q -p berth-cli
  BERTH="${CARGO_TARGET_DIR:-target}/release/berth"
fi
out="${OUT:-target/autoscaling/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
stack=benches/autoscaling/stack
[[ "$nodes" == karpenter ]] && stack=benches/autoscaling/stack-karpenter
ns=autoscaling-bench
duration=$((minutes * 60))

# The load, times as fractions of the run: web ramps from 150m to 900m between 5% and 40%,
# steps to 1500m at 60% and drops to 200m at 80%; worker steps from 200m to 1000m at 30% and
# drops to 300m at 70%.
awk -v d="$duration" 'BEGIN {
  print "time_s,workload,cpu_millicores"
  t = d * 0.05; printf "0,web,150\n%d,web,150\n", t
  printf "%d,web,900\n%d,web,900\n%d,web,1500\n", d * 0.40, d * 0.60, d * 0.60 + 1
  printf "%d,web,1500\n%d,web,200\n%d,web,200\n", d * 0.80, d * 0.80 + 1, d
  printf "0,worker,200\n%d,worker,200\n%d,worker,1000\n", d * 0.30, d * 0.30 + 1
  printf "%d,worker,1000\n%d,worker,300\n%d,worker,300\n", d * 0.70, d * 0.70 + 1, d
}' > "$out/load.csv"

sim_args=(--load "$out/load.csv" --duration "${minutes}m" --step 5s --hpa-sync 5s
  --pod-ready 2s --node-startup 5s)
up_args=()
if [[ "$nodes" == karpenter ]]; then
  # The instance types the NodePool allows are the kwok provider's: their sizes and prices as
  # berth-local writes them ($0.025 per vCPU-hour plus $0.001 per GB-hour; pods 16 per vCPU).
  {
    echo "instance_type,usd_per_hour,vcpu,memory_gib,max_pods"
    for cpu in 2 4; do
      awk -v c="$cpu" 'BEGIN { printf "c-%dx-amd64-linux,%.6f,%d,%d,%d\n", c, 0.025 * c + 0.001 * 2 * c * 1.073741824, c, 2 * c, 16 * c }'
    done
  } > "$out/prices.csv"
  sim_args+=(--nodes karpenter --prices "$out/prices.csv")
  up_args+=(--autoscaler karpenter)
fi

echo "== local cluster $name ${up_args[*]:-}"
"$BERTH" local up --name "$name" "${up_args[@]}" >/dev/null
KUBECONFIG="$("$BERTH" local kubeconfig --name "$name")"
export KUBECONFIG

cleanup() {
  [[ -n "${sampler:-}" ]] && kill "$sampler" 2>/dev/null || true
  "$BERTH" down --yes --purge "$stack" >/dev/null 2>&1 || true
  if [[ "$keep" == 0 ]]; then "$BERTH" local down --name "$name" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

echo "== berth up"
"$BERTH" up --yes --timeout 5m "$stack" >/dev/null

# sample START: every 5s, seconds since START, each workload's spec.replicas, the nodes.
sample() {
  local start="$1"
  echo "time_s,web:replicas,worker:replicas,nodes_total"
  while true; do
    local now replicas count
    now="$(date +%s.%N)"
    replicas="$(kubectl get deployments -n "$ns" -o json \
      | jq -r '[(.items[] | select(.metadata.name=="web") | .spec.replicas), (.items[] | select(.metadata.name=="worker") | .spec.replicas)] | map(tostring) | join(",")')"
    count="$(kubectl get nodes --no-headers 2>/dev/null | wc -l)"
    awk -v n="$now" -v s="$start" -v r="$replicas" -v c="$count" 'BEGIN { printf "%d,%s,%d\n", n - s + 0.5, r, c }'
    sleep 5
  done
}

echo "== load for ${minutes}m on the cluster (sampling every 5s)"
start="$(date +%s.%N)"
sample "$start" > "$out/observed.csv" &
sampler=$!
"$BERTH" local load --name "$name" "$stack" --load "$out/load.csv" --duration "${minutes}m" --tick 1s 2> "$out/load.log"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""

echo "== simulated vs observed"
status=0
"$BERTH" simulate "$stack" "${sim_args[@]}" --observed "$out/observed.csv" --out "$out/simulated" \
  > "$out/comparison.txt" 2> "$out/simulate.log" || status=$?
# Exit 1 is data loss in the simulation (none in this stack); 2 is bad input.
[[ "$status" -le 1 ]] || { cat "$out/simulate.log" >&2; exit "$status"; }
mv -f "$out/simulated/observed.json" "$out/simulated/observed.png" "$out/" 2>/dev/null || true
sed -n '/^Simulated vs observed/,$p' "$out/comparison.txt"
echo "== written to $out (observed.png is the chart)"
