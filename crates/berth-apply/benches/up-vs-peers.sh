#!/usr/bin/env bash
# Benchmark (not a test): `berth up` of N objects (default 1,000) on the local cluster against
# `kubectl apply --server-side` + `kubectl wait` and `helm install --wait` on the same objects.
#
# Method. One stack of N objects is generated: per 10 objects 4 ConfigMaps, 3 Secrets, 1 Service,
# 1 Deployment (1 replica; kwok runs its pod) and 1 ServiceAccount, plus the Namespace. Each tool
# gets its own fresh namespace with the same objects, on the same running local cluster, one
# after the other, each run timed from start to exit with `date +%s.%N`:
#   berth    berth up --yes --format json     (runs the operation graph, waits for every object)
#   kubectl  kubectl apply --server-side -f DIR, then kubectl wait --for=condition=Available
#            deployment --all (kubectl does not wait for anything else)
#   helm     helm install --wait (the same manifests as a chart's templates)
# Also reported: berth's own "millis_after_healthy", the time from the last object becoming
# healthy to `up` returning (prune, revision record, unlock). Ratios are peer time / berth time.
# With BERTH_BEFORE=path/to/an/older/berth, that binary runs the same stack too, right after
# berth (to see that a change costs no speed).
# Run it on an otherwise idle machine; it prints one table. Usage:
#   crates/berth-apply/benches/up-vs-peers.sh [N] [path/to/berth]
set -euo pipefail
N=${1:-1000}
BERTH=${2:-target/release/berth}
CACHE=${BERTH_CACHE:-$HOME/.cache/berth/local}
KUBECTL=$(ls -d "$CACHE"/kubernetes-v*/kubectl 2>/dev/null | head -1)
HELM=$(ls -d "$CACHE"/helm-v*/helm 2>/dev/null | head -1)
[ -x "$BERTH" ] || { echo "build berth first: cargo build --release -p berth-cli" >&2; exit 2; }
# An existing cluster through $KUBECONFIG (e.g. the test cluster), else the default local one.
if [ -z "${KUBECONFIG:-}" ]; then
  "$BERTH" local up >/dev/null
  KUBECONFIG=$("$BERTH" local kubeconfig)
fi
export KUBECONFIG
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RUN=$(date +%s)

gen() { # gen NAMESPACE DIR: writes the N objects
  local ns=$1 dir=$2 groups=$(( (N - 1) / 10 ))
  mkdir -p "$dir"
  {
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$ns"
    for g in $(seq 1 "$groups"); do
      for c in 1 2 3 4; do printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%s-%s, namespace: %s}\ndata: {k: "v%s"}\n' "$g" "$c" "$ns" "$c"; done
      for s in 1 2 3; do printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: s-%s-%s, namespace: %s}\nstringData: {k: "v%s"}\n' "$g" "$s" "$ns" "$s"; done
      printf -- '---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa-%s, namespace: %s}\n' "$g" "$ns"
      printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%s, namespace: %s}\nspec: {selector: {app: app-%s}, ports: [{port: 80}]}\n' "$g" "$ns" "$g"
      printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-%s, namespace: %s}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: app-%s}}\n  template:\n    metadata: {labels: {app: app-%s}}\n    spec:\n      serviceAccountName: sa-%s\n      containers: [{name: app, image: "nginx:1.27.1", envFrom: [{configMapRef: {name: cm-%s-1}}, {secretRef: {name: s-%s-1}}]}]\n' "$g" "$ns" "$g" "$g" "$g" "$g" "$g"
    done
  } > "$dir/objects.yaml"
}

now() { date +%s.%N; }

