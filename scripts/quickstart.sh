#!/usr/bin/env bash
# berth's main job on the local cluster: build berth, start the local Kubernetes control plane
# (building it from source on first use), and bring the Boomi Molecule blueprint up on it: a
# StatefulSet on a shared volume, a headless and a load-balanced Service, an HPA that never
# scales the queue holders down, in order, waiting until each part is healthy.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p berth-cli
berth=target/release/berth
# The Molecule's credentials come from the environment (never from a file); demo values unless
# you give your own.
export BOOMI_ACCOUNTID="${BOOMI_ACCOUNTID:-demo-account}"
export BOOMI_USERNAME="${BOOMI_USERNAME:-demo@example.com}"
export BOOMI_TOKEN="${BOOMI_TOKEN:-demo-installer-token}"
$berth local up
$berth up --local --yes blueprints/boomi-molecule
$berth status --local blueprints/boomi-molecule
