#!/usr/bin/env bash
# berth's main job on the local cluster: build berth, start the local Kubernetes control plane
# (building it from source on first use), and bring the example stack up on it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p berth-cli
berth=target/release/berth
$berth local up
$berth up --local --yes examples/hello
$berth status --local examples/hello
