//! Import/export: OCI layout dir and tar, docker-archive (legacy), plain rootfs tars.

mod common;

use berth_image::archive::{export_oci_dir, export_tar, import, import_rootfs};
use berth_image::config::ContainerConfig;
use berth_image::create::unpack_image;
use berth_image::snapshot::Driver;
use berth_image::store::ImageStore;
use berth_image::Digest;
use common::{make_image, six_layers, Tar};

fn store(t: &tempfile::TempDir, name: &str) -> ImageStore {
    // Copy driver: the merged tree is a plain directory the test can read without mounting.
    ImageStore::open(t.path().join(name), Some(Driver::Copy)).expect("store")
}

#[test]
fn oci_tar_and_dir_round_trip() {
    let Some(layers) = six_layers() else { return };
    let t = tempfile::tempdir().expect("tempdir");
    let src = store(&t, "src");
    let desc = make_image(&src, "example.com/six:1", &layers, false, "amd64");
    let tar = t.path().join("six.tar");
    export_tar(&src, &["example.com/six:1"], &tar).expect("export tar");
    let dst = store(&t, "dst");
    let names = import(&dst, &tar, None).expect("import tar");
    assert_eq!(names, vec!["example.com/six:1"]);
    assert_eq!(
        dst.find("example.com/six:1").expect("found").target.digest,
        desc.digest
    );
    let chain = unpack_image(&dst, "example.com/six:1")
        .expect("unpack")
        .expect("chain");
    common::check_six(
        &dst.snapshots()
            .committed_dir(&chain.to_string())
            .expect("dir"),
    );

    let dir = t.path().join("layout");
    export_oci_dir(&src, &["example.com/six:1"], &dir).expect("export dir");
    let dst2 = store(&t, "dst2");
    assert_eq!(
        import(&dst2, &dir, None).expect("import dir"),
        vec!["example.com/six:1"]
    );
    assert!(
        !dst.root().read_dir().expect("root").any(|e| e
            .expect("e")
            .file_name()
            .to_string_lossy()
            .starts_with(".import-")),
        "temp dir removed"
    );
}

#[test]
fn legacy_docker_archive() {
    let t = tempfile::tempdir().expect("tempdir");
    let layer = Tar::new()
        .dir("etc", 0o755)
        .file("etc/os-release", 0o644, b"ID=berth\n")
        .finish();
    let diff = Digest::sha256_of(&layer);
    let cfg = serde_json::json!({"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[diff.to_string()]}}).to_string();
    let cfg_name = format!("{}.json", Digest::sha256_of(cfg.as_bytes()).hex());
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": ["legacy:1"], "Layers": ["abc/layer.tar"]}]).to_string();
    let archive = Tar::new()
        .file("manifest.json", 0o644, manifest.as_bytes())
        .file(&cfg_name, 0o644, cfg.as_bytes())
        .dir("abc", 0o755)
        .file("abc/layer.tar", 0o644, &layer)
        .finish();
    let path = t.path().join("legacy.tar");
    std::fs::write(&path, &archive).expect("write");
    let s = store(&t, "s");
    assert_eq!(
        import(&s, &path, None).expect("import"),
        vec!["docker.io/library/legacy:1"]
    );
    let info = s.inspect("legacy:1").expect("inspect");
    assert_eq!(
        info.config.config.and_then(|c| c.cmd),
        Some(vec!["sh".to_string()])
    );
    let chain = unpack_image(&s, "legacy:1")
        .expect("unpack")
        .expect("chain");
    assert_eq!(
        std::fs::read(
            s.snapshots()
                .committed_dir(&chain.to_string())
                .expect("dir")
                .join("etc/os-release")
        )
        .expect("file"),
        b"ID=berth\n"
    );
}

#[test]
fn bad_archives_leave_nothing() {
    let t = tempfile::tempdir().expect("tempdir");
    let escape =
        serde_json::json!([{"Config": "../../etc/passwd", "RepoTags": ["x:1"], "Layers": []}])
            .to_string();
    let cases = [
        (
            "escape",
            Tar::new()
                .file("manifest.json", 0o644, escape.as_bytes())
                .finish(),
        ),
        ("neither", Tar::new().file("hello", 0o644, b"x").finish()),
        ("missing layer", {
            let cfg = r#"{"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
            let m = serde_json::json!([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["nope/layer.tar"]}]).to_string();
            Tar::new()
                .file("manifest.json", 0o644, m.as_bytes())
                .file("c.json", 0o644, cfg.as_bytes())
                .finish()
        }),
    ];
    for (what, bytes) in cases {
        let s = store(&t, what);
        let p = t.path().join(format!("{what}.tar"));
        std::fs::write(&p, bytes).expect("write");
        let err = import(&s, &p, None).expect_err(what);
        assert!(
            err.to_string().contains(&p.display().to_string()),
            "{what}: {err}"
        );
        assert!(s.records().expect("records").is_empty(), "{what}");
        s.gc().expect("gc");
        assert!(
            s.content().list().expect("list").is_empty(),
            "{what}: nothing left after gc"
        );
    }
}

#[test]
fn rootfs_tar_becomes_one_layer_image() {
    let Some(bb) = common::busybox_layer() else {
        return;
    };
    let t = tempfile::tempdir().expect("tempdir");
    let p = t.path().join("rootfs.tar.gz");
    std::fs::write(&p, common::gzip(&bb)).expect("write");
    let s = store(&t, "s");
    let cfg = ContainerConfig {
        cmd: Some(vec!["/bin/sh".into()]),
        ..Default::default()
    };
    import_rootfs(&s, &p, "rootfs:1", cfg).expect("import rootfs");
    let info = s.inspect("rootfs:1").expect("inspect");
    assert_eq!(info.manifest.layers.len(), 1);
    assert_eq!(info.config.rootfs.diff_ids, vec![Digest::sha256_of(&bb)]);
    let chain = unpack_image(&s, "rootfs:1")
        .expect("unpack")
        .expect("chain");
    assert!(s
        .snapshots()
        .committed_dir(&chain.to_string())
        .expect("dir")
        .join("bin/busybox")
        .is_file());
}

/// A docker-archive naming `tag` with one layer tar.
fn docker_archive(
    t: &tempfile::TempDir,
    file: &str,
    tag: &str,
    layer: &[u8],
) -> std::path::PathBuf {
    let diff = Digest::sha256_of(layer);
    let cfg = serde_json::json!({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[diff.to_string()]}}).to_string();
    let manifest =
        serde_json::json!([{"Config": "c.json", "RepoTags": [tag], "Layers": ["l.tar"]}])
            .to_string();
    let archive = Tar::new()
        .file("manifest.json", 0o644, manifest.as_bytes())
        .file("c.json", 0o644, cfg.as_bytes())
        .file("l.tar", 0o644, layer)
        .finish();
    let path = t.path().join(file);
    std::fs::write(&path, archive).expect("write");
    path
}

