//! Read-only mounts that are read-only all the way down, and `docker cp` through a container's
//! mounts, with the real docker CLI 28 against `berth daemon`:
//! - a `ro` bind of a host directory with a tmpfs mounted below it: no write reaches the
//!   host's tmpfs (checked from the host), as with Docker 25+ (`rro`); `bind-recursive=
//!   writable` keeps the submount writable, `disabled` leaves it out; an API 1.43 client gets
//!   Docker 24's top-only read-only; a read-only volume with a submount likewise;
//! - the berth CLI sends the HostConfig docker CLI 28 sends for `bind-recursive`;
//! - `docker cp` into and out of a volume, a bind and a tmpfs of a running container, into the
//!   volume of a created and of a stopped container, the generated /etc/hostname, a read-only
//!   volume refusing a copy, and symlinks in a volume that lead out of it staying inside the
//!   container.

use berth_e2e::{docker_cli_prerequisites, last_lines, require, run, stderr, stdout};
use berth_e2e::{BerthDaemon, DOCKER_CLI};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const IMAGE: &str = "busybox:mounts";

fn prerequisites(what: &str) -> bool {
    docker_cli_prerequisites(what, "namespaces, mounts")
}

/// A tmpfs mounted on `dir/sub` of the host for the test's duration.
struct HostSubmount {
    dir: tempfile::TempDir,
}

