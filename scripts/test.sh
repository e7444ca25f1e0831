#!/usr/bin/env bash
# Runs every berth test: unit, snapshot and end-to-end tests on the local cluster.
# Idempotent and safe on a fresh machine with Rust and Go: installs the Debian packages the
# tests need (when run as root and they are missing), builds the local cluster's binaries into
# ~/.cache/berth/local (once per version), then runs `cargo test` for the whole workspace.
# The end-to-end tests share one local cluster named `test`; it is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: fonts for the PNG plots of `berth simulate`; tmux for the live
# view test in a real terminal; zsh, fish and groff to load the shell completions and render
# the manual page; mingw-w64 to cross-build the Windows binary and wine to run it.
need_pkgs=()
for p in fonts-dejavu-core tmux zsh fish groff mingw-w64 wine wine64; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "berth: installing ${need_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "berth: please install: sudo apt-get install ${need_pkgs[*]}" >&2
  fi
fi

# moto's server mode, the local AWS endpoint of the AWS tests (a venv in ~/.cache/berth).
scripts/moto-venv.sh

start=$(date +%s)
# The code is kept formatted and clippy-clean: a change that is not fails here, before the
# tests (rustup's rustfmt and clippy components).
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# No dependency a crate does not use (cargo-machete, installed once into ~/.cargo).
command -v cargo-machete >/dev/null 2>&1 || cargo install --locked cargo-machete@0.9.2
cargo machete
# The dev profile (dependencies optimised, see Cargo.toml) builds much faster than --release
# and runs the tests fast enough; benchmarks use --release.
cargo build -p berth-cli
# The Windows binary, cross-built with mingw-w64; tests/windows.rs runs it under wine beside
# the Linux one.
rustup target add x86_64-pc-windows-gnu >/dev/null
win_start=$(date +%s)
cargo build -p berth-cli --target x86_64-pc-windows-gnu
echo "berth: Windows build finished in $(( $(date +%s) - win_start ))s"
# macOS: berth's code type-checks and passes clippy for aarch64-apple-darwin (stand-ins for the
# Apple C toolchain, which Linux has not; see the script).
scripts/check-macos.sh
berth="${CARGO_TARGET_DIR:-target}/debug/berth"
$berth local build --peers   # the cluster (metrics-server too), and peers: helm, for the chart tests and benchmarks
echo "berth: build finished in $(( $(date +%s) - start ))s"

export BERTH_TEST_CLUSTER=test
# The tests' clusters: the shared one, and the one with Karpenter (berth-apply/tests/karpenter.rs,
# berth-cluster/tests/karpenter_local.rs).
cleanup() {
  for name in "$BERTH_TEST_CLUSTER" "$BERTH_TEST_CLUSTER-karpenter"; do
    $berth local down --name "$name" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
# Every run starts from empty clusters: pods an earlier run left behind filled a node (kube-
# scheduler: "Too many pods") and failed tests that ask for room. This run's data stays for reading.
for name in "$BERTH_TEST_CLUSTER" "$BERTH_TEST_CLUSTER-karpenter"; do
  $berth local down --name "$name" --purge >/dev/null 2>&1 || true
done

cargo test --workspace "$@"
