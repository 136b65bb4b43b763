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