impl HostSubmount {
    fn new() -> HostSubmount {
        let dir = tempfile::Builder::new()
            .prefix("berth-rro-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let o = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path().join("sub")));
        assert!(o.status.success(), "mount tmpfs: {}", stderr(&o));
        std::fs::write(dir.path().join("sub/marker"), "on the host's tmpfs\n").expect("marker");
        HostSubmount { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn src(&self) -> String {
        self.path().display().to_string()
    }
}

impl Drop for HostSubmount {
    fn drop(&mut self) {
        let _ = run(Command::new("umount")
            .arg("-l")
            .arg(self.dir.path().join("sub")));
    }
}

/// `docker run --rm --network none ARGS sh -c SCRIPT` → (exit code, stdout + stderr).
fn sh(d: &BerthDaemon, args: &[&str], script: &str) -> (Option<i32>, String) {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(args);
    a.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    let o = d.docker_run(&a);
    (o.status.code(), format!("{}{}", stdout(&o), stderr(&o)))
}

/// The whole recursive read-only story with `runtime` (empty: the daemon's default).
fn read_only_binds_hold_below_the_top(runtime: &[&str]) {
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    let host = HostSubmount::new();
    let src = host.src();

    // -v SRC:/mnt:ro: the tmpfs below is read-only in the container, the host sees nothing.
    let v = format!("{src}:/mnt:ro");
    let mut args = runtime.to_vec();
    args.extend_from_slice(&["-v", &v]);
    let (code, out) = sh(
        &d,
        &args,
        "cat /mnt/sub/marker; touch /mnt/sub/p || echo refused; grep ' /mnt/sub ' /proc/mounts",
    );
    assert_eq!(code, Some(0), "{out}\n{}", last_lines(&d.log(), 30));
    assert!(out.contains("on the host's tmpfs"), "{out}");
    assert!(
        out.contains("refused"),
        "a ro bind's submount is writable: {out}"
    );
    assert!(
        out.contains(" ro,"),
        "the submount is not mounted read-only: {out}"
    );
    assert!(
        !host.path().join("sub/p").exists(),
        "a write reached the host"
    );

    // A --read-only root: the generated /etc files and a ro bind below it hold too.
    let mut args = runtime.to_vec();
    args.extend_from_slice(&["--read-only", "-v", &v]);
    let (code, out) = sh(
        &d,
        &args,
        "touch /etc/hostname || echo etc-refused; touch /mnt/sub/r || echo sub-refused",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("etc-refused") && out.contains("sub-refused"),
        "{out}"
    );
    assert!(
        !host.path().join("sub/r").exists(),
        "a write reached the host"
    );

    // --mount ...,readonly (bind-recursive=enabled, the default) does the same.
    let m = format!("type=bind,src={src},dst=/mnt,readonly,bind-recursive=enabled");
    let mut args = runtime.to_vec();
    args.extend_from_slice(&["--mount", &m]);
    let (code, out) = sh(&d, &args, "touch /mnt/sub/q || echo refused");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("refused"), "{out}");
    assert!(
        !host.path().join("sub/q").exists(),
        "a write reached the host"
    );

    // bind-recursive=writable: Docker 24's read-only top and writable submounts.
    let m = format!("type=bind,src={src},dst=/mnt,readonly,bind-recursive=writable");
    let mut args = runtime.to_vec();
    args.extend_from_slice(&["--mount", &m]);
    let (code, out) = sh(
        &d,
        &args,
        "touch /mnt/top || echo top-refused; touch /mnt/sub/w && echo sub-written",
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("top-refused") && out.contains("sub-written"),
        "{out}"
    );
    assert!(host.path().join("sub/w").exists());
    assert!(!host.path().join("top").exists());

    // bind-recursive=disabled: no submount at all, the directory under it is empty.
    let m = format!("type=bind,src={src},dst=/mnt,bind-recursive=disabled");
    let mut args = runtime.to_vec();
    args.extend_from_slice(&["--mount", &m]);
    let (code, out) = sh(
        &d,
        &args,
        "ls -A /mnt/sub; grep -c ' /mnt/sub ' /proc/mounts",
    );
    assert_eq!(code, Some(1), "grep found no mount: {out}");
    assert!(!out.contains("marker"), "{out}");

    // An API 1.43 client gets what Docker 24 did: read-only at the top only.
    let v = format!("{src}:/mnt:ro");
    let mut c = d.docker();
    c.env("DOCKER_API_VERSION", "1.43")
        .args(["run", "--rm", "--network", "none"])
        .args(runtime)
        .args([
            "-v",
            &v,
            IMAGE,
            "sh",
            "-c",
            "touch /mnt/sub/old && echo old-written",
        ]);
    let o = run(&mut c);
    assert!(
        stdout(&o).contains("old-written"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(host.path().join("sub/old").exists());

    // A read-only volume whose data has a mount below it.
    d.docker_ok(&["volume", "create", "rv"]);
    let data = d.data_root.join("volumes/rv/_data");
    std::fs::create_dir(data.join("sub")).expect("mkdir");
    let o = run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(data.join("sub")));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut args = runtime.to_vec();
    args.extend_from_slice(&["-v", "rv:/v:ro"]);
    let (code, out) = sh(&d, &args, "touch /v/sub/x || echo refused");
    let _ = run(Command::new("umount").arg("-l").arg(data.join("sub")));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("refused"),
        "a ro volume's submount is writable: {out}"
    );
}

#[test]
fn ro_bind_submounts_stay_read_only() {
    if !prerequisites("recursive read-only tests") {
        return;
    }
    read_only_binds_hold_below_the_top(&[]);
}

#[test]
fn ro_bind_submounts_stay_read_only_with_runc() {
    if !prerequisites("recursive read-only tests")
        || !require(berth_e2e::which("runc").is_some(), "runc is not installed")
    {
        return;
    }
    read_only_binds_hold_below_the_top(&["--runtime", "runc"]);
}

#[test]
fn bind_recursive_flags_send_what_docker_sends() {
    if !prerequisites("bind-recursive flag tests") {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    let src = tempfile::tempdir().expect("tempdir");
    let s = src.path().display().to_string();
    let mounts = [
        format!("type=bind,src={s},dst=/a,ro,bind-recursive=enabled"),
        format!("type=bind,src={s},dst=/b,ro,bind-recursive=writable"),
        format!("type=bind,src={s},dst=/c,bind-recursive=disabled"),
        format!("Type=bind,src={s},dst=/d,readonly=true,bind-propagation=rprivate,bind-recursive=readonly"),
    ];
    let create = |program: &Path, name: &str| {
        let mut c = Command::new(program);
        c.env("DOCKER_HOST", d.host())
            .env("BERTH_HOST", d.host())
            .env("DOCKER_CONFIG", d.docker_config_dir())
            .args(["create", "--name", name]);
        for m in &mounts {
            c.args(["--mount", m]);
        }
        c.args([IMAGE, "true"]);
        let o = run(&mut c);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    };
    create(Path::new(DOCKER_CLI), "by-docker");
    create(&berth_e2e::bin("berth"), "by-berth");
    let shape = |name: &str| d.docker_ok(&["inspect", "-f", "{{json .HostConfig.Mounts}}", name]);
    let by_docker = shape("by-docker");
    assert!(
        by_docker.contains("\"ReadOnlyNonRecursive\":true"),
        "{by_docker}"
    );
    assert!(
        by_docker.contains("\"ReadOnlyForceRecursive\":true"),
        "{by_docker}"
    );
    assert_eq!(shape("by-berth"), by_docker);
    d.docker_ok(&["rm", "by-docker", "by-berth"]);
}

/// A tar archive with one regular file.
fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, name, data).expect("append");
    b.into_inner().expect("tar")
}

/// `docker cp - CONTAINER:DIR` of a one-file archive.
fn cp_in(d: &BerthDaemon, container: &str, dir: &str, name: &str, data: &[u8]) -> Output {
    let mut c = d.docker();
    c.args(["cp", "-", &format!("{container}:{dir}")]);
    berth_e2e::run_with_stdin(c, Some(&tar_of(name, data)))
}

/// `docker cp CONTAINER:PATH -`: the archive's regular files, name → content.
fn cp_out(d: &BerthDaemon, container: &str, path: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let o = d.docker_run(&["cp", &format!("{container}:{path}"), "-"]);
    if !o.status.success() {
        return Err(stderr(&o));
    }
    let mut a = tar::Archive::new(&o.stdout[..]);
    let mut out = Vec::new();
    for e in a.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        if e.header().entry_type() == tar::EntryType::Regular {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).map_err(|e| e.to_string())?;
            out.push((
                e.path().map_err(|e| e.to_string())?.display().to_string(),
                data,
            ));
        }
    }
    Ok(out)
}

