#!/bin/sh
# Run one fuzz target without installing cargo-fuzz: the same instrumentation cargo-fuzz uses
# (sancov + libFuzzer from libfuzzer-sys), built with the nightly toolchain.
#   fuzz/run.sh TARGET [SECONDS] [SEED_DIR...]
# Findings go to fuzz/artifacts/TARGET, the growing corpus to fuzz/corpus/TARGET (both ignored).
set -eu
target=$1; seconds=${2:-600}; shift; [ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS (the instrumentation) off build scripts and proc macros.
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
cargo +nightly build --manifest-path "$here/Cargo.toml" --release --target "$triple" --bin "$target"
mkdir -p "$here/corpus/$target" "$here/artifacts/$target"
exec "$CARGO_TARGET_DIR/$triple/release/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$here/artifacts/$target/" "$here/corpus/$target" "$@"
