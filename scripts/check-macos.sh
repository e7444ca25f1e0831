#!/usr/bin/env bash
# `cargo check` of berth for macOS (aarch64-apple-darwin) from Linux: every crate of berth and
# its dependencies type-checks for macOS, with its cfg(target_os) code paths (berth local
# refuses there like on Windows, the lock's holder check falls back to lease expiry).
#
# There is no Apple SDK on Linux, and the C parts of two dependencies (aws-lc-sys, ring) need
# one to compile. `cargo check` never links, so their build scripts get stand-ins here: a C
# compiler that writes empty objects and an `ar` that writes empty archives. What this proves
# is berth's Rust code for macOS, not a macOS binary: building one needs a Mac (or osxcross).
#   scripts/check-macos.sh            (CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-apple-darwin
rustup target add "$target" >/dev/null
stand_ins="$(mktemp -d)"
trap 'rm -rf "$stand_ins"' EXIT
cat > "$stand_ins/cc" <<'EOF'
#!/bin/sh
# Stand-in for an Apple C compiler: an empty file wherever -o points.
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift ;;
    -o*) out="${1#-o}" ;;
    -E) exit 0 ;;
  esac
  shift
done
[ -n "$out" ] && : > "$out"
exit 0
EOF
cat > "$stand_ins/ar" <<'EOF'
#!/bin/sh
# Stand-in for Apple's ar: an empty archive.
for a in "$@"; do case "$a" in *.a) printf '!<arch>\n' > "$a"; exit 0 ;; esac; done
exit 0
EOF
chmod +x "$stand_ins/cc" "$stand_ins/ar"
CC_aarch64_apple_darwin="$stand_ins/cc" CXX_aarch64_apple_darwin="$stand_ins/cc" \
  AR_aarch64_apple_darwin="$stand_ins/ar" \
  cargo clippy --workspace --target "$target" -- -D warnings
