//! Safe layer unpacking.
//!
//! Every path in a layer is confined to the snapshot directory: the parent directory of each
//! entry is opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)` relative to the
//! snapshot's root fd, and the entry itself is created with `*at` calls on that fd with the final
//! name (never following a symlink at the last component). So `..` is refused outright, absolute
//! paths are taken relative to the root, writes *through* symlinks are refused (layer producers
//! never need them: they tar real paths), and hardlink targets resolve inside the root too.
//!
//! Whiteouts are handled in one of two modes: [`WhiteoutMode::Overlay`] turns `.wh.NAME` into the
//! 0/0 character device and `.wh..wh..opq` into the `trusted.overlay.opaque=y` xattr that
//! overlayfs reads (order in the tar does not matter: the marker only affects lower layers);
//! [`WhiteoutMode::Apply`] (the copy snapshotter) deletes the whited-out path from the parent
//! content, and empties opaque directories of everything this layer did not write, once the
//! whole layer is read, so again the order of entries does not matter.

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use rustix::fs::Timespec;
use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From a layer media type (OCI and Docker), naming it when unknown.
    pub fn from_media_type(media_type: &str) -> Result<Compression> {
        use crate::media::*;
        match media_type {
            OCI_LAYER | OCI_LAYER_NONDIST | DOCKER_LAYER_TAR => Ok(Compression::None),
            OCI_LAYER_GZIP | OCI_LAYER_NONDIST_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN => {
                Ok(Compression::Gzip)
            }
            OCI_LAYER_ZSTD | OCI_LAYER_NONDIST_ZSTD | DOCKER_LAYER_ZSTD => Ok(Compression::Zstd),
            other => Err(Error::UnsupportedMediaType {
                media_type: other.to_string(),
                context: "layer".into(),
            }),
        }
    }

    /// From the first bytes of a stream (for archives that do not say).
    pub fn detect(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Wraps `r` in the matching decompressor.
    pub fn decoder<'a, R: Read + 'a>(self, r: R) -> Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(r),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                std::io::BufReader::with_capacity(1 << 17, r),
            )),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(r).io("start zstd decoder", "layer")?)
            }
        })
    }
}

/// What to do with whiteout entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Write overlayfs whiteouts (character device 0/0) and opaque xattrs.
    Overlay,
    /// Delete whited-out paths from the directory (which holds the parent's content).
    Apply,
}

/// Options for [`unpack`].
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    pub whiteouts: WhiteoutMode,
    /// Apply the tar's uid/gid (needs root; off otherwise files belong to the caller).
    pub same_owner: bool,
    /// A name for error messages (the layer digest).
    pub layer: String,
}

impl UnpackOptions {
    /// Overlay whiteouts, ownership kept when running as root.
    pub fn new(layer: impl Into<String>) -> UnpackOptions {
        UnpackOptions {
            whiteouts: WhiteoutMode::Overlay,
            same_owner: rustix::process::geteuid().is_root(),
            layer: layer.into(),
        }
    }
}

/// What unpacking a layer found.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream (the layer's diffID).
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub size: u64,
}

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WH_PREFIX: &str = ".wh.";
const WH_OPAQUE: &str = ".wh..wh..opq";

