#!/usr/bin/env bash
# Installs what Berth's build, tests and benchmarks need on Debian 12 (as root). Idempotent and
# quick when everything is already there. The Rust toolchain (rustup's cargo) must be present.
set -euo pipefail

packages=(
  # build
  pkg-config libseccomp-dev
  # test images and rootfs (no network needed)
  busybox-static
  # peers the tests and benchmarks run side by side with Berth
  runc crun podman docker.io containerd skopeo docker-registry umoci
  # tools the tests and benchmarks use
  jq hyperfine time iproute2 procps debootstrap apache2-utils openssl zstd bc curl strace python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's docker.io and containerd packages start their daemons on install; Berth's tests run
# their own private instances and need nothing from the system ones.
for svc in docker containerd docker.socket; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

if ! command -v cargo >/dev/null 2>&1; then
  echo "scripts/deps.sh: cargo is missing: install the Rust toolchain with rustup first" >&2
  exit 1
fi
