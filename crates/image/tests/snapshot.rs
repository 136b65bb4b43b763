//! Snapshotter: overlay and copy drivers give the same merged tree; many-layer overlay mounts.

mod common;

use berth_image::layer::{apply_layer, chain_ids};
use berth_image::mount::{mount_all, unmount_path};
use berth_image::snapshot::{Driver, Kind, Snapshotter};
use berth_image::unpack::Compression;
use berth_image::Digest;
use common::{is_root, require, Tar};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Unmounts on drop so a failing assertion leaves no mount behind.
struct Mounted(PathBuf);
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount_path(&self.0);
    }
}

fn layers() -> Vec<Vec<u8>> {
    vec![
        Tar::new()
            .dir("etc", 0o755)
            .file("etc/deleted", 0o644, b"1")
            .file("etc/kept", 0o644, b"1")
            .dir("opq", 0o755)
            .file("opq/old", 0o644, b"1")
            .finish(),
        Tar::new()
            .file("etc/.wh.deleted", 0o644, b"")
            .file("etc/kept", 0o644, b"2")
            .finish(),
        Tar::new()
            .dir("opq", 0o755)
            .file("opq/new", 0o644, b"3")
            .file("opq/.wh..wh..opq", 0o644, b"")
            .finish(),
    ]
}

fn apply_all(sn: &Snapshotter, layers: &[Vec<u8>]) -> Vec<Digest> {
    let diff_ids: Vec<Digest> = layers.iter().map(|l| Digest::sha256_of(l)).collect();
    let chain = chain_ids(&diff_ids);
    for (i, l) in layers.iter().enumerate() {
        let parent = i.checked_sub(1).map(|p| &chain[p]);
        apply_layer(
            sn,
            parent,
            &chain[i],
            l.as_slice(),
            Compression::None,
            Some(&diff_ids[i]),
        )
        .expect("apply");
    }
    chain
}

fn check_merged(root: &Path) {
    assert!(
        !root.join("etc/deleted").exists(),
        "whiteout must hide etc/deleted"
    );
    assert_eq!(std::fs::read(root.join("etc/kept")).expect("kept"), b"2");
    let mut names: Vec<_> = std::fs::read_dir(root.join("opq"))
        .expect("opq")
        .map(|e| e.expect("e").file_name().into_string().expect("utf8"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["new"],
        "opaque directory hides the lower content"
    );
}

#[test]
fn copy_driver_merges_layers() {
    let t = tempfile::tempdir().expect("tempdir");
    let sn = Snapshotter::open(t.path(), Some(Driver::Copy)).expect("open");
    let chain = apply_all(&sn, &layers());
    let top = chain.last().expect("top").to_string();
    check_merged(&sn.committed_dir(&top).expect("dir"));
    let m = sn.prepare("ctr", Some(&top)).expect("prepare");
    assert_eq!(m[0].kind, "bind");
    check_merged(Path::new(&m[0].source));
    // The chain cannot be removed from under a child; prune keeps what is in use.
    assert!(sn.remove(&top).is_err());
    sn.remove("ctr").expect("remove");
    let removed = sn.prune(&HashSet::new()).expect("prune");
    assert_eq!(removed.len(), 3);
    assert!(sn.list().expect("list").is_empty());
    assert!(common::tree_is_empty(&t.path().join("snapshots")));
}

#[test]
fn overlay_driver_mounts_merged_view() {
    if !require(
        is_root() && Driver::detect() == Driver::Overlay,
        "overlay mounts need root and overlayfs",
    ) {
        return;
    }
    let t = tempfile::tempdir().expect("tempdir");
    let sn = Snapshotter::open(t.path().join("sn"), Some(Driver::Overlay)).expect("open");
    let chain = apply_all(&sn, &layers());
    let top = chain.last().expect("top").to_string();
    assert_eq!(sn.stat(&top).expect("stat").kind, Kind::Committed);
    assert_eq!(
        sn.stat(&top).expect("stat").parent,
        Some(chain[1].to_string())
    );
    // Applying again is a no-op (same chain ID).
    apply_all(&sn, &layers());
    assert_eq!(sn.list().expect("list").len(), 3);

    let mounts = sn.prepare("ctr", Some(&top)).expect("prepare");
    assert_eq!(mounts[0].kind, "overlay");
    assert_eq!(mounts[0].lowerdirs().len(), 3);
    let target = t.path().join("rootfs");
    std::fs::create_dir(&target).expect("mkdir");
    mount_all(&mounts, &target).expect("mount");
    let guard = Mounted(target.clone());
    check_merged(&target);
    std::fs::write(target.join("etc/written"), b"w").expect("write into container");
    drop(guard);
    assert!(sn
        .active_dir("ctr")
        .expect("dir")
        .join("etc/written")
        .exists());

    let view = sn.view("v", Some(&top)).expect("view");
    let vt = t.path().join("view");
    std::fs::create_dir(&vt).expect("mkdir");
    mount_all(&view, &vt).expect("mount view");
    let guard = Mounted(vt.clone());
    check_merged(&vt);
    assert!(
        std::fs::write(vt.join("x"), b"x").is_err(),
        "views are read-only"
    );
    drop(guard);
}

#[test]
fn overlay_with_more_layers_than_a_page_of_options() {
    if !require(
        is_root() && Driver::detect() == Driver::Overlay,
        "overlay mounts need root and overlayfs",
    ) {
        return;
    }
    let t = tempfile::tempdir().expect("tempdir");
    // A long root path so that 130 lowerdirs need well over 4096 bytes of options.
    let root = t
        .path()
        .join("a-rather-long-directory-name-for-the-snapshotter-root");
    let sn = Snapshotter::open(&root, Some(Driver::Overlay)).expect("open");
    let layers: Vec<Vec<u8>> = (0..130)
        .map(|i| Tar::new().file(&format!("f{i}"), 0o644, b"x").finish())
        .collect();
    let chain = apply_all(&sn, &layers);
    let mounts = sn
        .view("many", Some(&chain[129].to_string()))
        .expect("view");
    assert!(mounts[0].options.join(",").len() > 4096);
    let target = t.path().join("rootfs");
    std::fs::create_dir(&target).expect("mkdir");
    mount_all(&mounts, &target).expect("mount 130 layers");
    let _guard = Mounted(target.clone());
    assert!(target.join("f0").exists() && target.join("f129").exists());
}

#[test]
fn bad_diff_id_commits_nothing() {
    let t = tempfile::tempdir().expect("tempdir");
    let sn = Snapshotter::open(t.path(), Some(Driver::Copy)).expect("open");
    let layer = Tar::new().file("a", 0o644, b"a").finish();
    let wrong = Digest::sha256_of(b"not this layer");
    let err = apply_layer(
        &sn,
        None,
        &wrong,
        layer.as_slice(),
        Compression::None,
        Some(&wrong),
    )
    .expect_err("mismatch");
    assert!(err.to_string().contains("diffID"), "{err}");
    assert!(sn.list().expect("list").is_empty());
    assert!(common::tree_is_empty(&t.path().join("snapshots")));
}
