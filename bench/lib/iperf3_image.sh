# Sourced by bench/network (after lib/busybox.sh): an image holding the busybox rootfs plus the
# host's iperf3 and the shared libraries it links (from ldd), so that iperf3 runs inside
# containers without any registry.

# iperf3_docker_archive OUT NAME: a `docker save`-format archive tagged NAME.
iperf3_docker_archive() {
	local out=$1 name=$2 tmp diff lib bin
	bin=$(command -v iperf3) || { echo "error: iperf3 is not installed" >&2; return 1; }
	tmp=$(mktemp -d) || return 1
	bb_rootfs "$tmp/rootfs" || { rm -rf "$tmp"; return 1; }
	mkdir -p "$tmp/rootfs/usr/bin"
	cp "$bin" "$tmp/rootfs/usr/bin/iperf3"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		mkdir -p "$tmp/rootfs$(dirname "$lib")"
		cp -L "$lib" "$tmp/rootfs$lib"
	done
	tar --numeric-owner -C "$tmp/rootfs" -cf "$tmp/layer.tar" . || { rm -rf "$tmp"; return 1; }
	diff=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
	cat >"$tmp/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["iperf3","-s"]},"rootfs":{"type":"layers","diff_ids":["sha256:$diff"]}}
JSON
	printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$name" >"$tmp/manifest.json"
	tar -C "$tmp" -cf "$out" manifest.json config.json layer.tar
	local rc=$?
	rm -rf "$tmp"
	return $rc
}
