#!/usr/bin/env bash
# Runs `berth check --profile eks` over every reference deployment in the corpus and prints,
# per folder, how many findings each rule produced (and the exit code).
#
#   scripts/check-corpus.sh [CORPUS]     # default ../shared/corpus, relative to the repo root
#
# Set BERTH to use an existing binary instead of building one; FORMAT=human shows the findings.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-../shared/corpus}"
if [[ -z "${BERTH:-}" ]]; then
  cargo build --release -q -p berth-cli
  target="${CARGO_TARGET_DIR:-target}"
  BERTH="$target/release/berth"
fi
[[ -d "$corpus" ]] || { echo "no corpus at $corpus" >&2; exit 2; }

total=0
for dir in "$corpus"/*/; do
  name="$(basename "$dir")"
  set +e
  json="$("$BERTH" check "$dir" --profile eks --format json 2>/tmp/berth-corpus-stderr)"
  code=$?
  set -e
  if [[ "${FORMAT:-}" == human ]]; then
    "$BERTH" check "$dir" --profile eks || true
  fi
  printf '\n== %s (exit %s)\n' "$name" "$code"
  if [[ -z "$json" ]]; then
    sed 's/^/   /' /tmp/berth-corpus-stderr
    continue
  fi
  python3 - "$json" <<'PY'
import collections, json, sys
doc = json.loads(sys.argv[1])
counts = collections.Counter((f["rule"], f["severity"]) for f in doc["findings"])
for (rule, sev), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
    print(f"   {n:5d}  {rule:22s} {sev}")
s = doc["summary"]
print(f"   total: {s['errors']} errors, {s['warnings']} warnings, {s['infos']} notes")
PY
done