fn volume_data(d: &BerthDaemon, name: &str) -> PathBuf {
    d.data_root.join("volumes").join(name).join("_data")
}

#[test]
fn cp_goes_through_the_containers_mounts() {
    if !prerequisites("docker cp tests") {
        return;
    }
    let d = BerthDaemon::with_busybox(&[], IMAGE);
    let bind = tempfile::tempdir().expect("tempdir");
    let b = format!("{}:/b", bind.path().display());
    d.docker_ok(&["volume", "create", "rov"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "cpc",
        "--network",
        "none",
        "-v",
        "cpv:/data",
        "-v",
        &b,
        "-v",
        "rov:/ro:ro",
        "--tmpfs",
        "/t",
        IMAGE,
        "sleep",
        "600",
    ]);

    // Into and out of the volume: the file is in the volume, not under it.
    let o = cp_in(&d, "cpc", "/data/", "f", b"into the volume\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(volume_data(&d, "cpv").join("f"))
            .ok()
            .as_deref(),
        Some(&b"into the volume\n"[..]),
        "the copy did not land in the volume"
    );
    assert_eq!(
        d.docker_ok(&["exec", "cpc", "cat", "/data/f"]).trim(),
        "into the volume"
    );
    d.docker_ok(&["exec", "cpc", "sh", "-c", "echo made inside > /data/g"]);
    assert_eq!(
        cp_out(&d, "cpc", "/data/g"),
        Ok(vec![("g".into(), b"made inside\n".to_vec())])
    );

    // A bind: the host directory gets it, and what the host puts there comes out.
    let o = cp_in(&d, "cpc", "/b", "f", b"into the bind\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(bind.path().join("f"))
            .ok()
            .as_deref(),
        Some("into the bind\n")
    );
    std::fs::write(bind.path().join("h"), "from the host\n").expect("write");
    assert_eq!(
        cp_out(&d, "cpc", "/b/h"),
        Ok(vec![("h".into(), b"from the host\n".to_vec())])
    );

    // The running container's tmpfs.
    let o = cp_in(&d, "cpc", "/t", "f", b"into the tmpfs\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        d.docker_ok(&["exec", "cpc", "cat", "/t/f"]).trim(),
        "into the tmpfs"
    );
    d.docker_ok(&["exec", "cpc", "sh", "-c", "echo in memory > /t/m"]);
    assert_eq!(
        cp_out(&d, "cpc", "/t/m"),
        Ok(vec![("m".into(), b"in memory\n".to_vec())])
    );

    // The generated /etc/hostname, not the image's empty placeholder.
    let hostname = d.docker_ok(&["exec", "cpc", "hostname"]).trim().to_string();
    assert_eq!(hostname.len(), 12, "{hostname}");
    assert_eq!(
        cp_out(&d, "cpc", "/etc/hostname"),
        Ok(vec![(
            "hostname".into(),
            format!("{hostname}\n").into_bytes()
        )])
    );

    // The whole file system: the mounts' contents, none of the runtime's /proc or /sys.
    let all = cp_out(&d, "cpc", "/").expect("cp out of /");
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    for want in ["data/f", "b/h", "t/m", "etc/hostname"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("proc/") || n.starts_with("sys/") || n.starts_with("dev/")),
        "{names:?}"
    );

    // A read-only volume refuses a copy, with dockerd's words.
    let o = cp_in(&d, "cpc", "/ro", "f", b"x");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("mounted volume is marked read-only"),
        "{}",
        stderr(&o)
    );
    assert!(!volume_data(&d, "rov").join("f").exists());

    // Symlinks in a volume that lead out of it resolve in the container, never on the host.
    let marker = format!("berth-cp-escape-{}", std::process::id());
    d.docker_ok(&[
        "exec",
        "cpc",
        "sh",
        "-c",
        "ln -s ../../../../../../../../etc /data/up && ln -s /etc /data/abs",
    ]);
    for link in ["/data/up/", "/data/abs/"] {
        let o = cp_in(&d, "cpc", link, &marker, b"stays inside\n");
        assert!(o.status.success(), "{link}: {}", stderr(&o));
        assert!(
            !Path::new("/etc").join(&marker).exists(),
            "{link}: the copy reached the host's /etc"
        );
        assert_eq!(
            d.docker_ok(&["exec", "cpc", "cat", &format!("/etc/{marker}")])
                .trim(),
            "stays inside"
        );
        d.docker_ok(&["exec", "cpc", "rm", &format!("/etc/{marker}")]);
    }
    // -L: the CLI follows the link with the target the daemon reports, in the container.
    let o = d.docker_run(&["cp", "-L", "cpc:/data/abs", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut a = tar::Archive::new(&o.stdout[..]);
    let names: Vec<String> = a
        .entries()
        .expect("tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect();
    assert!(names.iter().any(|n| n.ends_with("/hostname")), "{names:?}");
    let host_passwd = std::fs::read("/etc/passwd").expect("host passwd");
    let theirs = d.docker_ok(&["exec", "cpc", "cat", "/etc/passwd"]);
    let got = cp_out(&d, "cpc", "/data/up/passwd").expect("cp out through the link");
    assert_eq!(got.len(), 1);
    assert_eq!(String::from_utf8_lossy(&got[0].1).trim(), theirs.trim());
    assert_ne!(theirs.trim().as_bytes(), host_passwd.trim_ascii());
    d.docker_ok(&["rm", "-f", "cpc"]);

    // A created container's volume, and a stopped one's.
    d.docker_ok(&["create", "--name", "new", "-v", "nv:/data", IMAGE, "true"]);
    let o = cp_in(&d, "new", "/data", "f", b"before the first start\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(volume_data(&d, "nv").join("f"))
            .ok()
            .as_deref(),
        Some("before the first start\n")
    );
    d.docker_ok(&[
        "run",
        "--name",
        "old",
        "--network",
        "none",
        "-v",
        "ov:/data",
        IMAGE,
        "true",
    ]);
    let o = cp_in(&d, "old", "/data/", "f", b"after the end\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(volume_data(&d, "ov").join("f"))
            .ok()
            .as_deref(),
        Some("after the end\n")
    );
    assert_eq!(
        cp_out(&d, "old", "/data/f"),
        Ok(vec![("f".into(), b"after the end\n".to_vec())])
    );
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "old"]);
    assert_eq!(
        cp_out(&d, "old", "/etc/hostname"),
        Ok(vec![(
            "hostname".into(),
            format!("{}\n", &id[..12]).into_bytes()
        )])
    );
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "ov:/data",
            IMAGE,
            "cat",
            "/data/f"
        ])
        .trim(),
        "after the end"
    );
    d.docker_ok(&["rm", "new", "old"]);
    // The views were private: nothing of them is left mounted.
    assert_eq!(d.leftover_mounts(), Vec::<String>::new());
}
