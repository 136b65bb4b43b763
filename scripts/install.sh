#!/usr/bin/env bash
# Builds Berth, installs it into /usr/local/bin, and runs a first container: a busybox rootfs
# made locally (no network) run by berth-runc.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
. scripts/env.sh
PREFIX="${PREFIX:-/usr/local}"

cargo build --release --bins
install -m 0755 "$CARGO_TARGET_DIR/release/berth-runc" "$PREFIX/bin/berth-runc"
# berth-init (docker run --init) runs inside images without a libc: link it static-pie.
cargo rustc --release -p berth-init --bin berth-init -- -C target-feature=+crt-static
install -m 0755 "$CARGO_TARGET_DIR/release/berth-init" "$PREFIX/bin/berth-init"
echo "installed $PREFIX/bin/berth-runc ($("$PREFIX/bin/berth-runc" --version | head -1))"

# A first container: an OCI bundle whose rootfs is Debian's busybox-static.
demo="${BERTH_DEMO_DIR:-/var/lib/berth/demo}"
rm -rf "$demo"
mkdir -p "$demo/rootfs/bin" "$demo/rootfs/proc" "$demo/rootfs/sys" "$demo/rootfs/dev" "$demo/rootfs/tmp" "$demo/rootfs/etc"
cp /bin/busybox "$demo/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$demo/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$demo/rootfs/etc/passwd"
cd "$demo"
"$PREFIX/bin/berth-runc" spec
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "echo \"hello from a Berth container: pid $$ on $(hostname), $(ls /bin | wc -l) busybox applets\""]' \
   config.json > config.json.new && mv config.json.new config.json
"$PREFIX/bin/berth-runc" run "berth-demo-$$"
