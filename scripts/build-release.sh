#!/usr/bin/env bash
# Builds the binaries as they are installed and benchmarked, into $CARGO_TARGET_DIR/dist:
#   berth                     release profile
#   berth-runc                release, linked static: it is exec'd twice per container (by
#                             its caller, then its CVE-2019-5736 re-exec from a read-only
#                             mount), and a static binary skips the dynamic loader each time
#                             (bench/runtime: berth/crun 0.81-0.85 dynamic, 0.66-0.67 static)
#   berth-monitor             `monitor` profile (size-optimized, panic=abort), linked static:
#                             one runs per container for its whole life, so its resident
#                             pages are paid per container
#   berth-init                release, linked static-pie: it runs inside images without a libc
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
dist="$CARGO_TARGET_DIR/dist"
mkdir -p "$dist"
cargo build --release --workspace --bins --exclude berth-runc --exclude berth-init
cargo rustc --release -p berth-runc --bin berth-runc -- -C target-feature=+crt-static
cargo rustc --profile monitor -p berth-monitor --bin berth-monitor -- -C target-feature=+crt-static
cargo rustc --release -p berth-init --bin berth-init -- -C target-feature=+crt-static
for b in berth berth-runc; do
  install -m 0755 "$CARGO_TARGET_DIR/release/$b" "$dist/$b"
done
install -m 0755 "$CARGO_TARGET_DIR/monitor/berth-monitor" "$dist/berth-monitor"
install -m 0755 "$CARGO_TARGET_DIR/release/berth-init" "$dist/berth-init"
echo "$dist"
