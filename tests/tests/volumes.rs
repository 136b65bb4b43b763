//! Volumes and mounts through `berth daemon`, driven by the real docker CLI 28, docker-py and
//! docker compose v2: named volumes whose data survives container removal, a daemon restart
//! and a SIGKILL of the daemon; read-only mounts; anonymous volumes and `rm -v`; copy-up of an
//! image's files with their owners; tmpfs (memory-backed, sized); --volumes-from; bind
//! propagation; the local driver's tmpfs and bind options with reference-counted mounts;
//! prune in both API eras; a mount target behind a symlink in the image; bad input that
//! leaves nothing behind. Every test ends checking that no mount is left.

use berth_e2e::BerthDaemon;
use berth_e2e::{
    busybox_rootfs, docker_cli_prerequisites, last_lines, require, run, stderr, stdout,
};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const IMAGE: &str = "busybox:vol";

fn prerequisites(what: &str) -> bool {
    docker_cli_prerequisites(what, "namespaces, mounts")
}

fn fails(d: &BerthDaemon, args: &[&str], message: &str) {
    let o = d.docker_run(args);
    assert!(
        !o.status.success(),
        "docker {args:?} should fail: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(message),
        "docker {args:?}: expected {message:?} in {:?}",
        stderr(&o)
    );
}

/// `docker run --rm --network none ARGS` → stdout.
fn run_rm(d: &BerthDaemon, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(args);
    d.docker_ok(&a)
}

fn inspect(d: &BerthDaemon, what: &[&str]) -> Value {
    let mut a = vec![];
    a.extend_from_slice(what);
    let v: Value = serde_json::from_str(&d.docker_ok(&a)).expect("inspect json");
    v[0].clone()
}

fn volume_names(d: &BerthDaemon, filter: &[&str]) -> Vec<String> {
    let mut a = vec!["volume", "ls", "-q"];
    a.extend_from_slice(filter);
    let mut v: Vec<String> = d.docker_ok(&a).lines().map(str::to_string).collect();
    v.sort();
    v
}

fn assert_clean(d: &BerthDaemon) {
    let left = d.leftover_mounts();
    assert!(left.is_empty(), "mounts left behind: {left:?}");
}

#[test]
fn named_volume_survives_removal_restart_and_sigkill() {
    if !prerequisites("volume tests") {
        return;
    }
    let mut d = BerthDaemon::with_busybox(&[], IMAGE);
    assert_eq!(
        d.docker_ok(&["volume", "create", "--label", "env=test", "keep"])
            .trim(),
        "keep"
    );
    d.docker_ok(&["volume", "create", "other"]);
    let v = inspect(&d, &["volume", "inspect", "keep"]);
    assert_eq!(v["Name"], "keep");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["env"], "test");
    let mountpoint = v["Mountpoint"].as_str().expect("Mountpoint").to_string();
    assert_eq!(
        mountpoint,
        d.data_root.join("volumes/keep/_data").display().to_string()
    );
    assert!(
        v["CreatedAt"].as_str().is_some_and(|s| s.starts_with("20")),
        "{v}"
    );

    run_rm(
        &d,
        &[
            "-v",
            "keep:/data",
            IMAGE,
            "sh",
            "-c",
            "echo persisted > /data/f; dd if=/dev/zero of=/data/blob bs=1k count=64 2>/dev/null",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(Path::new(&mountpoint).join("f")).expect("host sees data"),
        "persisted\n"
    );
    assert_eq!(
        run_rm(&d, &["-v", "keep:/data", IMAGE, "cat", "/data/f"]),
        "persisted"
    );

    // Filters.
    assert_eq!(volume_names(&d, &["--filter", "label=env=test"]), ["keep"]);
    assert_eq!(volume_names(&d, &["--filter", "name=oth"]), ["other"]);
    let c = d.docker_ok(&[
        "create",
        "--network",
        "none",
        "-v",
        "keep:/data",
        IMAGE,
        "true",
    ]);
    let c = c.trim();
    assert_eq!(volume_names(&d, &["--filter", "dangling=true"]), ["other"]);
    assert_eq!(volume_names(&d, &["--filter", "dangling=false"]), ["keep"]);
    fails(
        &d,
        &["volume", "ls", "--filter", "bogus=1"],
        "invalid filter 'bogus'",
    );

    // In use: refused, also with -f (as Docker).
    fails(
        &d,
        &["volume", "rm", "keep"],
        &format!("remove keep: volume is in use - [{c}]"),
    );
    fails(&d, &["volume", "rm", "-f", "keep"], "volume is in use");
    let m = inspect(&d, &["inspect", c])["Mounts"][0].clone();
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Name"], "keep");
    assert_eq!(m["Source"], mountpoint.as_str());
    assert_eq!(m["Destination"], "/data");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["RW"], true);

    // system df: the volume with its size and users.
    let df: Value = serde_json::from_str(&d.docker_ok(&[
        "system",
        "df",
        "-v",
        "--format",
        "{{json .Volumes}}",
    ]))
    .expect("df json");
    let keep = df
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["Name"] == "keep")
        .expect("keep in df")
        .clone();
    assert_eq!(keep["Links"], "1", "{keep}");
    assert!(
        keep["Size"].as_str().is_some_and(|s| s.contains("kB")),
        "{keep}"
    );

    // Daemon restart, then SIGKILL.
    d.restart();
    assert_eq!(
        run_rm(&d, &["-v", "keep:/data", IMAGE, "cat", "/data/f"]),
        "persisted"
    );
    d.kill();
    d.restart();
    assert_eq!(
        run_rm(&d, &["-v", "keep:/data", IMAGE, "cat", "/data/f"]),
        "persisted"
    );
    assert_eq!(volume_names(&d, &[]), ["keep", "other"]);

    d.docker_ok(&["rm", c]);
    d.docker_ok(&["volume", "rm", "keep", "other"]);
    fails(
        &d,
        &["volume", "inspect", "keep"],
        "get keep: no such volume",
    );
    fails(&d, &["volume", "rm", "keep"], "no such volume");
    d.docker_ok(&["volume", "rm", "-f", "keep"]);
    assert!(!Path::new(&mountpoint).exists());
    assert_clean(&d);
}

