//! Images through `berth daemon`, driven by the real docker CLI 28 and docker-py against
//! Debian's docker-registry on 127.0.0.1: pull, images, inspect, tag, push, rmi, save/load,
//! import, login/logout with htpasswd auth, and a daemon killed in the middle of a pull.

use berth_e2e::{
    busybox_docker_archive, busybox_rootfs_tar, docker_cli_prerequisites, require, run, stderr,
    stdout, which, BerthDaemon, DockerRegistry,
};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn prerequisites(what: &str) -> bool {
    docker_cli_prerequisites(what, "snapshots, mounts")
        && require(which("skopeo").is_some(), "skopeo is not installed")
}

/// A registry holding `busybox:latest` (the busybox rootfs as one layer) and a daemon that may
/// use it over plain HTTP.
fn setup(auth: Option<(&str, &str)>) -> Option<(DockerRegistry, BerthDaemon)> {
    let reg = DockerRegistry::start(auth)?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("busybox.tar");
    busybox_docker_archive(&archive, "busybox:latest");
    let creds = auth.map(|(u, p)| format!("{u}:{p}"));
    reg.push_archive(&archive, "busybox:latest", creds.as_deref());
    let daemon = BerthDaemon::start(&["--insecure-registry", &reg.addr]);
    Some((reg, daemon))
}

fn docker(d: &BerthDaemon, args: &[&str]) -> Output {
    run(d.docker().args(args))
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}",
        stderr(o),
        stdout(o)
    );
    stdout(o)
}

/// Stops the daemon and checks nothing stays mounted under its roots.
fn finish(mut d: BerthDaemon) {
    d.stop();
    assert_eq!(
        d.leftover_mounts(),
        Vec::<String>::new(),
        "mounts left behind"
    );
    let dir = d.dir.path().to_path_buf();
    drop(d);
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn cli_pull_images_inspect_tag_push_rmi() {
    if !prerequisites("daemon image tests") {
        return;
    }
    let Some((reg, d)) = setup(None) else { return };
    let name = format!("{}/busybox", reg.addr);

    let o = docker(&d, &["pull", &name]);
    let out = ok(&o, "docker pull");
    assert!(out.contains("Pulling from"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}:latest")),
        "{out}"
    );
    // A second pull finds it up to date.
    let out = ok(&docker(&d, &["pull", &name]), "second pull");
    assert!(out.contains("Image is up to date"), "{out}");

    let out = ok(&docker(&d, &["images"]), "docker images");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&name) && l.contains("latest")),
        "{out}"
    );

    let out = ok(&docker(&d, &["image", "inspect", &name]), "inspect");
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect JSON");
    let img = &v[0];
    assert!(img["Id"].as_str().is_some_and(|s| s.starts_with("sha256:")));
    assert_eq!(img["RepoTags"][0], format!("{name}:latest"));
    assert!(img["RepoDigests"][0]
        .as_str()
        .is_some_and(|s| s.starts_with(&format!("{name}@sha256:"))));
    assert_eq!(img["Os"], "linux");
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(img["Config"]["Cmd"][0], "sh");
    assert_eq!(img["GraphDriver"]["Name"], "overlay2");
    let id = img["Id"].as_str().expect("id").to_string();

    // Format strings go through the same JSON.
    let out = ok(
        &docker(
            &d,
            &["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", &name],
        ),
        "inspect -f",
    );
    assert!(out.starts_with("linux/"), "{out}");

    // Tag into a nested repository (a name with slashes) and push it.
    let pushed = format!("{}/team/app:v1", reg.addr);
    ok(&docker(&d, &["tag", &name, &pushed]), "docker tag");
    let out = ok(
        &docker(
            &d,
            &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
        ),
        "images",
    );
    assert!(out.contains(&format!("{pushed} {}", &id[7..19])), "{out}");
    let out = ok(&docker(&d, &["push", &pushed]), "docker push");
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    let o = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{pushed}"),
    ]));
    assert!(
        o.status.success(),
        "the pushed image is in the registry: {}",
        stderr(&o)
    );

    // History shows the image ID on top.
    let out = ok(&docker(&d, &["history", "--no-trunc", &pushed]), "history");
    assert!(out.contains(&id), "{out}");

    // rmi of one of two names untags; of the last name deletes.
    let out = ok(&docker(&d, &["rmi", &pushed]), "rmi tag");
    assert!(out.contains(&format!("Untagged: {pushed}")), "{out}");
    assert!(!out.contains("Deleted"), "{out}");
    let out = ok(&docker(&d, &["rmi", &name]), "rmi last");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    let out = ok(&docker(&d, &["images", "-q"]), "images -q");
    assert_eq!(out, "", "no image left");
    let o = docker(&d, &["image", "inspect", &name]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No such image"), "{}", stderr(&o));

    // A pull of what the registry does not have: exit 1, Docker's message.
    let o = docker(&d, &["pull", &format!("{}/nosuch:1", reg.addr)]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("not found") && e.contains("manifest unknown"),
        "{e}"
    );
    // Pulled back from the push: the same image ID.
    ok(&docker(&d, &["pull", &pushed]), "pull what was pushed");
    let out = ok(&docker(&d, &["images", "-q", "--no-trunc"]), "images");
    assert_eq!(out, id);
    finish(d);
}

