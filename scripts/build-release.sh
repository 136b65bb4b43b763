#!/usr/bin/env bash
# Builds the binaries as they are installed and benchmarked, into $CARGO_TARGET_DIR/dist:
#   berth, berth-runc         release profile
#   berth-monitor             `monitor` profile (size-optimized, panic=abort), linked static:
#                             one runs per container for its whole life, so its resident
#                             pages are paid per container
#   berth-init                release, linked static-pie: it runs inside images without a libc
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
dist="$CARGO_TARGET_DIR/dist"
mkdir -p "$dist"
cargo build --release --bins
cargo rustc --profile monitor -p berth-monitor --bin berth-monitor -- -C target-feature=+crt-static
cargo rustc --release -p berth-init --bin berth-init -- -C target-feature=+crt-static
for b in berth berth-runc; do
  install -m 0755 "$CARGO_TARGET_DIR/release/$b" "$dist/$b"
done
install -m 0755 "$CARGO_TARGET_DIR/monitor/berth-monitor" "$dist/berth-monitor"
install -m 0755 "$CARGO_TARGET_DIR/release/berth-init" "$dist/berth-init"
echo "$dist"