#[test]
fn a_half_created_volume_is_cleaned_at_start() {
    if !prerequisites("volume tests") {
        return;
    }
    let mut d = BerthDaemon::with_busybox(&[], IMAGE);
    d.docker_ok(&["volume", "create", "real"]);
    d.kill();
    // What a SIGKILL between the directory and the record leaves.
    std::fs::create_dir_all(d.data_root.join("volumes/half/_data")).expect("mkdir");
    d.restart();
    assert!(
        !d.data_root.join("volumes/half").exists(),
        "a directory without a record stays"
    );
    assert_eq!(volume_names(&d, &[]), ["real"]);
}

#[test]
fn mounts_on_run_and_create() {
    if !prerequisites("volume tests") {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    let host = tempfile::tempdir().expect("tempdir");
    let h = host.path().display().to_string();
    std::fs::write(host.path().join("hello"), "from host\n").expect("write");

    // Read-only, both syntaxes.
    d.docker_ok(&["volume", "create", "rov"]);
    let o = d.docker_run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "rov:/data:ro",
        IMAGE,
        "sh",
        "-c",
        "echo x > /data/f",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let o = d.docker_run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--mount",
        "type=volume,src=rov,dst=/data,readonly",
        IMAGE,
        "touch",
        "/data/f",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let o = d.docker_run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{h}:/h:ro,Z"),
        IMAGE,
        "touch",
        "/h/x",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        run_rm(
            &d,
            &[
                "--mount",
                &format!("type=bind,source={h},target=/h,readonly"),
                IMAGE,
                "cat",
                "/h/hello"
            ]
        ),
        "from host"
    );

    // Bind: writes reach the host.
    run_rm(
        &d,
        &[
            "-v",
            &format!("{h}:/h"),
            IMAGE,
            "sh",
            "-c",
            "echo back > /h/written",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("written")).expect("read"),
        "back\n"
    );

    // -v creates a missing source; --mount refuses it with Docker's error and leaves nothing.
    let missing = host.path().join("made/by/v");
    run_rm(
        &d,
        &["-v", &format!("{}:/m", missing.display()), IMAGE, "true"],
    );
    assert!(missing.is_dir());
    let absent = host.path().join("absent");
    let before = d.docker_ok(&["ps", "-aq"]);
    fails(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            &format!("type=bind,source={},target=/m", absent.display()),
            IMAGE,
            "true",
        ],
        &format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            absent.display()
        ),
    );
    assert!(!absent.exists());
    assert_eq!(d.docker_ok(&["ps", "-aq"]), before);

    // Other bad input: a clear error, no container and no volume behind.
    let vols = volume_names(&d, &[]);
    fails(
        &d,
        &[
            "create",
            "--network",
            "none",
            "-v",
            "newvol:/a",
            "-v",
            "other:/a",
            IMAGE,
        ],
        "Duplicate mount point: /a",
    );
    fails(
        &d,
        &[
            "create",
            "--network",
            "none",
            "-v",
            "newvol:/a:bogus",
            IMAGE,
        ],
        "invalid mode: bogus",
    );
    fails(
        &d,
        &["create", "--network", "none", "-v", "bad#name:/a", IMAGE],
        "includes invalid characters for a local volume name",
    );
    fails(&d, &["volume", "create", "x"], "volume name is too short");
    fails(
        &d,
        &["volume", "create", "--opt", "foo=bar", "badopts"],
        "invalid option key: \"foo\"",
    );
    fails(
        &d,
        &["volume", "create", "--opt", "type=tmpfs", "badopts"],
        "missing required option: \"device\"",
    );
    assert_eq!(volume_names(&d, &[]), vols);
    assert_eq!(d.docker_ok(&["ps", "-aq"]), before);

    // Anonymous volumes: `-v /path`, removed by `rm -v` and with `--rm` containers.
    let c = d.docker_ok(&["create", "--network", "none", "-v", "/anon", IMAGE, "true"]);
    let c = c.trim();
    let m = inspect(&d, &["inspect", c])["Mounts"][0].clone();
    let anon = m["Name"].as_str().expect("anonymous name").to_string();
    assert_eq!(anon.len(), 64);
    let v = inspect(&d, &["volume", "inspect", &anon]);
    assert!(
        v["Labels"]
            .as_object()
            .expect("labels")
            .contains_key("com.docker.volume.anonymous"),
        "{v}"
    );
    d.docker_ok(&["rm", "-v", c]);
    assert!(!volume_names(&d, &[]).contains(&anon));
    let before_rm = volume_names(&d, &[]);
    run_rm(&d, &["-v", "/anon2", IMAGE, "touch", "/anon2/x"]);
    assert_eq!(
        volume_names(&d, &[]),
        before_rm,
        "--rm leaves no anonymous volume"
    );

    // tmpfs: memory-backed and sized, both syntaxes.
    let mounts = run_rm(
        &d,
        &[
            "--tmpfs",
            "/t1:size=4m,mode=1770",
            "--mount",
            "type=tmpfs,dst=/t2,tmpfs-size=2097152,tmpfs-mode=0700",
            IMAGE,
            "cat",
            "/proc/mounts",
        ],
    );
    let t1 = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/t1"))
        .expect("/t1 mounted");
    assert!(
        t1.starts_with("tmpfs /t1 tmpfs") && t1.contains("size=4096k") && t1.contains("mode=1770"),
        "{t1}"
    );
    let t2 = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/t2"))
        .expect("/t2 mounted");
    assert!(
        t2.starts_with("tmpfs /t2 tmpfs") && t2.contains("size=2048k") && t2.contains("mode=700"),
        "{t2}"
    );

    // --volumes-from: shares rw, or ro when asked.
    let src = d.docker_ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "src",
        "-v",
        "shared:/shared",
        "-v",
        &format!("{h}:/h"),
        IMAGE,
        "true",
    ]);
    let _ = src;
    run_rm(
        &d,
        &[
            "--volumes-from",
            "src",
            IMAGE,
            "sh",
            "-c",
            "echo via-from > /shared/f",
        ],
    );
    assert_eq!(
        run_rm(&d, &["-v", "shared:/x", IMAGE, "cat", "/x/f"]),
        "via-from"
    );
    assert_eq!(
        run_rm(&d, &["--volumes-from", "src:ro", IMAGE, "cat", "/h/hello"]),
        "from host"
    );
    let o = d.docker_run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volumes-from",
        "src:ro",
        IMAGE,
        "touch",
        "/shared/g",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    fails(&d, &["volume", "rm", "shared"], "volume is in use");
    d.docker_ok(&["rm", "src"]);

    // Subpath.
    run_rm(
        &d,
        &[
            "-v",
            "shared:/s",
            IMAGE,
            "sh",
            "-c",
            "mkdir -p /s/sub && echo inner > /s/sub/i",
        ],
    );
    assert_eq!(
        run_rm(
            &d,
            &[
                "--mount",
                "type=volume,src=shared,dst=/only,volume-subpath=sub",
                IMAGE,
                "ls",
                "/only"
            ]
        ),
        "i"
    );
    fails(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            "type=volume,src=shared,dst=/only,volume-subpath=nope",
            IMAGE,
            "true",
        ],
        "cannot access path",
    );

    d.docker_ok(&["volume", "rm", "rov", "shared"]);
    assert_clean(&d);
}

