#!/usr/bin/env bash
# Clean release build of berth-cli at each git revision given (default: HEAD's first parent and
# HEAD), one after the other, each from an export of the revision in its own target folder:
# wall time, CPU time (user + sys, the steadier figure on a shared machine), peak RSS of the
# build, and the size of the binary as built (line tables, see [profile.release]) and stripped.
# Used for the build cost of the AWS SDK (crates/berth-aws); see README "Speed".
#   benches/build/run.sh [REV...]     (CARGO_BUILD_JOBS is honoured; WORK=/tmp/berth-bench-build)
set -euo pipefail
cd "$(dirname "$0")/../.."
revs=("$@")
[ ${#revs[@]} -gt 0 ] || revs=(HEAD^ HEAD)
work="${WORK:-/tmp/berth-bench-build}"
for rev in "${revs[@]}"; do
  src="$work/src-$rev" target="$work/target-$rev"
  rm -rf "$src" "$target" && mkdir -p "$src"
  git archive "$rev" | tar -x -C "$src"
  log="$work/build-$rev.log"
  ( cd "$src" && CARGO_TARGET_DIR="$target" /usr/bin/time -v cargo build --release --locked -p berth-cli ) >"$log" 2>&1
  bin="$target/release/berth"
  strip -o "$work/berth-$rev.stripped" "$bin"
  wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}')
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.0f", s}' "$log")
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$log")
  echo "$rev: wall $wall, CPU ${cpu} s, peak RSS ${rss} MB, binary $(stat -c %s "$bin") bytes, stripped $(stat -c %s "$work/berth-$rev.stripped") bytes"
  rm -rf "$src" "$target"
done