# berth
NS_B=bench-berth-$RUN
gen "$NS_B" "$WORK/berth/manifests"
printf 'stack: bench\nnamespace: %s\nprofile: local\ncomponents:\n  app: {manifests: manifests/}\n' "$NS_B" > "$WORK/berth/berth.yaml"
t0=$(now); "$BERTH" up "$WORK/berth" --yes --format json --timeout 10m > "$WORK/berth.jsonl"; t1=$(now)
T_BERTH=$(echo "$t1 - $t0" | bc)
AFTER=$(grep '"event":"done"' "$WORK/berth.jsonl" | sed -E 's/.*"millis_after_healthy":([0-9]+).*/\1/')
LEVELS=$(grep '"event":"started"' "$WORK/berth.jsonl" | sed -E 's/.*"levels":([0-9]+).*/\1/')
# Free the nodes' pod slots before the next tool runs (not timed).
"$KUBECTL" delete namespace "$NS_B" --timeout=5m >/dev/null

# an older berth, on the same objects in a fresh namespace
if [ -n "${BERTH_BEFORE:-}" ]; then
  NS_O=bench-before-$RUN
  gen "$NS_O" "$WORK/before/manifests"
  printf 'stack: bench-before\nnamespace: %s\nprofile: local\ncomponents:\n  app: {manifests: manifests/}\n' "$NS_O" > "$WORK/before/berth.yaml"
  t0=$(now); "$BERTH_BEFORE" up "$WORK/before" --yes --format json --timeout 10m > /dev/null; t1=$(now)
  T_BEFORE=$(echo "$t1 - $t0" | bc)
  "$KUBECTL" delete namespace "$NS_O" --timeout=5m >/dev/null
fi

# kubectl
NS_K=bench-kubectl-$RUN
gen "$NS_K" "$WORK/kubectl"
t0=$(now)
"$KUBECTL" apply --server-side -f "$WORK/kubectl" >/dev/null
"$KUBECTL" wait --for=condition=Available deployment --all -n "$NS_K" --timeout=10m >/dev/null
t1=$(now)
T_KUBECTL=$(echo "$t1 - $t0" | bc)
"$KUBECTL" delete namespace "$NS_K" --timeout=5m >/dev/null

# helm (the namespace is created by helm, so leave it out of the chart)
NS_H=bench-helm-$RUN
mkdir -p "$WORK/chart/templates"
gen "$NS_H" "$WORK/helm-src"
awk 'BEGIN{RS="---\n"} !/kind: Namespace/ {printf "---\n%s", $0}' "$WORK/helm-src/objects.yaml" > "$WORK/chart/templates/objects.yaml"
printf 'apiVersion: v2\nname: bench\nversion: 0.1.0\n' > "$WORK/chart/Chart.yaml"
t0=$(now)
"$HELM" install bench "$WORK/chart" -n "$NS_H" --create-namespace --wait --timeout 10m >/dev/null
t1=$(now)
T_HELM=$(echo "$t1 - $t0" | bc)

printf '%-44s %10s %8s\n' "tool ($N objects)" "seconds" "ratio"
printf '%-44s %10.2f %8s\n' "berth up (apply + wait, every object)" "$T_BERTH" "1.00"
printf '%-44s %10.2f %8.2f\n' "kubectl apply --server-side + kubectl wait" "$T_KUBECTL" "$(echo "$T_KUBECTL / $T_BERTH" | bc -l)"
printf '%-44s %10.2f %8.2f\n' "helm install --wait" "$T_HELM" "$(echo "$T_HELM / $T_BERTH" | bc -l)"
if [ -n "${BERTH_BEFORE:-}" ]; then
  printf '%-44s %10.2f %8.2f\n' "berth before ($BERTH_BEFORE)" "$T_BEFORE" "$(echo "$T_BEFORE / $T_BERTH" | bc -l)"
fi
printf 'berth: %s levels in the graph; last object healthy -> up returned: %s ms\n' "$LEVELS" "$AFTER"
"$HELM" uninstall bench -n "$NS_H" >/dev/null 2>&1 || true
"$KUBECTL" delete namespace "$NS_H" --wait=false >/dev/null 2>&1 || true