/// An image with files owned by a non-root user under /data (a VOLUME), and a symlink
/// `/escape` pointing at `escape_target`, a host directory.
fn import_image(d: &BerthDaemon, escape_target: &Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    busybox_rootfs(&root);
    std::fs::create_dir_all(root.join("data/sub")).expect("mkdir");
    std::fs::write(root.join("data/owned"), "image file\n").expect("write");
    std::fs::write(root.join("data/sub/deep"), "deep\n").expect("write");
    std::os::unix::fs::symlink("owned", root.join("data/link")).expect("symlink");
    std::os::unix::fs::symlink(escape_target, root.join("escape")).expect("symlink");
    let sh = |c: &str| {
        let o = run(Command::new("sh").arg("-c").arg(c));
        assert!(o.status.success(), "{c}: {}", stderr(&o));
    };
    let r = root.display();
    sh(&format!("chown -R 1234:5678 {r}/data && chmod 0640 {r}/data/owned && chmod 0750 {r}/data/sub && chmod 0711 {r}/data"));
    let tar = dir.path().join("img.tar");
    sh(&format!("tar -C {r} -cf {} .", tar.display()));
    d.docker_ok(&[
        "import",
        "--change",
        "VOLUME /data",
        "--change",
        "CMD [\"sh\"]",
        &tar.display().to_string(),
        "owned:latest",
    ]);
}

