#!/usr/bin/env bash
# Makes a docker-archive tarball of a busybox image from Debian's busybox-static, with no
# network: one layer (the binary, its applet links, /etc/passwd and /etc/group), a config with
# Docker's default PATH and `sh` as the command. `berth load -i` (or `docker load -i`) reads it.
#   scripts/busybox-image.sh OUT.tar [NAME:TAG]
set -euo pipefail
out="${1:?usage: busybox-image.sh OUT.tar [NAME:TAG]}"
name="${2:-busybox:latest}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tmp/layer.tar" .
diff_id="sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)"
cat > "$tmp/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},
 "rootfs":{"type":"layers","diff_ids":["$diff_id"]},
 "history":[{"created_by":"scripts/busybox-image.sh: Debian busybox-static"}]}
JSON
printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$name" > "$tmp/manifest.json"
tar -C "$tmp" -cf "$out" manifest.json config.json layer.tar
