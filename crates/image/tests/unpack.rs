//! Layer unpacking: every entry type, whiteouts both ways, and escapes that must be refused.

mod common;

use berth_image::unpack::{unpack, Compression, UnpackOptions, WhiteoutMode};
use berth_image::Digest;
use common::{is_root, require, Tar};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

fn run(
    tar: &[u8],
    c: Compression,
    root: &Path,
    mode: WhiteoutMode,
) -> berth_image::Result<berth_image::unpack::Unpacked> {
    let mut opts = UnpackOptions::new("test-layer");
    opts.whiteouts = mode;
    unpack(tar, c, root, &opts)
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(256);
    rustix::fs::lgetxattr(path, name, rustix::buffer::spare_capacity(&mut buf)).ok()?;
    Some(buf)
}

#[test]
fn every_entry_type_and_metadata() {
    if !require(
        is_root(),
        "unpacking devices, ownership and trusted xattrs needs root",
    ) {
        return;
    }
    let long = format!("d/{}", "n".repeat(150));
    let pax_long = format!("d/{}", "p".repeat(160));
    let tar = Tar::new()
        .dir("d", 0o750)
        .file_full("d/suid", 0o4755, 1234, 5678, 1_500_000_000, b"#!/bin/sh\n")
        .file(&long, 0o644, b"long gnu name")
        .pax_file(&pax_long, &[("user.berth", b"yes")], b"pax")
        .symlink("d/link", "suid")
        .symlink("d/abs", "/etc/passwd")
        .hardlink("d/hard", "d/suid")
        .node("d/fifo", tar::EntryType::Fifo, 0, 0)
        .node("d/null", tar::EntryType::Char, 1, 3)
        .raw(
            "/abs/file",
            tar::EntryType::Regular,
            None,
            b"absolute path lands inside",
        )
        .finish();
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    let got = run(&tar, Compression::None, &root, WhiteoutMode::Overlay).expect("unpack");
    assert_eq!(got.diff_id, Digest::sha256_of(&tar));
    assert_eq!(got.size, tar.len() as u64);

    let m = std::fs::metadata(root.join("d/suid")).expect("suid");
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!((m.uid(), m.gid()), (1234, 5678));
    assert_eq!(m.mtime(), 1_500_000_000);
    assert_eq!(
        std::fs::metadata(root.join("d"))
            .expect("d")
            .permissions()
            .mode()
            & 0o777,
        0o750
    );
    assert_eq!(
        std::fs::metadata(root.join("d")).expect("d").mtime(),
        1_600_000_000
    );
    assert_eq!(
        std::fs::read(root.join(&long)).expect("long"),
        b"long gnu name"
    );
    assert_eq!(std::fs::read(root.join(&pax_long)).expect("pax"), b"pax");
    assert_eq!(
        xattr(&root.join(&pax_long), "user.berth").as_deref(),
        Some(&b"yes"[..])
    );
    assert_eq!(
        std::fs::read_link(root.join("d/link")).expect("link"),
        Path::new("suid")
    );
    assert_eq!(
        std::fs::read_link(root.join("d/abs")).expect("abs"),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        std::fs::metadata(root.join("d/hard")).expect("hard").ino(),
        m.ino()
    );
    assert!(std::fs::metadata(root.join("d/fifo"))
        .expect("fifo")
        .file_type()
        .is_fifo());
    let null = std::fs::metadata(root.join("d/null")).expect("null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert!(root.join("abs/file").is_file());
}

#[test]
fn compressions_give_one_diff_id() {
    let tar = Tar::new()
        .dir("a", 0o755)
        .file("a/b", 0o644, &vec![42u8; 100_000])
        .finish();
    let want = Digest::sha256_of(&tar);
    for (c, bytes) in [
        (Compression::None, tar.clone()),
        (Compression::Gzip, common::gzip(&tar)),
        (Compression::Zstd, common::zstd(&tar)),
    ] {
        assert_eq!(Compression::detect(&bytes), c);
        let t = tempfile::tempdir().expect("tempdir");
        let mut opts = UnpackOptions::new("l");
        opts.same_owner = false;
        let got = unpack(bytes.as_slice(), c, t.path(), &opts).expect("unpack");
        assert_eq!(got.diff_id, want, "{c:?}");
        assert_eq!(
            std::fs::read(t.path().join("a/b")).expect("read").len(),
            100_000
        );
    }
}

#[test]
fn overlay_whiteouts_and_opaque_marker_after_siblings() {
    if !require(
        is_root(),
        "whiteout devices and trusted.overlay xattrs need root",
    ) {
        return;
    }
    let tar = Tar::new()
        .file("gone/.wh.deleted", 0o644, b"")
        .dir("opq", 0o755)
        .file("opq/kept", 0o644, b"new")
        .file("opq/.wh..wh..opq", 0o644, b"")
        .finish();
    let t = tempfile::tempdir().expect("tempdir");
    run(&tar, Compression::None, t.path(), WhiteoutMode::Overlay).expect("unpack");
    let wh = std::fs::symlink_metadata(t.path().join("gone/deleted")).expect("whiteout");
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!t.path().join("gone/.wh.deleted").exists());
    assert!(!t.path().join("opq/.wh..wh..opq").exists());
    assert_eq!(
        xattr(&t.path().join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        std::fs::read(t.path().join("opq/kept")).expect("kept"),
        b"new"
    );
}

#[test]
fn apply_whiteouts_delete_and_opaque_empties() {
    let t = tempfile::tempdir().expect("tempdir");
    let lower = Tar::new()
        .dir("gone", 0o755)
        .file("gone/deleted", 0o644, b"old")
        .file("gone/stays", 0o644, b"old")
        .dir("opq", 0o755)
        .file("opq/old1", 0o644, b"old")
        .dir("opq/olddir", 0o755)
        .file("opq/olddir/x", 0o644, b"old")
        .finish();
    let upper = Tar::new()
        .file("gone/.wh.deleted", 0o644, b"")
        .file("opq/kept", 0o644, b"new")
        .file("opq/.wh..wh..opq", 0o644, b"")
        .finish();
    let mut opts = UnpackOptions::new("l");
    opts.whiteouts = WhiteoutMode::Apply;
    opts.same_owner = false;
    unpack(lower.as_slice(), Compression::None, t.path(), &opts).expect("lower");
    unpack(upper.as_slice(), Compression::None, t.path(), &opts).expect("upper");
    assert!(!t.path().join("gone/deleted").exists());
    assert!(t.path().join("gone/stays").exists());
    let mut names: Vec<_> = std::fs::read_dir(t.path().join("opq"))
        .expect("opq")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .collect();
    names.sort();
    assert_eq!(names, vec!["kept"]);
}

/// Each escape attempt must fail and leave the directory beside the root untouched.
#[test]
fn escapes_are_refused_and_nothing_is_written_outside() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot file",
            Tar::new()
                .raw("../outside/pwned", tar::EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "dotdot inside path",
            Tar::new()
                .dir("a", 0o755)
                .raw("a/../../outside/pwned", tar::EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "absolute symlink then write through it",
            Tar::new()
                .raw("evil", tar::EntryType::Symlink, Some("/../outside"), b"")
                .raw("evil/pwned", tar::EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "relative symlink then write through it",
            Tar::new()
                .raw("evil", tar::EntryType::Symlink, Some("../outside"), b"")
                .raw("evil/pwned", tar::EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "symlink to existing dir then write through it",
            Tar::new()
                .dir("real", 0o755)
                .symlink("evil", "real")
                .raw("evil/pwned", tar::EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "hardlink to outside",
            Tar::new()
                .raw("h", tar::EntryType::Link, Some("../outside/secret"), b"")
                .finish(),
        ),
        (
            "hardlink through symlink",
            Tar::new()
                .raw("evil", tar::EntryType::Symlink, Some("../outside"), b"")
                .raw("h", tar::EntryType::Link, Some("evil/secret"), b"")
                .finish(),
        ),
        (
            "hardlink to absolute outside",
            Tar::new()
                .raw("h", tar::EntryType::Link, Some("/outside/secret"), b"")
                .finish(),
        ),
    ];
    for (what, tar) in cases {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir(&root).expect("root");
        std::fs::create_dir(&outside).expect("outside");
        std::fs::write(outside.join("secret"), b"secret").expect("secret");
        let mut opts = UnpackOptions::new("evil-layer");
        opts.same_owner = false;
        let err = unpack(tar.as_slice(), Compression::None, &root, &opts).expect_err(what);
        let msg = err.to_string();
        assert!(msg.contains("evil-layer"), "{what}: {msg}");
        let mut left: Vec<_> = std::fs::read_dir(&outside)
            .expect("outside")
            .map(|e| e.expect("e").file_name())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec!["secret"],
            "{what}: something was written outside"
        );
        assert_eq!(
            std::fs::read(outside.join("secret")).expect("secret"),
            b"secret",
            "{what}"
        );
        assert_eq!(
            std::fs::metadata(outside.join("secret"))
                .expect("secret")
                .nlink(),
            1,
            "{what}: linked"
        );
        assert!(!root.join("real/pwned").exists(), "{what}");
    }
}

#[test]
fn garbage_is_a_clear_error() {
    let t = tempfile::tempdir().expect("tempdir");
    let opts = UnpackOptions::new("sha256:abc");
    let err = unpack(
        &b"\x1f\x8bnot really gzip"[..],
        Compression::Gzip,
        t.path(),
        &opts,
    )
    .expect_err("bad gzip");
    assert!(
        err.to_string().contains("sha256:abc") || err.to_string().contains("layer"),
        "{err}"
    );
    let err = Compression::from_media_type("application/x-foo").expect_err("unknown");
    assert!(err.to_string().contains("application/x-foo"), "{err}");
}