#[test]
fn copy_up_keeps_files_and_ownership_and_symlinks_stay_inside() {
    if !prerequisites("volume tests") {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    let hostdir = tempfile::tempdir().expect("tempdir");
    import_image(&d, hostdir.path());
    let stat = "stat -c '%n %u:%g %a' /data /data/owned /data/sub /data/sub/deep && readlink /data/link && cat /data/owned";
    let want = "/data 1234:5678 711\n/data/owned 1234:5678 640\n/data/sub 1234:5678 750\n/data/sub/deep 1234:5678 644\nowned\nimage file";
    // The image's VOLUME: an anonymous volume with the image's content.
    assert_eq!(run_rm(&d, &["owned:latest", "sh", "-c", stat]), want);
    // A new named volume gets the same copy, kept after the container goes.
    assert_eq!(
        run_rm(&d, &["-v", "cu:/data", "owned:latest", "sh", "-c", stat]),
        want
    );
    let data = d.data_root.join("volumes/cu/_data");
    assert_eq!(
        std::fs::read_to_string(data.join("owned")).expect("copied"),
        "image file\n"
    );
    // A volume with content is not copied over; nocopy gets nothing.
    run_rm(
        &d,
        &[
            "-v",
            "cu:/data",
            "owned:latest",
            "sh",
            "-c",
            "rm -r /data/* && echo mine > /data/mine",
        ],
    );
    assert_eq!(
        run_rm(&d, &["-v", "cu:/data", "owned:latest", "ls", "/data"]),
        "mine"
    );
    assert_eq!(
        run_rm(
            &d,
            &[
                "-v",
                "empty:/data:nocopy",
                "owned:latest",
                "ls",
                "-A",
                "/data"
            ]
        ),
        ""
    );
    assert_eq!(
        run_rm(
            &d,
            &[
                "--mount",
                "type=volume,src=empty2,dst=/data,volume-nocopy",
                "owned:latest",
                "ls",
                "-A",
                "/data"
            ]
        ),
        ""
    );

    // /escape is a symlink to a host path in the image: the mount lands inside the rootfs.
    let out = run_rm(
        &d,
        &[
            "-v",
            "esc:/escape/inner",
            "owned:latest",
            "sh",
            "-c",
            "echo in-volume > /escape/inner/f && cat /escape/inner/f",
        ],
    );
    assert_eq!(out, "in-volume");
    assert!(
        !hostdir.path().join("inner").exists(),
        "the mount point was created on the host"
    );
    assert_eq!(std::fs::read_dir(hostdir.path()).expect("ls").count(), 0);
    assert_eq!(
        std::fs::read_to_string(d.data_root.join("volumes/esc/_data/f")).expect("volume"),
        "in-volume\n"
    );
    let esc = hostdir.path().display().to_string();
    assert!(berth_e2e::mounts_containing(&esc).is_empty());

    d.docker_ok(&["volume", "rm", "cu", "empty", "empty2", "esc"]);
    d.docker_ok(&["volume", "prune", "-f"]);
    assert_eq!(volume_names(&d, &[]), Vec::<String>::new());
    assert_clean(&d);
}

#[test]
fn local_driver_options_mount_on_use_and_unmount_after() {
    if !prerequisites("volume tests") {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    d.docker_ok(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=8m,uid=1000",
        "mem",
    ]);
    let data = d.data_root.join("volumes/mem/_data").display().to_string();
    let v = inspect(&d, &["volume", "inspect", "mem"]);
    assert_eq!(v["Options"]["type"], "tmpfs");
    assert!(
        !berth_e2e::mounts_containing(&data).contains(&data),
        "mounted before use"
    );
    let a = d.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "-v",
        "mem:/m",
        IMAGE,
        "sleep",
        "60",
    ]);
    let b = d.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "-v",
        "mem:/m",
        IMAGE,
        "sleep",
        "60",
    ]);
    let mounts = d.docker_ok(&["exec", a.trim(), "cat", "/proc/mounts"]);
    let m = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/m"))
        .expect("/m");
    assert!(
        m.starts_with("tmpfs /m tmpfs") && m.contains("size=8192k") && m.contains("uid=1000"),
        "{m}"
    );
    d.docker_ok(&["exec", a.trim(), "sh", "-c", "echo shared-mem > /m/f"]);
    assert_eq!(
        d.docker_ok(&["exec", b.trim(), "cat", "/m/f"]),
        "shared-mem"
    );
    // The last user stopping unmounts it (Docker's reference count).
    d.docker_ok(&["rm", "-f", a.trim()]);
    assert!(
        berth_e2e::mounts_containing(&data).contains(&data),
        "unmounted while in use"
    );
    assert_eq!(
        d.docker_ok(&["exec", b.trim(), "cat", "/m/f"]),
        "shared-mem"
    );
    d.docker_ok(&["rm", "-f", b.trim()]);
    assert!(
        !berth_e2e::mounts_containing(&data).contains(&data),
        "still mounted after the last user"
    );

    // type=none,o=bind: the data lives in the device directory.
    let host = tempfile::tempdir().expect("tempdir");
    let dev = host.path().display().to_string();
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &format!("device={dev}"),
        "bound",
    ]);
    run_rm(
        &d,
        &["-v", "bound:/b", IMAGE, "sh", "-c", "echo to-device > /b/f"],
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).expect("device"),
        "to-device\n"
    );
    d.docker_ok(&["volume", "rm", "bound", "mem"]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).expect("device kept"),
        "to-device\n"
    );
    assert_clean(&d);
}

