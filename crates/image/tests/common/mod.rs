//! Shared test helpers: skip-or-fail rule, layer tar builders, busybox test images.
#![allow(dead_code)]

use std::path::Path;

/// `BERTH_TEST_STRICT=1` turns a missing prerequisite into a failure.
pub fn strict() -> bool {
    std::env::var("BERTH_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// False (after printing why) when `ok` is false and the run is not strict; panics when strict.
pub fn require(ok: bool, reason: &str) -> bool {
    if ok {
        return true;
    }
    assert!(
        !strict(),
        "BERTH_TEST_STRICT=1 and a prerequisite is missing: {reason}"
    );
    eprintln!("SKIPPED: {reason}");
    false
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Builds layer tars entry by entry, including malformed ones.
pub struct Tar {
    b: tar::Builder<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Self {
        Self::new()
    }
}

impl Tar {
    pub fn new() -> Tar {
        let mut b = tar::Builder::new(Vec::new());
        b.mode(tar::HeaderMode::Complete);
        Tar { b }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Tar {
        let mut h = Self::header(tar::EntryType::Directory, mode, 0);
        self.b
            .append_data(&mut h, path, std::io::empty())
            .expect("append dir");
        self
    }

    pub fn file(self, path: &str, mode: u32, data: &[u8]) -> Tar {
        self.file_full(path, mode, 0, 0, 1_600_000_000, data)
    }

    pub fn file_full(
        mut self,
        path: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        data: &[u8],
    ) -> Tar {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.b.append_data(&mut h, path, data).expect("append file");
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Tar {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.b
            .append_link(&mut h, path, target)
            .expect("append symlink");
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Tar {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        self.b
            .append_link(&mut h, path, target)
            .expect("append hardlink");
        self
    }

    pub fn node(mut self, path: &str, kind: tar::EntryType, major: u32, minor: u32) -> Tar {
        let mut h = Self::header(kind, 0o620, 0);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.b
            .append_data(&mut h, path, std::io::empty())
            .expect("append node");
        self
    }

    /// A file whose name (and xattrs) travel in a PAX header.
    pub fn pax_file(mut self, path: &str, xattrs: &[(&str, &[u8])], data: &[u8]) -> Tar {
        let mut exts: Vec<(String, Vec<u8>)> = vec![("path".into(), path.as_bytes().to_vec())];
        for (k, v) in xattrs {
            exts.push((format!("SCHILY.xattr.{k}"), v.to_vec()));
        }
        self.b
            .append_pax_extensions(exts.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .expect("pax");
        let mut h = Self::header(tar::EntryType::Regular, 0o644, data.len() as u64);
        set_raw_name(&mut h, b"pax-short-name");
        h.set_cksum();
        self.b.append(&h, data).expect("append pax file");
        self
    }

    /// An entry with a name written verbatim (tar::Builder refuses `..`).
    pub fn raw(mut self, name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) -> Tar {
        let mut h = Self::header(kind, 0o644, data.len() as u64);
        set_raw_name(&mut h, name.as_bytes());
        if let Some(l) = link {
            let field = &mut h.as_old_mut().linkname;
            field.fill(0);
            field[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        self.b.append(&h, data).expect("append raw");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().expect("finish tar")
    }
}

fn set_raw_name(h: &mut tar::Header, name: &[u8]) {
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name);
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

/// A layer holding /bin/busybox and a few applet symlinks (the test images' base).
pub fn busybox_layer() -> Option<Vec<u8>> {
    let bb = std::fs::read("/bin/busybox").ok()?;
    let mut t = Tar::new().dir("bin", 0o755).file("bin/busybox", 0o755, &bb);
    for applet in ["sh", "ls", "cat", "echo", "true"] {
        t = t.symlink(&format!("bin/{applet}"), "busybox");
    }
    Some(
        t.dir("etc", 0o755)
            .file("etc/hostname", 0o644, b"berth\n")
            .finish(),
    )
}

pub fn tree_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

pub mod registry;

use berth_image::manifest::{Descriptor, Manifest};
use berth_image::store::ImageStore;
use berth_image::{media, Digest};

/// One layer for [`make_image`]: uncompressed tar and how to compress it.
pub struct L {
    pub tar: Vec<u8>,
    pub zstd: bool,
}

impl L {
    pub fn gz(tar: Vec<u8>) -> L {
        L { tar, zstd: false }
    }
    pub fn zst(tar: Vec<u8>) -> L {
        L { tar, zstd: true }
    }
}

/// Writes a test image into `store`'s content and names it; `docker` picks Docker schema 2
/// media types instead of OCI. Returns the manifest descriptor.
pub fn make_image(
    store: &ImageStore,
    name: &str,
    layers: &[L],
    docker: bool,
    arch: &str,
) -> Descriptor {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        diff_ids.push(Digest::sha256_of(&l.tar).to_string());
        let (blob, mt) = match (l.zstd, docker) {
            (true, false) => (zstd(&l.tar), media::OCI_LAYER_ZSTD),
            (true, true) => (zstd(&l.tar), media::DOCKER_LAYER_ZSTD),
            (false, false) => (gzip(&l.tar), media::OCI_LAYER_GZIP),
            (false, true) => (gzip(&l.tar), media::DOCKER_LAYER_GZIP),
        };
        let d = store.content().write_blob(&blob, None).expect("layer blob");
        descs.push(Descriptor::new(mt, d, blob.len() as u64));
    }
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/", "Labels": {"arch": arch},
                   "Healthcheck": {"Test": ["CMD", "true"]}, "StopSignal": "SIGTERM", "ExposedPorts": {"80/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "test"}],
    })
    .to_string()
    .into_bytes();
    let cd = store.content().write_blob(&config, None).expect("config");
    let m = Manifest {
        schema_version: 2,
        media_type: Some(
            if docker {
                media::DOCKER_MANIFEST
            } else {
                media::OCI_MANIFEST
            }
            .into(),
        ),
        config: Descriptor::new(
            if docker {
                media::DOCKER_CONFIG
            } else {
                media::OCI_CONFIG
            },
            cd,
            config.len() as u64,
        ),
        layers: descs,
        annotations: None,
    };
    let mb = serde_json::to_vec(&m).expect("manifest");
    let md = store
        .content()
        .write_blob(&mb, None)
        .expect("manifest blob");
    let desc = Descriptor::new(m.media_type.as_deref().expect("mt"), md, mb.len() as u64);
    store
        .set(
            &berth_image::Reference::parse(name)
                .expect("name")
                .to_string(),
            desc.clone(),
        )
        .expect("set");
    desc
}

/// The six-layer test image: busybox; files; a deletion; an opaque directory whose marker comes
/// after its siblings; hardlinks, symlinks, setuid, 150-char names; a zstd layer.
pub fn six_layers() -> Option<Vec<L>> {
    let long = "l".repeat(150);
    Some(vec![
        L::gz(busybox_layer()?),
        L::gz(
            Tar::new()
                .dir("data", 0o755)
                .file("data/doomed", 0o644, b"bye")
                .file("data/keep", 0o644, b"1")
                .dir("opq", 0o755)
                .file("opq/old", 0o644, b"old")
                .finish(),
        ),
        L::gz(Tar::new().file("data/.wh.doomed", 0o644, b"").finish()),
        L::gz(
            Tar::new()
                .dir("opq", 0o755)
                .file("opq/new", 0o644, b"new")
                .file("opq/.wh..wh..opq", 0o644, b"")
                .finish(),
        ),
        L::gz(
            Tar::new()
                .file_full("bin/suid", 0o4755, 0, 0, 1_600_000_000, b"#!/bin/sh\n")
                .hardlink("bin/suid-hard", "bin/suid")
                .symlink("bin/suid-sym", "suid")
                .file(&format!("data/{long}"), 0o644, b"long")
                .finish(),
        ),
        L::zst(Tar::new().file("data/zstd", 0o644, b"zstd layer").finish()),
    ])
}

/// Checks the merged six-layer tree at `root`.
pub fn check_six(root: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert!(root.join("bin/busybox").is_file());
    assert!(!root.join("data/doomed").exists(), "deleted file is hidden");
    assert_eq!(std::fs::read(root.join("data/keep")).expect("keep"), b"1");
    let mut opq: Vec<_> = std::fs::read_dir(root.join("opq"))
        .expect("opq")
        .map(|e| e.expect("e").file_name())
        .collect();
    opq.sort();
    assert_eq!(opq, vec!["new"], "opaque dir hides lower content");
    let m = std::fs::metadata(root.join("bin/suid")).expect("suid");
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(
        std::fs::metadata(root.join("bin/suid-hard"))
            .expect("hard")
            .ino(),
        m.ino()
    );
    assert_eq!(
        std::fs::read_link(root.join("bin/suid-sym")).expect("sym"),
        Path::new("suid")
    );
    assert_eq!(
        std::fs::read(root.join(format!("data/{}", "l".repeat(150)))).expect("long"),
        b"long"
    );
    assert_eq!(
        std::fs::read(root.join("data/zstd")).expect("zstd"),
        b"zstd layer"
    );
}