#[test]
fn refused_import_moves_no_name_and_keeps_nothing() {
    let t = tempfile::tempdir().expect("tempdir");
    let s = store(&t, "s");
    let good = Tar::new().file("ok", 0o644, b"good\n").finish();
    import(&s, &docker_archive(&t, "good.tar", "victim:1", &good), None).expect("good import");
    let before = s.inspect("victim:1").expect("victim").id;
    let blobs = s.content().list().expect("blobs");
    let snaps = s.snapshots().list().expect("snapshots").len();

    // Two images in one archive would be all or nothing too; here the one layer holds `../x`.
    let hostile = Tar::new()
        .file("fine", 0o644, b"x")
        .raw("../x", tar::EntryType::Regular, None, b"escaped\n")
        .finish();
    let err = import(
        &s,
        &docker_archive(&t, "bad.tar", "victim:1", &hostile),
        None,
    )
    .expect_err("hostile import");
    assert!(err.to_string().contains("../x"), "{err}");
    assert_eq!(s.inspect("victim:1").expect("victim").id, before);
    assert_eq!(s.records().expect("records").len(), 1, "no dangling record");
    assert_eq!(s.content().list().expect("blobs"), blobs, "blobs left");
    assert_eq!(s.snapshots().list().expect("snapshots").len(), snaps);
    assert!(!t.path().join("x").exists() && !t.path().join("s/x").exists());
}

#[test]
fn leftovers_of_a_crash_are_removed_at_open() {
    let t = tempfile::tempdir().expect("tempdir");
    let s = store(&t, "s");
    let good = Tar::new().file("ok", 0o644, b"good\n").finish();
    import(&s, &docker_archive(&t, "good.tar", "keep:1", &good), None).expect("import");
    // What a SIGKILL leaves: a partial download, a request file, an extracted archive.
    use std::io::Write as _;
    let berth_image::content::Ingest::Writer(mut w) =
        s.content().writer("partial", None, None).expect("writer")
    else {
        panic!("a writer")
    };
    w.write_all(b"half a layer").expect("write");
    drop(w);
    std::fs::create_dir_all(s.root().join("tmp/req-1")).expect("tmp");
    std::fs::write(s.root().join("tmp/req-1/body.tar"), b"x").expect("body");
    std::fs::create_dir_all(s.root().join(".import-abc/blobs")).expect("import dir");
    let removed = s.remove_leftovers().expect("remove leftovers");
    assert_eq!(removed.len(), 3, "{removed:?}");
    let empty = |p: std::path::PathBuf| std::fs::read_dir(p).expect("dir").next().is_none();
    assert!(empty(s.root().join("tmp")) && empty(s.content().root().join("ingest")));
    assert!(!s.root().join(".import-abc").exists());
    assert!(s.inspect("keep:1").is_ok(), "the store lost an image");
}