#[test]
fn bind_propagation() {
    if !prerequisites("volume tests") {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    let host = tempfile::tempdir().expect("tempdir");
    let src = host.path().join("src");
    std::fs::create_dir_all(src.join("shared-sub")).expect("mkdir");
    std::fs::create_dir_all(src.join("private-sub")).expect("mkdir");
    let s = src.display().to_string();
    let sh = |c: &str| {
        let o = run(Command::new("sh").arg("-c").arg(c));
        assert!(o.status.success(), "{c}: {}", stderr(&o));
    };
    // The source must be a shared mount for rshared to mean anything (Docker checks the same).
    sh(&format!("mount --bind {s} {s} && mount --make-shared {s}"));
    let shared = d.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "-v",
        &format!("{s}:/mnt:rshared"),
        IMAGE,
        "sleep",
        "60",
    ]);
    let private = d.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "-v",
        &format!("{s}:/mnt:rprivate"),
        IMAGE,
        "sleep",
        "60",
    ]);
    sh(&format!(
        "mount -t tmpfs -o size=1m propagated {s}/shared-sub && echo seen > {s}/shared-sub/f"
    ));
    let in_shared = d.docker_ok(&[
        "exec",
        shared.trim(),
        "sh",
        "-c",
        "cat /mnt/shared-sub/f; grep -c ' /mnt/shared-sub ' /proc/mounts || true",
    ]);
    let in_private = d.docker_ok(&[
        "exec",
        private.trim(),
        "sh",
        "-c",
        "ls /mnt/shared-sub; grep -c ' /mnt/shared-sub ' /proc/mounts || true",
    ]);
    sh(&format!("umount {s}/shared-sub && umount {s}"));
    d.docker_ok(&["rm", "-f", shared.trim(), private.trim()]);
    assert_eq!(
        in_shared, "seen\n1",
        "rshared: the host's new mount shows in the container"
    );
    assert_eq!(in_private, "0", "rprivate: the host's new mount stays out");
    assert!(berth_e2e::mounts_containing(&s).is_empty());
    assert_clean(&d);
}