/// Unpacks a (compressed) layer stream into the directory `root`, returning its diffID.
/// On error the directory may hold part of the layer: callers remove the snapshot.
///
/// Decompression and the diffID hash run on a second thread, handing 256 KiB chunks to the
/// thread that writes files, so inflating and the file system calls overlap (gzip is serial).
pub fn unpack(
    reader: impl Read + Send,
    compression: Compression,
    root: &Path,
    opts: &UnpackOptions,
) -> Result<Unpacked> {
    const CHUNK: usize = 256 << 10;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(8);
        let producer = scope.spawn(move || -> Result<Unpacked> {
            let decoded = compression.decoder(reader)?;
            let mut hashing = HashingReader::new(decoded, crate::digest::Algorithm::Sha256);
            loop {
                let mut buf = vec![0u8; CHUNK];
                let mut filled = 0;
                while filled < CHUNK {
                    match hashing.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let msg = e.to_string();
                            let _ = tx.send(Err(e));
                            return Err(Error::Io {
                                op: "decompress layer",
                                path: opts.layer.clone().into(),
                                source: std::io::Error::other(msg),
                            });
                        }
                    }
                }
                if filled == 0 {
                    break;
                }
                buf.truncate(filled);
                if tx.send(Ok(buf)).is_err() {
                    // The writer stopped (its own error is the one reported).
                    break;
                }
            }
            let (diff_id, size) = hashing.finish();
            Ok(Unpacked { diff_id, size })
        });
        let mut chunks = ChunkReader {
            rx,
            current: Vec::new(),
            pos: 0,
        };
        let written = unpack_tar(&mut chunks, root, opts).and_then(|()| {
            // Let the producer hash the whole stream, including the end-of-archive padding.
            std::io::copy(&mut chunks, &mut std::io::sink())
                .io("read layer", &opts.layer)
                .map(|_| ())
        });
        drop(chunks);
        let produced = producer.join().map_err(|_| Error::Io {
            op: "decompress layer",
            path: opts.layer.clone().into(),
            source: std::io::Error::other("decompression thread panicked"),
        })?;
        match (written, produced) {
            (Ok(()), Ok(u)) => Ok(u),
            // A decompression error surfaces in the writer as a read error: report the cause.
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
        }
    })
}

/// Reads the chunks sent by the decompression thread.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Unpacks an uncompressed tar stream into `root`.
pub fn unpack_tar(reader: &mut dyn Read, root: &Path, opts: &UnpackOptions) -> Result<()> {
    let root_fd = rfs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .io("open snapshot directory", root)?;
    let mut u = Unpacker {
        root: root.to_path_buf(),
        root_fd,
        opts,
        cache: None,
        dirs: Vec::new(),
        written: HashSet::new(),
        opaque: Vec::new(),
        buf: vec![0u8; 1 << 17],
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().io("read layer tar", &opts.layer)?;
    for entry in entries {
        let mut entry = entry.map_err(|e| u.bad("(tar header)", &format!("corrupt tar: {e}")))?;
        u.entry(&mut entry)?;
    }
    u.finish()
}

struct Unpacker<'o> {
    root: PathBuf,
    root_fd: OwnedFd,
    opts: &'o UnpackOptions,
    /// The last parent directory opened, reused by consecutive entries of one directory.
    cache: Option<(PathBuf, OwnedFd)>,
    /// Directories and their mtimes, applied last (writing children changes them).
    dirs: Vec<(PathBuf, i64)>,
    /// Every path this layer wrote, with its ancestors (Apply mode's opaque handling).
    written: HashSet<PathBuf>,
    opaque: Vec<PathBuf>,
    buf: Vec<u8>,
}

