#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the end-to-end tests that start real containers,
# real daemons (dockerd, containerd, podman, docker-registry) and real clients. As root.
# BERTH_TEST_STRICT=1 turns every "skipped: missing prerequisite" into a failure (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
. scripts/env.sh

# The end-to-end tests drive the built binaries; build them first.
cargo build --workspace --bins
# berth-init is bind-mounted into images without a libc (busybox): link it static-pie.
cargo rustc -p berth-init --bin berth-init -- -C target-feature=+crt-static
cargo test --workspace --no-fail-fast "$@"
