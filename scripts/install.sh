#!/usr/bin/env bash
# Builds Berth, installs it into /usr/local/bin, starts the daemon (unless one is running) and
# runs a first container through it: a busybox image made locally (no network).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
. scripts/env.sh
PREFIX="${PREFIX:-/usr/local}"

dist="$(scripts/build-release.sh | tail -1)"
for b in berth berth-runc berth-monitor berth-init; do
  # Replace, never overwrite in place: running monitors and containers' inits execute these.
  install -m 0755 "$dist/$b" "$PREFIX/bin/.$b.new" && mv -f "$PREFIX/bin/.$b.new" "$PREFIX/bin/$b"
done
echo "installed berth, berth-runc, berth-monitor, berth-init in $PREFIX/bin ($("$PREFIX/bin/berth" --version))"

# The daemon: /run/berth/berth.sock, state in /var/lib/berth. Containers outlive it.
sock=/run/berth/berth.sock
if ! "$PREFIX/bin/berth" version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup "$PREFIX/bin/berth" daemon >>/var/log/berth.log 2>&1 &
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  echo "berth daemon started (pid $!, log /var/log/berth.log, socket $sock)"
fi

# A first container, from an image made here from Debian's busybox-static.
img="$(mktemp --suffix=.tar)"
scripts/busybox-image.sh "$img" busybox:latest
"$PREFIX/bin/berth" load -q -i "$img"
rm -f "$img"
"$PREFIX/bin/berth" run --rm busybox sh -c 'echo "hello from a Berth container: pid $$ on $(hostname), $(ls /bin | wc -l) busybox applets"'