/// Metadata of one entry, with PAX overrides applied.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Unpacker<'_> {
    fn bad(&self, entry: &str, reason: &str) -> Error {
        Error::UnsafeEntry {
            layer: self.opts.layer.clone(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    fn sys(&self, entry: &Path, op: &str, e: Errno) -> Error {
        let reason = match e {
            Errno::LOOP => {
                format!("{op}: a path component is a symlink (writing through symlinks is refused)")
            }
            Errno::NOTDIR => format!("{op}: a path component is not a directory"),
            Errno::XDEV => format!("{op}: path escapes the layer root"),
            _ => format!("{op}: {e}"),
        };
        self.bad(&entry.display().to_string(), &reason)
    }

    /// Turns a tar path into a clean relative path, refusing `..`.
    fn clean(&self, raw: &Path) -> Result<PathBuf> {
        let mut out = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.bad(&raw.display().to_string(), "path contains '..'"));
                }
                Component::Prefix(_) => {
                    return Err(self.bad(&raw.display().to_string(), "invalid path"))
                }
            }
        }
        Ok(out)
    }

    fn entry(&mut self, entry: &mut tar::Entry<'_, &mut dyn Read>) -> Result<()> {
        let raw = entry
            .path()
            .map_err(|e| self.bad("(path)", &e.to_string()))?
            .into_owned();
        let path = self.clean(&raw)?;
        let kind = entry.header().entry_type();
        let meta = self.meta(entry, &path)?;
        let Some(name) = path.file_name().map(OsStr::to_os_string) else {
            // The root itself ("./"): only its metadata matters.
            if kind.is_dir() {
                self.dirs.push((PathBuf::new(), meta.mtime));
            }
            return Ok(());
        };
        let parent_rel = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let name_bytes = name.as_bytes();
        if name_bytes == WH_OPAQUE.as_bytes() {
            return self.opaque_marker(&parent_rel, &path);
        }
        if let Some(hidden) = name_bytes.strip_prefix(WH_PREFIX.as_bytes()) {
            return self.whiteout(&parent_rel, OsStr::from_bytes(hidden), &path);
        }
        self.mark_written(&path);
        let parent = self.parent(&parent_rel, &path)?;
        match kind {
            tar::EntryType::Directory => {
                match rfs::mkdirat(&parent, &name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let st = rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW)
                            .map_err(|e| self.sys(&path, "stat", e))?;
                        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                            self.remove_at(&parent, &name, &path)?;
                            rfs::mkdirat(&parent, &name, Mode::from_raw_mode(0o700))
                                .map_err(|e| self.sys(&path, "mkdir", e))?;
                        }
                    }
                    Err(e) => return Err(self.sys(&path, "mkdir", e)),
                }
                let dir = rfs::openat(
                    &parent,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.sys(&path, "open directory", e))?;
                self.apply_fd_meta(&dir, &meta, &path)?;
                self.dirs.push((path, meta.mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let flags = OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC;
                let fd = match rfs::openat(&parent, &name, flags, Mode::from_raw_mode(0o600)) {
                    Err(Errno::EXIST) => {
                        self.remove_at(&parent, &name, &path)?;
                        rfs::openat(&parent, &name, flags, Mode::from_raw_mode(0o600))
                    }
                    other => other,
                }
                .map_err(|e| self.sys(&path, "create", e))?;
                let mut file = File::from(fd);
                loop {
                    let n = entry
                        .read(&mut self.buf)
                        .io("read layer", &self.opts.layer)?;
                    if n == 0 {
                        break;
                    }
                    file.write_all(&self.buf[..n])
                        .io("write", self.root.join(&path))?;
                }
                self.apply_fd_meta(&file, &meta, &path)?;
                let ts = timestamps(meta.mtime);
                rfs::futimens(&file, &ts).map_err(|e| self.sys(&path, "set times", e))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| self.bad(&path.display().to_string(), &e.to_string()))?
                    .ok_or_else(|| {
                        self.bad(&path.display().to_string(), "symlink without target")
                    })?;
                self.create_retry(&parent, &name, &path, |p, n| {
                    rfs::symlinkat(target.as_os_str(), p, n)
                })?;
                self.apply_at_meta(&parent, &name, &meta, &path, true)?;
            }
            tar::EntryType::Link => {
                let target_raw = entry
                    .link_name()
                    .map_err(|e| self.bad(&path.display().to_string(), &e.to_string()))?
                    .ok_or_else(|| {
                        self.bad(&path.display().to_string(), "hardlink without target")
                    })?;
                let target = self.clean(&target_raw)?;
                let tname = target
                    .file_name()
                    .ok_or_else(|| {
                        self.bad(&path.display().to_string(), "hardlink to the layer root")
                    })?
                    .to_os_string();
                let tparent_rel = target.parent().unwrap_or(Path::new("")).to_path_buf();
                let tparent = self.open_dir(&tparent_rel, &path, false)?;
                let st = rfs::statat(&tparent, &tname, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| {
                    self.sys(&path, &format!("hardlink target {}", target.display()), e)
                })?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Err(self.bad(&path.display().to_string(), "hardlink to a directory"));
                }
                let parent = self.parent(&parent_rel, &path)?;
                self.create_retry(&parent, &name, &path, |p, n| {
                    rfs::linkat(&tparent, &tname, p, n, AtFlags::empty())
                })?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let dev = rfs::makedev(major, minor);
                let mode = Mode::from_raw_mode(meta.mode & 0o7777);
                self.create_retry(&parent, &name, &path, |p, n| {
                    rfs::mknodat(p, n, ft, mode, dev)
                })?;
                self.apply_at_meta(&parent, &name, &meta, &path, false)?;
            }
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            other => {
                return Err(self.bad(
                    &path.display().to_string(),
                    &format!("unsupported tar entry type {other:?}"),
                ));
            }
        }
        Ok(())
    }

    fn meta(&self, entry: &mut tar::Entry<'_, &mut dyn Read>, path: &Path) -> Result<Meta> {
        let h = entry.header();
        let bad = |what: &str, e: std::io::Error| {
            self.bad(&path.display().to_string(), &format!("{what}: {e}"))
        };
        let mut meta = Meta {
            mode: h.mode().map_err(|e| bad("mode", e))?,
            uid: h.uid().map_err(|e| bad("uid", e))? as u32,
            gid: h.gid().map_err(|e| bad("gid", e))? as u32,
            mtime: h.mtime().map_err(|e| bad("mtime", e))? as i64,
            xattrs: Vec::new(),
        };
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let num = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
                };
                match key {
                    "uid" => meta.uid = num().map_or(meta.uid, |v| v as u32),
                    "gid" => meta.gid = num().map_or(meta.gid, |v| v as u32),
                    "mtime" => meta.mtime = num().unwrap_or(meta.mtime),
                    _ => {
                        if let Some(name) = key
                            .strip_prefix("SCHILY.xattr.")
                            .or_else(|| key.strip_prefix("LIBARCHIVE.xattr."))
                        {
                            meta.xattrs.push((name.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(meta)
    }

    fn mark_written(&mut self, path: &Path) {
        if self.opts.whiteouts == WhiteoutMode::Apply {
            let mut p = path.to_path_buf();
            while self.written.insert(p.clone()) && p.pop() {}
        }
    }

    /// Opens the directory `rel` inside the root (creating missing components when `create`).
    fn open_dir(&mut self, rel: &Path, entry: &Path, create: bool) -> Result<OwnedFd> {
        if let Some((cached, fd)) = &self.cache {
            if cached == rel {
                return fd.try_clone().io("dup", &self.root);
            }
        }
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = match rfs::openat2(&self.root_fd, rel_or_dot(rel), flags, Mode::empty(), how) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                let mut cur = self.root_fd.try_clone().io("dup", &self.root)?;
                for comp in rel.components() {
                    let comp = comp.as_os_str();
                    let next = match rfs::openat2(&cur, comp, flags, Mode::empty(), how) {
                        Err(Errno::NOENT) => {
                            match rfs::mkdirat(&cur, comp, Mode::from_raw_mode(0o755)) {
                                Ok(()) | Err(Errno::EXIST) => {}
                                Err(e) => {
                                    return Err(self.sys(entry, "create parent directory", e))
                                }
                            }
                            rfs::openat2(&cur, comp, flags, Mode::empty(), how)
                        }
                        other => other,
                    }
                    .map_err(|e| self.sys(entry, "open parent directory", e))?;
                    cur = next;
                }
                cur
            }
            Err(e) => return Err(self.sys(entry, "open parent directory", e)),
        };
        self.cache = Some((rel.to_path_buf(), fd.try_clone().io("dup", &self.root)?));
        Ok(fd)
    }

    fn parent(&mut self, rel: &Path, entry: &Path) -> Result<OwnedFd> {
        self.open_dir(rel, entry, true)
    }

    /// Runs `create`; when the name exists, removes it (tar semantics: later entries win) and
    /// retries once.
    fn create_retry(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        path: &Path,
        create: impl Fn(&OwnedFd, &OsStr) -> rustix::io::Result<()>,
    ) -> Result<()> {
        match create(parent, name) {
            Err(Errno::EXIST) => {
                self.remove_at(parent, name, path)?;
                create(parent, name).map_err(|e| self.sys(path, "create", e))
            }
            other => other.map_err(|e| self.sys(path, "create", e)),
        }
    }

    /// Removes `name` (recursively if a directory) under `parent`.
    fn remove_at(&mut self, parent: &OwnedFd, name: &OsStr, path: &Path) -> Result<()> {
        self.cache = None;
        remove_tree_at(parent, name).map_err(|e| self.sys(path, "remove existing", e))
    }

    fn apply_fd_meta(&self, fd: &impl AsFd, meta: &Meta, path: &Path) -> Result<()> {
        if self.opts.same_owner {
            rfs::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(|e| self.sys(path, "chown", e))?;
        }
        // After chown, which clears setuid/setgid.
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode & 0o7777))
            .map_err(|e| self.sys(path, "chmod", e))?;
        for (name, value) in &meta.xattrs {
            match rfs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()) {
                Ok(()) => {}
                // Filesystems or privileges without this namespace: like tar, carry on.
                Err(Errno::OPNOTSUPP | Errno::PERM)
                    if !name.starts_with("security.capability") || !self.opts.same_owner => {}
                Err(e) => return Err(self.sys(path, &format!("set xattr {name}"), e)),
            }
        }
        Ok(())
    }

    fn apply_at_meta(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        path: &Path,
        symlink: bool,
    ) -> Result<()> {
        if self.opts.same_owner {
            rfs::chownat(
                parent,
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.sys(path, "chown", e))?;
        }
        if !symlink {
            // mknodat's mode was filtered by the umask; the name is a device or fifo we just made.
            rfs::chmodat(
                parent,
                name,
                Mode::from_raw_mode(meta.mode & 0o7777),
                AtFlags::empty(),
            )
            .map_err(|e| self.sys(path, "chmod", e))?;
        }
        rfs::utimensat(
            parent,
            name,
            &timestamps(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.sys(path, "set times", e))
    }

    fn opaque_marker(&mut self, dir_rel: &Path, path: &Path) -> Result<()> {
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let dir = self.parent(dir_rel, path)?;
                let fd = rfs::openat(
                    &dir,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.sys(path, "open opaque directory", e))?;
                rfs::fsetxattr(&fd, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| self.sys(path, "set trusted.overlay.opaque", e))
            }
            WhiteoutMode::Apply => {
                self.mark_written(dir_rel);
                self.opaque.push(dir_rel.to_path_buf());
                Ok(())
            }
        }
    }

    fn whiteout(&mut self, dir_rel: &Path, hidden: &OsStr, path: &Path) -> Result<()> {
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(self.bad(&path.display().to_string(), "invalid whiteout name"));
        }
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                self.mark_written(&dir_rel.join(hidden));
                let dir = self.parent(dir_rel, path)?;
                self.create_retry(&dir, hidden, path, |p, n| {
                    rfs::mknodat(
                        p,
                        n,
                        FileType::CharacterDevice,
                        Mode::empty(),
                        rfs::makedev(0, 0),
                    )
                })
            }
            WhiteoutMode::Apply => {
                let Ok(dir) = self.open_dir(dir_rel, path, false) else {
                    return Ok(());
                };
                match remove_tree_at(&dir, hidden) {
                    Ok(()) | Err(Errno::NOENT) => {
                        self.cache = None;
                        Ok(())
                    }
                    Err(e) => Err(self.sys(path, "apply whiteout", e)),
                }
            }
        }
    }

    fn finish(mut self) -> Result<()> {
        for dir_rel in std::mem::take(&mut self.opaque) {
            let Ok(dir) = self.open_dir(&dir_rel, &dir_rel, false) else {
                continue;
            };
            let rd = rfs::openat(
                &dir,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| self.sys(&dir_rel, "open opaque directory", e))?;
            for name in list_dir(&rd).map_err(|e| self.sys(&dir_rel, "list opaque directory", e))? {
                let child = dir_rel.join(&name);
                if !self.written.contains(&child) {
                    remove_tree_at(&dir, &name)
                        .map_err(|e| self.sys(&child, "empty opaque directory", e))?;
                }
            }
            self.cache = None;
        }
        // Deepest first so setting a child's times does not disturb its parent's afterwards.
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (rel, mtime) in dirs {
            let how =
                ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            if let Ok(fd) = rfs::openat2(
                &self.root_fd,
                rel_or_dot(&rel),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                how,
            ) {
                rfs::futimens(&fd, &timestamps(mtime))
                    .map_err(|e| self.sys(&rel, "set times", e))?;
            }
        }
        Ok(())
    }
}

fn rel_or_dot(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

fn timestamps(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Names in a directory (without `.` and `..`).
pub(crate) fn list_dir(dir: &impl AsFd) -> rustix::io::Result<Vec<std::ffi::OsString>> {
    let mut out = Vec::new();
    for e in rfs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(out)
}

/// Removes `name` under `dir`, recursively, never following symlinks.
pub(crate) fn remove_tree_at(dir: &impl AsFd, name: &OsStr) -> rustix::io::Result<()> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        other => return other,
    }
    let sub = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for child in list_dir(&sub)? {
        remove_tree_at(&sub, &child)?;
    }
    rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}
