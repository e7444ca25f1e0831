#!/usr/bin/env bash
# Benchmark (not a test): `berth up` of N objects (default 1,000) on the local cluster against
# `kubectl apply --server-side` + `kubectl wait` and `helm install --wait` on the same objects.
#
# Method. One stack of N objects is generated: per 10 objects 4 ConfigMaps, 3 Secrets, 1 Service,
# 1 Deployment (1 replica; kwok runs its pod) and 1 ServiceAccount, plus the Namespace. Each tool
# gets its own fresh namespace with the same objects, on the same running local cluster, one
# after the other, each run timed from start to exit with `date +%s.%N`:
#   berth    berth up --yes --format json     (applies in waves, waits for every object)
#   kubectl  kubectl apply --server-side -f DIR, then kubectl wait --for=condition=Available
#            deployment --all (kubectl does not wait for anything else)
#   helm     helm install --wait (the same manifests as a chart's templates)
# Also reported: berth's own "millis_after_healthy", the time from the last wave becoming healthy
# to `up` returning (prune, revision record, unlock). Ratios are peer time / berth time.
# Run it on an otherwise idle machine; it prints one table. Usage:
#   crates/berth-apply/benches/up-vs-peers.sh [N] [path/to/berth]
set -euo pipefail
N=${1:-1000}
BERTH=${2:-target/release/berth}
CACHE=${BERTH_CACHE:-$HOME/.cache/berth/local}
KUBECTL=$(ls -d "$CACHE"/kubernetes-v*/kubectl 2>/dev/null | head -1)
HELM=$(ls -d "$CACHE"/helm-v*/helm 2>/dev/null | head -1)
[ -x "$BERTH" ] || { echo "build berth first: cargo build --release -p berth-cli" >&2; exit 2; }
"$BERTH" local up >/dev/null
KUBECONFIG=$("$BERTH" local kubeconfig)
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

# kubectl
NS_K=bench-kubectl-$RUN
gen "$NS_K" "$WORK/kubectl"
t0=$(now)
"$KUBECTL" apply --server-side -f "$WORK/kubectl" >/dev/null
"$KUBECTL" wait --for=condition=Available deployment --all -n "$NS_K" --timeout=10m >/dev/null
t1=$(now)
T_KUBECTL=$(echo "$t1 - $t0" | bc)

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
printf 'berth: last object healthy -> up returned: %s ms\n' "$AFTER"
"$HELM" uninstall bench -n "$NS_H" >/dev/null 2>&1 || true
"$KUBECTL" delete namespace "$NS_B" "$NS_K" "$NS_H" --wait=false >/dev/null 2>&1 || true