#[test]
fn prune_follows_the_api_version() {
    if !prerequisites("volume tests") {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    d.docker_ok(&["volume", "create", "named"]);
    d.docker_ok(&["volume", "create", "--label", "keep=1", "labelled"]);
    let c = d.docker_ok(&["create", "--network", "none", "-v", "/anon", IMAGE, "true"]);
    let anon = inspect(&d, &["inspect", c.trim()])["Mounts"][0]["Name"]
        .as_str()
        .expect("name")
        .to_string();
    d.docker_ok(&[
        "create",
        "--network",
        "none",
        "-v",
        "used:/u",
        IMAGE,
        "true",
    ]);
    d.docker_ok(&["rm", c.trim()]);
    // Docker 23+: only anonymous volumes unless --all.
    let out = d.docker_ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&anon), "{out}");
    assert_eq!(volume_names(&d, &[]), ["labelled", "named", "used"]);
    d.docker_ok(&["volume", "prune", "-f", "--all", "--filter", "label!=keep"]);
    assert_eq!(volume_names(&d, &[]), ["labelled", "used"]);
    // API 1.41 (dockerd 20.10): every unused volume.
    let o = run(d
        .docker()
        .env("DOCKER_API_VERSION", "1.41")
        .args(["volume", "prune", "-f"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(volume_names(&d, &[]), ["used"]);
    assert_clean(&d);
}

#[test]
fn docker_py_volumes() {
    if !prerequisites("docker-py volume tests") {
        return;
    }
    let py = run(Command::new("python3").args([
        "-c",
        "import docker, sys; sys.exit(docker.__version__ != '7.1.0')",
    ]));
    if !require(
        py.status.success(),
        "docker-py 7.1.0 is not importable by python3",
    ) {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/docker_py/volumes.py");
    let o = run(Command::new("python3")
        .arg(script)
        .arg(d.host())
        .arg(IMAGE)
        .env_remove("DOCKER_HOST"));
    assert!(
        o.status.success() && stdout(&o).lines().last() == Some("{\"ok\": true}"),
        "docker-py volumes: {}\n{}\n{}",
        stdout(&o),
        stderr(&o),
        last_lines(&d.log(), 30)
    );
    assert_clean(&d);
}

#[test]
fn compose_named_volume_shared_by_two_services() {
    if !prerequisites("compose volume tests") {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    if !require(
        berth_e2e::compose_plugin(&d.docker_config_dir()),
        "docker compose v2 is not installed (scripts/deps.sh)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        format!(
            "name: voltest\nservices:\n  writer:\n    image: {IMAGE}\n    network_mode: none\n    command: [\"sh\", \"-c\", \"echo from-writer > /shared/msg\"]\n    volumes: [\"data:/shared\"]\n  reader:\n    image: {IMAGE}\n    network_mode: none\n    command: [\"sh\", \"-c\", \"cat /data/msg\"]\n    volumes: [\"data:/data:ro\"]\n    depends_on:\n      writer:\n        condition: service_completed_successfully\nvolumes:\n  data: {{}}\n"
        ),
    )
    .expect("compose file");
    let f = file.display().to_string();
    d.docker_ok(&[
        "compose",
        "-f",
        &f,
        "up",
        "--abort-on-container-exit",
        "--exit-code-from",
        "reader",
    ]);
    let logs = d.docker_ok(&["compose", "-f", &f, "logs", "--no-log-prefix", "reader"]);
    assert_eq!(logs.trim(), "from-writer");
    let v = inspect(&d, &["volume", "inspect", "voltest_data"]);
    assert_eq!(v["Labels"]["com.docker.compose.volume"], "data", "{v}");
    d.docker_ok(&["compose", "-f", &f, "down", "-v"]);
    assert_eq!(volume_names(&d, &[]), Vec::<String>::new());
    assert_clean(&d);
}
