# Shared helpers (sourced, not executed) for bench/ and scripts/real-clients/: a busybox rootfs,
# image archives made from it, and a bounded wait for a daemon's socket. No network is used.

# bb_rootfs DIR: a minimal rootfs from busybox-static: /bin with every applet as a symlink, root
# in /etc/passwd and /etc/group, and the empty mount points a runtime expects.
bb_rootfs() {
	local dir=$1 bb=${BUSYBOX:-/bin/busybox} a
	[ -x "$bb" ] || { echo "error: $bb missing (apt-get install busybox-static)" >&2; return 1; }
	mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,root,run,var} || return 1
	cp "$bb" "$dir/bin/busybox" || return 1
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
	chmod 1777 "$dir/tmp"
}

# bb_layer_tar OUT: the busybox rootfs as an uncompressed layer tar (what docker/podman import).
bb_layer_tar() {
	local out=$1 tmp
	tmp=$(mktemp -d) || return 1
	bb_rootfs "$tmp/rootfs" && tar --numeric-owner -C "$tmp/rootfs" -cf "$out" .
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

# bb_docker_archive OUT NAME: a `docker save`-format archive (manifest.json, config, one layer)
# holding the busybox rootfs tagged NAME, for `ctr image import` and `docker load`.
bb_docker_archive() {
	local out=$1 name=$2 tmp diff
	tmp=$(mktemp -d) || return 1
	bb_layer_tar "$tmp/layer.tar" || { rm -rf "$tmp"; return 1; }
	diff=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
	cat >"$tmp/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:$diff"]}}
JSON
	printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$name" >"$tmp/manifest.json"
	tar -C "$tmp" -cf "$out" manifest.json config.json layer.tar
	local rc=$?
	rm -rf "$tmp"
	return $rc
}

# wait_socket PATH SECONDS: polls until PATH is a socket; fails after SECONDS.
wait_socket() {
	local path=$1 deadline=$((SECONDS + $2))
	while [ ! -S "$path" ]; do
		[ $SECONDS -lt "$deadline" ] || { echo "error: $path did not appear within $2 s" >&2; return 1; }
		sleep 0.05
	done
}