#[test]
fn cli_save_load_import() {
    if !prerequisites("daemon image tests") {
        return;
    }
    let Some((reg, d)) = setup(None) else { return };
    let name = format!("{}/busybox:latest", reg.addr);
    ok(&docker(&d, &["pull", "-q", &name]), "pull");
    let id = ok(&docker(&d, &["images", "-q", "--no-trunc"]), "images");

    let tmp = tempfile::tempdir().expect("tempdir");
    let saved = tmp.path().join("saved.tar");
    ok(
        &docker(&d, &["save", "-o", saved.to_str().expect("utf-8"), &name]),
        "save",
    );
    let listing = run(Command::new("tar").arg("-tf").arg(&saved));
    let files = stdout(&listing);
    assert!(
        files.contains("manifest.json") && files.contains("index.json"),
        "{files}"
    );
    ok(&docker(&d, &["rmi", &name]), "rmi");
    let out = ok(
        &docker(&d, &["load", "-i", saved.to_str().expect("utf-8")]),
        "load",
    );
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
    let out = ok(&docker(&d, &["images", "-q", "--no-trunc"]), "images");
    assert_eq!(out, id, "the loaded image has the saved ID");

    // A bad archive is refused by name and leaves nothing.
    std::fs::write(tmp.path().join("bad.tar"), b"not a tar at all").expect("write");
    let o = docker(
        &d,
        &[
            "load",
            "-i",
            tmp.path().join("bad.tar").to_str().expect("utf-8"),
        ],
    );
    assert!(!o.status.success(), "a bad archive loads: {}", stdout(&o));

    // docker import of a rootfs tar, from stdin, with a change.
    let rootfs = tmp.path().join("rootfs.tar");
    busybox_rootfs_tar(&rootfs);
    let o = run(d
        .docker()
        .args([
            "import",
            "-c",
            "ENV HELLO=world",
            "-m",
            "from a tar",
            "-",
            "imported:1",
        ])
        .stdin(std::fs::File::open(&rootfs).expect("open rootfs")));
    let imported = ok(&o, "import");
    assert!(imported.starts_with("sha256:"), "{imported}");
    let out = ok(
        &docker(
            &d,
            &[
                "image",
                "inspect",
                "-f",
                "{{.Id}} {{json .Config.Env}}",
                "imported:1",
            ],
        ),
        "inspect imported",
    );
    assert!(out.starts_with(&imported), "{out}");
    assert!(out.contains("HELLO=world"), "{out}");
    let out = ok(
        &docker(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "images",
    );
    assert!(out.lines().any(|l| l == "imported:1"), "{out}");
    // Temporary request files are gone.
    let tmpdir = d.data_root.join("image/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmpdir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "temporary files left: {left:?}");

    // prune -a removes what no container uses.
    let out = ok(&docker(&d, &["image", "prune", "-a", "-f"]), "prune");
    assert!(out.contains("deleted: sha256:"), "{out}");
    assert_eq!(ok(&docker(&d, &["images", "-q"]), "images"), "");
    finish(d);
}

#[test]
fn cli_login_logout_htpasswd() {
    if !prerequisites("daemon login tests") {
        return;
    }
    if !require(
        which("htpasswd").is_some(),
        "htpasswd is not installed (apache2-utils)",
    ) {
        return;
    }
    let (user, pass) = ("berth", "s3cret-pass");
    let Some((reg, d)) = setup(Some((user, pass))) else {
        return;
    };
    let name = format!("{}/busybox:latest", reg.addr);

    // Anonymous pull is refused.
    let o = docker(&d, &["pull", &name]);
    assert!(!o.status.success(), "anonymous pull worked: {}", stdout(&o));

    let login = |password: &str| -> Output {
        let mut c = d.docker();
        c.args(["login", &reg.addr, "-u", user, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("docker login");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(password.as_bytes())
            .expect("write password");
        child.wait_with_output().expect("wait login")
    };
    let o = login("wrong");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("401 Unauthorized"), "{}", stderr(&o));
    let config = d.docker_config_dir().join("config.json");
    let has_entry = || {
        std::fs::read_to_string(&config)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .is_some_and(|v| v["auths"].get(reg.addr.as_str()).is_some())
    };
    assert!(!has_entry(), "a refused login was stored");

    let o = login(pass);
    let out = ok(&o, "login");
    assert!(out.contains("Login Succeeded"), "{out}");
    assert!(
        has_entry(),
        "login stored no credentials in {}",
        config.display()
    );
    ok(&docker(&d, &["pull", &name]), "pull with credentials");
    let pushed = format!("{}/mine:1", reg.addr);
    ok(&docker(&d, &["tag", &name, &pushed]), "tag");
    ok(&docker(&d, &["push", &pushed]), "push with credentials");

    ok(&docker(&d, &["logout", &reg.addr]), "logout");
    assert!(!has_entry(), "logout left the credentials");
    ok(&docker(&d, &["rmi", &pushed, &name]), "rmi");
    let o = docker(&d, &["pull", &name]);
    assert!(!o.status.success(), "pull after logout worked");
    finish(d);
}

#[test]
fn docker_py_images() {
    if !prerequisites("docker-py image tests") {
        return;
    }
    let py_ok = run(Command::new("python3").args(["-c", "import docker"]))
        .status
        .success();
    if !require(py_ok, "python3 docker (docker-py) is not installed") {
        return;
    }
    let Some((reg, d)) = setup(None) else { return };
    let script = r#"
import docker, json, os, sys
reg = sys.argv[1]
# A pinned version: the image calls alone, without /version negotiation.
c = docker.from_env(version="1.45")
img = c.images.pull(reg + "/busybox", tag="latest")
assert img.id.startswith("sha256:"), img.id
assert reg + "/busybox:latest" in img.tags, img.tags
names = [t for i in c.images.list() for t in i.tags]
assert reg + "/busybox:latest" in names, names
got = c.images.get(reg + "/busybox:latest")
assert got.id == img.id
assert got.attrs["Config"]["Cmd"] == ["sh"], got.attrs["Config"]
assert img.tag(reg + "/py/pushed", tag="2")
out = c.images.push(reg + "/py/pushed", tag="2")
lines = [json.loads(l) for l in out.strip().splitlines()]
assert not any("error" in l for l in lines), lines
assert any("digest" in l.get("status", "") for l in lines), lines
c.images.remove(reg + "/py/pushed:2")
c.images.remove(reg + "/busybox:latest")
assert c.images.list() == [], c.images.list()
try:
    c.images.get("nosuch:1")
    sys.exit("get of a missing image worked")
except docker.errors.ImageNotFound as e:
    assert "No such image" in str(e), str(e)
again = c.images.pull(reg + "/py/pushed", tag="2")
assert again.id == img.id
print("ok")
"#;
    let o = run(Command::new("python3")
        .args(["-c", script, &reg.addr])
        .env("DOCKER_HOST", d.host()));
    assert!(
        o.status.success() && stdout(&o).ends_with("ok"),
        "docker-py: {}\n{}\ndaemon log:\n{}",
        stdout(&o),
        stderr(&o),
        d.log()
    );
    finish(d);
}

/// A docker-archive with one layer holding `mb` MiB of random bytes (incompressible, so the
/// download takes a while even on loopback).
fn big_archive(dir: &Path, mb: usize, name: &str) -> std::path::PathBuf {
    let root = dir.join("bigroot");
    std::fs::create_dir_all(&root).expect("mkdir");
    let o = run(Command::new("dd")
        .arg("if=/dev/urandom")
        .arg(format!("of={}", root.join("blob").display()))
        .arg("bs=1M")
        .arg(format!("count={mb}"))
        .arg("status=none"));
    assert!(o.status.success(), "dd: {}", stderr(&o));
    let layer = dir.join("layer.tar");
    let o = run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    assert!(o.status.success(), "tar: {}", stderr(&o));
    let o = run(Command::new("sha256sum").arg(&layer));
    let diff_id = stdout(&o)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]}
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
    let manifest =
        serde_json::json!([{"Config": "config.json", "RepoTags": [name], "Layers": ["layer.tar"]}]);
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("manifest");
    let out = dir.join("big.tar");
    let o = run(Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(&out)
        .args(["manifest.json", "config.json", "layer.tar"]));
    assert!(o.status.success(), "tar: {}", stderr(&o));
    out
}

/// `docker pull NAME` started in the background with no output, to be interrupted.
fn spawn_quiet_pull(d: &BerthDaemon, name: &str) -> std::process::Child {
    d.docker()
        .args(["pull", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker pull")
}

/// Bytes in the daemon's content ingests (downloads under way).
fn ingest_bytes(d: &BerthDaemon) -> u64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .map(|r| {
                r.flatten()
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => walk(&e.path()),
                        _ => e.metadata().map_or(0, |m| m.len()),
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&d.data_root.join("image/content/ingest"))
}

#[test]
fn sigkill_during_pull_leaves_no_half_image() {
    if !prerequisites("daemon crash tests") {
        return;
    }
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = big_archive(tmp.path(), 192, "big:latest");
    reg.push_archive(&archive, "big:latest", None);
    let mut d = BerthDaemon::start(&["--insecure-registry", &reg.addr]);
    let name = format!("{}/big:latest", reg.addr);

    let mut pull = spawn_quiet_pull(&d, &name);
    // Kill the daemon as soon as the layer download is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ingest_bytes(&d) == 0 && std::time::Instant::now() < deadline {
        if pull.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let caught = ingest_bytes(&d) > 0;
    d.kill();
    let status = pull.wait().expect("wait pull");
    eprintln!("killed mid-download: {caught}; docker pull ended with {status}");

    d.restart();
    let out = ok(
        &docker(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "images",
    );
    if caught {
        assert!(
            !out.contains("big"),
            "a half-pulled image is listed after the crash:\n{out}"
        );
    }
    let o = docker(&d, &["image", "inspect", &name]);
    if caught {
        assert!(!o.status.success(), "a half-pulled image can be inspected");
    }
    // The layer being unpacked when the daemon died is not left as a snapshot.
    let meta = std::fs::read_to_string(d.data_root.join("image/snapshots/metadata.json"))
        .unwrap_or_default();
    assert!(
        !meta.contains("\"extract-"),
        "an interrupted unpack's snapshot survived the restart:\n{meta}"
    );
    let out = ok(&docker(&d, &["pull", &name]), "pull after the crash");
    assert!(out.contains("Status:"), "{out}");
    let out = ok(
        &docker(
            &d,
            &["image", "inspect", "-f", "{{len .RootFS.Layers}}", &name],
        ),
        "inspect",
    );
    assert_eq!(out, "1");
    ok(&docker(&d, &["rmi", &name]), "rmi");
    finish(d);
}

/// Every path under `dir` (files and directories), sorted; empty when `dir` is missing.
fn paths_under(dir: &Path) -> Vec<String> {
    fn walk(p: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            out.push(e.path().display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// What a load or pull may leave behind: request files, partial downloads, extracted archives.
fn image_leftovers(d: &BerthDaemon) -> Vec<String> {
    let image = d.data_root.join("image");
    let mut left = paths_under(&image.join("tmp"));
    left.extend(paths_under(&image.join("content/ingest")));
    for e in std::fs::read_dir(&image).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n.starts_with(".import-") || n.starts_with(".export-") || n.contains(".tmp-") {
            left.push(e.path().display().to_string());
        }
    }
    left
}

/// Blobs and committed snapshots of the store (what a refused load must not add to).
fn store_contents(d: &BerthDaemon) -> (Vec<String>, String) {
    let image = d.data_root.join("image");
    let blobs = paths_under(&image.join("content/blobs"));
    let meta: serde_json::Value = std::fs::read(image.join("snapshots/metadata.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // Committed snapshots only (an id counter may move).
    (blobs, meta["snapshots"].to_string())
}

/// A `docker load` of an archive whose manifest names an existing tag and whose layer holds
/// `../x` is refused whole: the tag keeps its image, nothing new is listed or stored, the error
/// names the entry, and the API answers as dockerd does (200 with an errorDetail).
#[test]
fn hostile_load_moves_no_tag() {
    if !prerequisites("daemon load tests") {
        return;
    }
    let d = BerthDaemon::start(&[]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = tmp.path().join("good.tar");
    busybox_docker_archive(&good, "victimtag:latest");
    ok(
        &docker(&d, &["load", "-i", good.to_str().expect("utf-8")]),
        "load the good image",
    );
    let inspect_id = || {
        ok(
            &docker(&d, &["image", "inspect", "-f", "{{.Id}}", "victimtag"]),
            "inspect victimtag",
        )
    };
    let before_id = inspect_id();
    let list = || {
        ok(
            &docker(
                &d,
                &[
                    "images",
                    "-a",
                    "--no-trunc",
                    "--format",
                    "{{.Repository}}:{{.Tag}} {{.ID}}",
                ],
            ),
            "images",
        )
    };
    let before_list = list();
    let before_store = store_contents(&d);

    use berth_e2e::images::{docker_archive, tar_bytes};
    let layer = tar_bytes(&[("ok.txt", b"fine\n"), ("../x", b"escaped\n")]);
    let hostile = tmp.path().join("hostile.tar");
    docker_archive(&hostile, "victimtag:latest", &layer);
    let o = docker(&d, &["load", "-i", hostile.to_str().expect("utf-8")]);
    assert!(
        !o.status.success(),
        "the hostile archive loaded: {}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("../x"),
        "the error does not name the entry: {}",
        stderr(&o)
    );

    // The same through the API: 200 and an errorDetail message, as dockerd answers.
    let out = run(Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(&d.socket)
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/x-tar",
            "--data-binary",
        ])
        .arg(format!("@{}", hostile.display()))
        .arg("http://localhost/images/load"));
    let body = stdout(&out);
    assert!(body.ends_with("200"), "{body}");
    assert!(
        body.contains("errorDetail") && body.contains("../x"),
        "{body}"
    );

    // docker-py raises ImageLoadError with the message.
    let py_ok = run(Command::new("python3").args(["-c", "import docker"]))
        .status
        .success();
    if require(py_ok, "python3 docker (docker-py) is not installed") {
        let script = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1], version="1.45")
try:
    c.images.load(open(sys.argv[2], "rb").read())
    sys.exit("the hostile archive loaded")
except docker.errors.ImageLoadError as e:
    assert "../x" in str(e), str(e)
print("ok")
"#;
        let o = run(Command::new("python3")
            .args(["-c", script, &d.host()])
            .arg(&hostile));
        assert!(
            stdout(&o).ends_with("ok"),
            "docker-py: {}\n{}",
            stdout(&o),
            stderr(&o)
        );
    }

    assert_eq!(
        inspect_id(),
        before_id,
        "victimtag was moved by a refused load"
    );
    assert_eq!(list(), before_list, "a refused load changed the image list");
    assert_eq!(
        store_contents(&d),
        before_store,
        "a refused load left blobs or snapshots"
    );
    assert_eq!(
        image_leftovers(&d),
        Vec::<String>::new(),
        "temporary files left"
    );
    assert!(!d.data_root.join("x").exists() && !d.data_root.join("image/x").exists());
    finish(d);
}

/// The files a process holds open under a directory whose path contains `marker`, with sizes
/// (works for named and for unlinked files).
fn held_files(pid: u32, marker: &str) -> Vec<(String, u64)> {
    let fds = format!("/proc/{pid}/fd");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&fds).into_iter().flatten().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let target = target.display().to_string();
        if target.contains(marker) {
            let size = std::fs::metadata(e.path()).map_or(0, |m| m.len());
            out.push((target, size));
        }
    }
    out
}

/// SIGKILL of the daemon in the middle of a `docker load` upload, then of a pull whose layer
/// download is stalled halfway: after each restart nothing is left under the image store's
/// tmp and ingest directories, no half image is listed, and the store still loads and pulls.
#[test]
fn sigkill_mid_load_and_mid_pull_leaves_nothing() {
    if !prerequisites("daemon crash tests") {
        return;
    }
    use berth_e2e::images::{docker_archive, random_bytes, tar_bytes, StallingRegistry};
    let layer = tar_bytes(&[("blob", &random_bytes(16 << 20))]);
    let reg = StallingRegistry::start(layer.clone());
    let mut d = BerthDaemon::start(&[]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("big.tar");
    docker_archive(&archive, "big:latest", &layer);
    let bytes = std::fs::read(&archive).expect("read archive");

    // Load: send half the body by hand, wait until the daemon holds it on disk, kill.
    let pid = d.pid().expect("daemon pid");
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).expect("connect");
    write!(
        s,
        "POST /images/load HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    )
    .expect("request head");
    s.write_all(&bytes[..bytes.len() / 2])
        .expect("half the body");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !held_files(pid, "/image/tmp").iter().any(|(_, n)| *n > 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never wrote the upload; log:\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    d.kill();
    drop(s);
    d.restart();
    assert_eq!(
        image_leftovers(&d),
        Vec::<String>::new(),
        "an interrupted load left files"
    );
    assert_eq!(ok(&docker(&d, &["images", "-a", "-q"]), "images"), "");

    // Pull: the registry sends half the layer and stalls; kill once the daemon has bytes.
    let name = format!("{}/stall/img:1", reg.addr);
    let mut pull = spawn_quiet_pull(&d, &name);
    while ingest_bytes(&d) == 0 {
        assert!(
            std::time::Instant::now() < deadline + std::time::Duration::from_secs(60),
            "the pull never started downloading; log:\n{}",
            d.log()
        );
        assert!(
            pull.try_wait().ok().flatten().is_none(),
            "docker pull ended early; log:\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    d.kill();
    let _ = pull.wait();
    d.restart();
    assert_eq!(
        image_leftovers(&d),
        Vec::<String>::new(),
        "an interrupted pull left files"
    );
    assert_eq!(ok(&docker(&d, &["images", "-a", "-q"]), "images"), "");

    // The store is whole: the same pull and load now complete.
    reg.set_stall(false);
    ok(&docker(&d, &["pull", &name]), "pull after the crash");
    ok(
        &docker(&d, &["load", "-i", archive.to_str().expect("utf-8")]),
        "load after the crash",
    );
    let out = ok(
        &docker(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "images",
    );
    assert!(out.lines().any(|l| l == "big:latest"), "{out}");
    assert!(out.lines().any(|l| l == name), "{out}");
    assert_eq!(
        image_leftovers(&d),
        Vec::<String>::new(),
        "files left after a whole load"
    );
    ok(&docker(&d, &["rmi", &name, "big:latest"]), "rmi");
    finish(d);
}
