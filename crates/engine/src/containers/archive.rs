//! The archive endpoints behind `docker cp`: stat a path in a container (HEAD, the
//! `X-Docker-Container-Path-Stat` header), read a path as a tar stream (GET) and extract a tar
//! into a directory (PUT).
//!
//! Paths are resolved as dockerd does (the directory part following symlinks within the
//! container's root, the last element not followed for stat and GET, fully followed for PUT),
//! but with the kernel doing the confinement: every lookup starts from an fd of the rootfs
//! with `openat2(RESOLVE_IN_ROOT)`, and the tar walk descends with `openat(O_NOFOLLOW)` from
//! there, so no symlink (even one swapped in while we read) leads outside the container.
//! Extraction reuses berth-image's layer unpacker on the resolved directory's fd, which
//! confines every entry to it and refuses to write through symlinks.
//!
//! The root is the container's file system with its volumes, binds, tmpfs mounts and
//! generated /etc files in place ([`super::fs_view`]), so a copy into `/data` of a container
//! with a volume there lands in the volume, as with dockerd. The container's lifecycle lock is
//! held meanwhile, so a start or stop waits for a copy to finish rather than changing the
//! mounts under it.

use crate::error::{Error, Result};
use crate::Engine;
use bytes::Bytes;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat, CWD};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Docker's `ContainerPathStat`, sent base64-encoded in `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` encoding (type bits high, permissions low): the CLI decodes it so.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Options of PUT /containers/{id}/archive.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions {
    /// Refuse to replace a directory with a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Keep the archive's owners (`docker cp -a`); otherwise files belong to the container's
    /// root.
    pub copy_uid_gid: bool,
}

/// The tar stream of a GET: chunks, ending early with an error if reading fails midway.
pub type ArchiveStream = mpsc::Receiver<std::io::Result<Bytes>>;

impl Engine {
    /// Stat of `path` in the container (HEAD /containers/{id}/archive).
    pub async fn container_archive_head(&self, key: &str, path: &str) -> Result<PathStat> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let engine = self.clone();
        let (key, path) = (key.to_string(), path.to_string());
        tokio::task::spawn_blocking(move || {
            let view = engine.fs_view_for(&rec)?;
            let t = resolve_source(view.root(), &path, &key)?;
            Ok(t.stat)
        })
        .await
        .map_err(|e| Error::internal("archive", e))?
    }

    /// `path` as a tar stream (GET /containers/{id}/archive), with its stat. The entries are
    /// named after the last element of `path`, as dockerd names them.
    pub async fn container_archive_get(
        &self,
        key: &str,
        path: &str,
    ) -> Result<(PathStat, ArchiveStream)> {
        let c = self.containers.find(key)?;
        let engine = self.clone();
        let (key, path) = (key.to_string(), path.to_string());
        let (tx, rx) = mpsc::channel(8);
        let (stat_tx, stat_rx) = oneshot::channel::<Result<PathStat>>();
        tokio::spawn(async move {
            let _op = c.op.lock().await;
            let rec = c.record();
            let done = tokio::task::spawn_blocking(move || {
                let view = match engine.fs_view_for(&rec) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = stat_tx.send(Err(e));
                        return;
                    }
                };
                let t = match resolve_source(view.root(), &path, &key) {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = stat_tx.send(Err(e));
                        return;
                    }
                };
                if stat_tx.send(Ok(t.stat.clone())).is_err() {
                    return;
                }
                let mut w = ChannelWriter {
                    tx: tx.clone(),
                    buf: Vec::with_capacity(CHUNK),
                };
                let res = write_tar(&t, &mut w);
                // Unmount before the last chunk goes out (the fds into the mount first), so
                // a client that has the whole archive finds the container as it was.
                drop(t);
                drop(view);
                if let Err(e) = res.and_then(|()| w.flush()) {
                    // The client may be gone already; then nobody needs to know.
                    let _ = tx.blocking_send(Err(e));
                }
            })
            .await;
            if let Err(e) = done {
                tracing::error!(error = %e, "archive: tar writer failed");
            }
        });
        let stat = stat_rx
            .await
            .map_err(|_| Error::Internal("archive: reader stopped".into()))??;
        Ok((stat, rx))
    }

    /// Extracts the tar `body` into the directory `path` of the container
    /// (PUT /containers/{id}/archive).
    pub async fn container_archive_put(
        &self,
        key: &str,
        path: &str,
        mut body: impl AsyncRead + Unpin + Send,
        opts: PutOptions,
    ) -> Result<()> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        // The whole archive first, in an unnamed file: the overwrite checks read it before
        // anything is written, and a client that stops halfway leaves the container unchanged.
        let spool = spool_file(&self.paths.data_root)?;
        let mut f = tokio::fs::File::from_std(spool);
        tokio::io::copy(&mut body, &mut f)
            .await
            .map_err(|e| Error::InvalidArgument(format!("reading the archive: {e}")))?;
        f.flush()
            .await
            .map_err(|e| Error::internal("archive spool", e))?;
        let spool = f.into_std().await;
        let engine = self.clone();
        let (key, path) = (key.to_string(), path.to_string());
        let readonly_rootfs = rec.host_config.readonly_rootfs == Some(true);
        tokio::task::spawn_blocking(move || {
            let view = engine.fs_view_for(&rec)?;
            extract(view.root(), &path, &key, spool, opts, |dir| {
                view.check_writable(dir, readonly_rootfs)
            })
        })
        .await
        .map_err(|e| Error::internal("archive", e))?
    }

    /// The container's file system with its mounts, for as long as the view lives.
    fn fs_view_for(&self, rec: &crate::containers::ContainerRecord) -> Result<ArchiveView> {
        let rootfs = self.paths.rootfs(&rec.id);
        if rec.state.status.is_live() && rec.state.pid > 0 {
            let (mut mounts, _) = self.volumes_for_view(rec, false)?;
            mounts.extend(tmpfs_mounts(rec));
            mounts.extend(self.etc_file_mounts(rec));
            let pid = i32::try_from(rec.state.pid).unwrap_or(0);
            if let Some(view) = super::fs_view::open_running(pid, &rootfs, mounts)? {
                return Ok(ArchiveView {
                    view,
                    _volumes: VolumeRefs {
                        engine: self.clone(),
                        id: rec.id.clone(),
                        names: Vec::new(),
                    },
                });
            }
            // The process is gone: read the container as a stopped one.
        }
        if rec.snapshot.is_empty() {
            return Err(Error::Internal(format!(
                "container {} has no root file system",
                rec.id
            )));
        }
        let snapshot = self.images.snapshots().mounts(&rec.snapshot)?;
        let (mut mounts, names) = self.volumes_for_view(rec, true)?;
        let volumes = VolumeRefs {
            engine: self.clone(),
            id: rec.id.clone(),
            names,
        };
        mounts.extend(self.etc_file_mounts(rec));
        // Parents before what is mounted below them.
        mounts.sort_by_key(|m| {
            Path::new(&m.destination)
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .count()
        });
        let view = super::fs_view::open_stopped(&rootfs, snapshot, mounts)?;
        Ok(ArchiveView {
            view,
            _volumes: volumes,
        })
    }

    /// The generated /etc/hostname, /etc/hosts and /etc/resolv.conf (another container's with
    /// `--network container:NAME`), where the user mounts nothing of their own.
    fn etc_file_mounts(
        &self,
        rec: &crate::containers::ContainerRecord,
    ) -> Vec<super::fs_view::ViewMount> {
        let hc = &rec.host_config;
        let owner = match hc
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("container:"))
        {
            Some(other) => match self.containers.find(other) {
                Ok(c) => c.record().id,
                Err(_) => return Vec::new(),
            },
            None => rec.id.clone(),
        };
        let dir = self.paths.bundle(&owner);
        let user_has = |d: &str| {
            rec.mount_points
                .iter()
                .any(|m| m.destination.trim_end_matches('/') == d)
                || tmpfs_mounts(rec)
                    .iter()
                    .any(|m| m.destination.trim_end_matches('/') == d)
        };
        ["hostname", "hosts", "resolv.conf"]
            .into_iter()
            .map(|f| (format!("/etc/{f}"), dir.join(f)))
            .filter(|(dest, src)| src.is_file() && !user_has(dest))
            .map(|(destination, src)| super::fs_view::ViewMount {
                destination,
                source: Some(src),
                rw: hc.readonly_rootfs != Some(true),
                non_recursive: true,
                read_only_non_recursive: false,
                is_volume: false,
            })
            .collect()
    }
}

/// The container's tmpfs mounts (HostConfig.Tmpfs and tmpfs entries of HostConfig.Mounts):
/// only a running container has their contents.
fn tmpfs_mounts(rec: &crate::containers::ContainerRecord) -> Vec<super::fs_view::ViewMount> {
    let hc = &rec.host_config;
    let from_tmpfs = hc
        .tmpfs
        .iter()
        .flatten()
        .map(|(dest, opts)| (dest.clone(), opts.split(',').any(|o| o.trim() == "ro")));
    let from_mounts = hc
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.typ == Some(bollard_stubs::models::MountType::TMPFS))
        .map(|m| {
            (
                m.target.clone().unwrap_or_default(),
                m.read_only.unwrap_or(false),
            )
        });
    from_tmpfs
        .chain(from_mounts)
        .map(|(destination, ro)| super::fs_view::ViewMount {
            destination,
            source: None,
            rw: !ro,
            non_recursive: false,
            read_only_non_recursive: false,
            is_volume: true,
        })
        .collect()
}

/// A view in use, with the volume references it holds. The fields drop in order: the
/// view's mounts go before the references that keep the volumes mounted.
struct ArchiveView {
    view: super::fs_view::FsView,
    _volumes: VolumeRefs,
}

impl std::ops::Deref for ArchiveView {
    type Target = super::fs_view::FsView;
    fn deref(&self) -> &Self::Target {
        &self.view
    }
}

/// References a view of a stopped container holds on its volumes with mount options.
struct VolumeRefs {
    engine: Engine,
    id: String,
    names: Vec<String>,
}

impl Drop for VolumeRefs {
    fn drop(&mut self) {
        self.engine.volumes_view_release(&self.id, &self.names);
    }
}

/// An unnamed temporary file (O_TMPFILE) under `dir`: nothing to clean up, even after a crash.
fn spool_file(dir: &Path) -> Result<std::fs::File> {
    let fd = rfs::open(
        dir,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| Error::internal(format!("temporary file in {}", dir.display()), e))?;
    Ok(std::fs::File::from(fd))
}

/// A request path split as dockerd does: the cleaned absolute path (a trailing `/` or `/.` kept)
/// and its directory and last element.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SplitPath {
    pub abs: String,
    pub dir: String,
    pub base: String,
}

pub(crate) fn split_path(path: &str) -> SplitPath {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            n => parts.push(n),
        }
    }
    let mut abs = format!("/{}", parts.join("/"));
    let original_dot = path == "." || path.ends_with("/.");
    if original_dot && !parts.is_empty() {
        abs.push_str("/.");
    } else if original_dot {
        abs.push('.');
    }
    if !abs.ends_with('/') && (path.ends_with('/') || path.is_empty()) && !parts.is_empty() {
        abs.push('/');
    }
    let cut = abs.rfind('/').map(|i| i + 1).unwrap_or(0);
    SplitPath {
        dir: abs[..cut].to_string(),
        base: abs[cut..].to_string(),
        abs,
    }
}

/// Go's `filepath.Base`.
fn go_base(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn rel(p: &str) -> &str {
    let r = p.trim_start_matches('/');
    if r.is_empty() {
        "."
    } else {
        r
    }
}

fn not_found(path: &str, key: &str) -> Error {
    Error::NotFound(format!("Could not find the file {path} in container {key}"))
}

/// `path` of `root` (a relative path), resolved in its scope.
fn open_in_root(root: BorrowedFd<'_>, path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    loop {
        match rfs::openat2(
            root,
            rel(path),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            // The kernel asks to retry when a rename raced with the lookup.
            Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

/// The path an fd refers to, relative to `root_path`, as an absolute container path.
fn container_path_of(fd: BorrowedFd<'_>, root_real: &Path) -> Option<String> {
    let target =
        rfs::readlinkat(CWD, format!("/proc/self/fd/{}", fd.as_raw_fd()), Vec::new()).ok()?;
    let p = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
    let r = p.strip_prefix(root_real).ok()?;
    Some(format!("/{}", r.display()))
}

/// What a GET or HEAD reads: the entry `name` of `parent` (or `parent` itself when `name` is
/// None), and its stat.
struct Source {
    parent: OwnedFd,
    name: Option<PathBuf>,
    stat: PathStat,
    /// The name the tar entries start with.
    rebase: String,
}

fn resolve_source(root_fd: BorrowedFd<'_>, path: &str, key: &str) -> Result<Source> {
    let sp = split_path(path);
    let nf = |e: Errno| match e {
        Errno::NOENT | Errno::NOTDIR | Errno::LOOP => not_found(path, key),
        e => Error::internal(format!("resolving {path} in container {key}"), e),
    };
    let parent = open_in_root(root_fd, &sp.dir, OFlags::PATH | OFlags::DIRECTORY).map_err(nf)?;
    let name = match sp.base.as_str() {
        "" | "." => None,
        b => Some(PathBuf::from(b)),
    };
    let st = match &name {
        None => rfs::fstat(&parent),
        Some(n) => rfs::statat(&parent, n, AtFlags::SYMLINK_NOFOLLOW),
    }
    .map_err(nf)?;
    let mut link_target = String::new();
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        // dockerd reports where the link leads, evaluated in the container's scope.
        let root_real = rfs::readlinkat(
            CWD,
            format!("/proc/self/fd/{}", root_fd.as_raw_fd()),
            Vec::new(),
        )
        .map(|c| PathBuf::from(OsStr::from_bytes(c.as_bytes())))
        .unwrap_or_else(|_| PathBuf::from("/"));
        link_target = match open_in_root(root_fd, &sp.abs, OFlags::PATH) {
            Ok(fd) => container_path_of(fd.as_fd(), &root_real),
            Err(_) => None,
        }
        .unwrap_or_else(|| {
            // Dangling: where it would lead.
            let t = name
                .as_ref()
                .and_then(|n| rfs::readlinkat(&parent, n, Vec::new()).ok())
                .map(|c| String::from_utf8_lossy(c.as_bytes()).to_string())
                .unwrap_or_default();
            if t.starts_with('/') {
                split_path(&t).abs
            } else {
                split_path(&format!("{}{t}", sp.dir)).abs
            }
        });
    }
    let stat = PathStat {
        name: go_base(&sp.abs),
        size: st.st_size,
        mode: go_file_mode(st.st_mode),
        mtime: mtime(&st),
        link_target,
    };
    let rebase = match go_base(&sp.abs).as_str() {
        "/" => ".".to_string(),
        b => b.to_string(),
    };
    Ok(Source {
        parent,
        name,
        stat,
        rebase,
    })
}

fn mtime(st: &Stat) -> String {
    let t = std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::new(
            st.st_mtime.max(0) as u64,
            st.st_mtime_nsec as u32,
        ))
        .unwrap_or(std::time::UNIX_EPOCH);
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Go's `os.FileMode` from a Unix `st_mode`.
pub(crate) fn go_file_mode(st_mode: u32) -> u32 {
    const MODE_DIR: u32 = 1 << 31;
    const MODE_SYMLINK: u32 = 1 << 27;
    const MODE_DEVICE: u32 = 1 << 26;
    const MODE_NAMED_PIPE: u32 = 1 << 25;
    const MODE_SOCKET: u32 = 1 << 24;
    const MODE_SETUID: u32 = 1 << 23;
    const MODE_SETGID: u32 = 1 << 22;
    const MODE_CHAR_DEVICE: u32 = 1 << 21;
    const MODE_STICKY: u32 = 1 << 20;
    let mut m = st_mode & 0o777;
    m |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => MODE_DIR,
        FileType::Symlink => MODE_SYMLINK,
        FileType::Fifo => MODE_NAMED_PIPE,
        FileType::Socket => MODE_SOCKET,
        FileType::CharacterDevice => MODE_DEVICE | MODE_CHAR_DEVICE,
        FileType::BlockDevice => MODE_DEVICE,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= MODE_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= MODE_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= MODE_STICKY;
    }
    m
}

const CHUNK: usize = 64 << 10;

/// Sends what is written in chunks to the HTTP body.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        // Send what was buffered before, never the latest bytes: the end of the archive goes
        // out only with the explicit flush after the rootfs is released.
        if !self.buf.is_empty() && self.buf.len() + data.len() > CHUNK {
            self.flush()?;
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// Writes the source as a tar: a directory recursively (entries `rebase/...`), anything else
/// as one entry named `rebase`. Nothing is followed: symlinks are stored as symlinks.
fn write_tar(src: &Source, w: &mut dyn Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(w);
    let mut links = HashMap::new();
    let name: &Path = src.name.as_deref().unwrap_or(Path::new("."));
    add_entry(&mut b, src.parent.as_fd(), name, &src.rebase, &mut links, 0)?;
    b.finish()
}

/// Reads exactly `size` bytes: a file that shrank is padded with zeros, one that grew is cut,
/// so the header written first stays true.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left as usize);
        let n = match self.inner.read(&mut buf[..max])? {
            0 => {
                buf[..max].fill(0);
                max
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

fn add_entry(
    b: &mut tar::Builder<&mut dyn Write>,
    parent: BorrowedFd<'_>,
    name: &Path,
    tar_name: &str,
    links: &mut HashMap<(u64, u64), String>,
    depth: usize,
) -> std::io::Result<()> {
    if depth > 256 {
        return Err(std::io::Error::other(format!(
            "{tar_name}: directories nested too deeply"
        )));
    }
    let st = if name == Path::new(".") {
        rfs::fstat(parent)?
    } else {
        rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?
    };
    let kind = FileType::from_raw_mode(st.st_mode);
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    match kind {
        FileType::Directory => {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, format!("{tar_name}/"), std::io::empty())?;
            let dir = rfs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut names = Vec::new();
            for e in rfs::Dir::read_from(&dir)? {
                let e = e?;
                let n = e.file_name().to_bytes();
                if n != b"." && n != b".." {
                    names.push(PathBuf::from(OsStr::from_bytes(n)));
                }
            }
            names.sort();
            for n in names {
                let child = format!("{tar_name}/{}", n.to_string_lossy());
                add_entry(b, dir.as_fd(), &n, &child, links, depth + 1)?;
            }
        }
        FileType::RegularFile => {
            if st.st_nlink > 1 {
                let key = (st.st_dev, st.st_ino);
                if let Some(first) = links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    return b.append_link(&mut h, tar_name, first);
                }
                links.insert(key, tar_name.to_string());
            }
            let fd = rfs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(st.st_size.max(0) as u64);
            let r = Exact {
                inner: std::fs::File::from(fd),
                left: st.st_size.max(0) as u64,
            };
            b.append_data(&mut h, tar_name, r)?;
        }
        FileType::Symlink => {
            let target = rfs::readlinkat(parent, name, Vec::new())?;
            let t = target.as_bytes();
            h.set_entry_type(tar::EntryType::Symlink);
            if t.len() <= 100 {
                // Verbatim: the tar crate's path normalization turns "/" into "//".
                h.set_link_name_literal(t)?;
                b.append_data(&mut h, tar_name, std::io::empty())?;
            } else {
                b.append_link(&mut h, tar_name, Path::new(OsStr::from_bytes(t)))?;
            }
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
            h.set_entry_type(match kind {
                FileType::CharacterDevice => tar::EntryType::Char,
                FileType::BlockDevice => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            });
            if kind != FileType::Fifo {
                h.set_device_major(rfs::major(st.st_rdev))?;
                h.set_device_minor(rfs::minor(st.st_rdev))?;
            }
            b.append_data(&mut h, tar_name, std::io::empty())?;
        }
        // Sockets cannot be archived (dockerd skips them too).
        _ => {}
    }
    Ok(())
}

/// Extracts the spooled tar into the directory `path` (resolved fully in the root's scope).
fn extract(
    root_fd: BorrowedFd<'_>,
    path: &str,
    key: &str,
    mut spool: std::fs::File,
    opts: PutOptions,
    check_writable: impl FnOnce(BorrowedFd<'_>) -> Result<()>,
) -> Result<()> {
    let sp = split_path(path);
    let dest = open_in_root(root_fd, &sp.abs, OFlags::PATH).map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR | Errno::LOOP => not_found(path, key),
        e => Error::internal(format!("resolving {path} in container {key}"), e),
    })?;
    let st = rfs::fstat(&dest).map_err(|e| Error::internal(path, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(Error::InvalidArgument(
            "extraction point is not a directory".into(),
        ));
    }
    check_writable(dest.as_fd())?;
    spool
        .rewind()
        .map_err(|e| Error::internal("archive spool", e))?;
    check_archive(&mut spool, dest.as_fd(), opts.no_overwrite_dir_non_dir)?;
    spool
        .rewind()
        .map_err(|e| Error::internal("archive spool", e))?;
    let mut uo = berth_image::unpack::UnpackOptions::new("archive");
    uo.same_owner = opts.copy_uid_gid;
    // The unpacker opens this path: the magic link is the directory resolved above, so a
    // rename inside the container cannot redirect it.
    let dest_path = PathBuf::from(format!("/proc/self/fd/{}", dest.as_raw_fd()));
    berth_image::unpack::unpack_tar(&mut spool, &dest_path, &uo).map_err(|e| match e {
        berth_image::Error::UnsafeEntry { entry, reason, .. } => {
            Error::InvalidArgument(format!("archive entry {entry:?}: {reason}"))
        }
        e => Error::internal(format!("extracting into {path}"), e),
    })
}

/// Reads every header before anything is written: overlay whiteout names (which the unpacker
/// would turn into deletions) are refused, and with `no_overwrite` so are entries that would
/// replace a directory with a non-directory or the reverse (dockerd's messages).
fn check_archive(
    spool: &mut std::fs::File,
    dest: BorrowedFd<'_>,
    no_overwrite: bool,
) -> Result<()> {
    let mut a = tar::Archive::new(spool);
    let entries = a
        .entries()
        .map_err(|e| Error::InvalidArgument(format!("reading the archive: {e}")))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::InvalidArgument(format!("reading the archive: {e}")))?;
        let p = entry
            .path()
            .map_err(|e| Error::InvalidArgument(format!("archive entry path: {e}")))?
            .into_owned();
        if p.file_name()
            .map(|n| n.as_bytes().starts_with(b".wh."))
            .unwrap_or(false)
        {
            return Err(Error::InvalidArgument(format!(
                "archive entry {:?}: names starting with .wh. are reserved for layer whiteouts",
                p.display().to_string()
            )));
        }
        if !no_overwrite {
            continue;
        }
        let is_dir = entry.header().entry_type().is_dir();
        let rel_path = p.to_string_lossy().to_string();
        let Ok(existing) = open_in_root(dest, &rel_path, OFlags::PATH | OFlags::NOFOLLOW) else {
            continue;
        };
        let Ok(est) = rfs::fstat(&existing) else {
            continue;
        };
        let exists_dir = FileType::from_raw_mode(est.st_mode) == FileType::Directory;
        let shown = split_path(&rel_path).abs;
        if exists_dir && !is_dir {
            return Err(Error::InvalidArgument(format!(
                "cannot overwrite directory {shown:?} with non-directory {shown:?}"
            )));
        }
        if !exists_dir && is_dir {
            return Err(Error::InvalidArgument(format!(
                "cannot overwrite non-directory {shown:?} with directory {shown:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(d: &tempfile::TempDir) -> OwnedFd {
        rfs::open(d.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).expect("root")
    }

    #[test]
    fn paths_split_as_dockerd() {
        let s = split_path("/etc/passwd");
        assert_eq!((s.dir.as_str(), s.base.as_str()), ("/etc/", "passwd"));
        let s = split_path("etc/");
        assert_eq!((s.abs.as_str(), s.base.as_str()), ("/etc/", ""));
        let s = split_path("/etc/.");
        assert_eq!(
            (s.abs.as_str(), s.dir.as_str(), s.base.as_str()),
            ("/etc/.", "/etc/", ".")
        );
        let s = split_path("/../../etc//x/../passwd");
        assert_eq!(s.abs, "/etc/passwd");
        let s = split_path("/");
        assert_eq!((s.dir.as_str(), s.base.as_str()), ("/", ""));
        assert_eq!(go_base("/etc/"), "etc");
        assert_eq!(go_base("/"), "/");
        assert_eq!(go_base("/etc/."), ".");
    }

    #[test]
    fn go_file_modes() {
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(0o041777), (1 << 31) | (1 << 20) | 0o777);
        assert_eq!(go_file_mode(0o020666), (1 << 26) | (1 << 21) | 0o666);
        let st = PathStat {
            name: "passwd".into(),
            size: 10,
            mode: 0o644,
            mtime: "2024-01-01T00:00:00Z".into(),
            link_target: String::new(),
        };
        let v = serde_json::to_value(&st).expect("json");
        assert_eq!(v["linkTarget"], "");
        assert_eq!(v["mode"], 420);
    }

    /// A root with a file, a directory, an escaping symlink and a hard link.
    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        let r = d.path();
        std::fs::create_dir_all(r.join("etc/sub")).expect("mkdir");
        std::fs::write(r.join("etc/hostname"), "box\n").expect("write");
        std::fs::write(r.join("etc/sub/a"), "aaa").expect("write");
        std::fs::hard_link(r.join("etc/sub/a"), r.join("etc/sub/b")).expect("link");
        std::os::unix::fs::symlink("/etc", r.join("link")).expect("symlink");
        std::os::unix::fs::symlink("../../../../../../", r.join("etc/up")).expect("symlink");
        std::os::unix::fs::symlink("/", r.join("root")).expect("symlink");
        d
    }

    fn tar_of(src: &Source) -> Vec<(String, tar::EntryType, Vec<u8>)> {
        let mut out = Vec::new();
        write_tar(src, &mut out).expect("tar");
        let mut a = tar::Archive::new(&out[..]);
        a.entries()
            .expect("entries")
            .map(|e| {
                let mut e = e.expect("entry");
                let mut data = Vec::new();
                e.read_to_end(&mut data).expect("read");
                (
                    e.path().expect("path").display().to_string(),
                    e.header().entry_type(),
                    data,
                )
            })
            .collect()
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tree();
        // The directory part follows `link` -> /etc of the root, not the host's /etc.
        let s = resolve_source(root(&d).as_fd(), "/link/hostname", "c").expect("stat");
        assert_eq!(s.stat.name, "hostname");
        assert_eq!(s.stat.size, 4);
        // A symlink as last element is reported, with its target in the container's scope.
        let s = resolve_source(root(&d).as_fd(), "/etc/up", "c").expect("stat");
        assert_eq!(s.stat.mode & (1 << 27), 1 << 27);
        assert_eq!(s.stat.link_target, "/");
        let s = resolve_source(root(&d).as_fd(), "/link", "c").expect("stat");
        assert_eq!(s.stat.link_target, "/etc");
        // `..` through a symlink stays in the root.
        let s = resolve_source(root(&d).as_fd(), "/etc/up/etc/hostname", "c").expect("stat");
        assert_eq!(s.stat.size, 4);
        let e = resolve_source(root(&d).as_fd(), "/nope", "web")
            .err()
            .expect("missing");
        assert_eq!(
            e.to_string(),
            "Could not find the file /nope in container web"
        );
        assert_eq!(e.kind(), crate::error::Kind::NotFound);
    }

    #[test]
    fn tar_of_a_directory_and_a_file() {
        let d = tree();
        let s = resolve_source(root(&d).as_fd(), "/etc", "c").expect("stat");
        let entries = tar_of(&s);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/hostname",
                "etc/sub/",
                "etc/sub/a",
                "etc/sub/b",
                "etc/up"
            ]
        );
        assert_eq!(entries[3].2, b"aaa");
        assert_eq!(entries[4].1, tar::EntryType::Link);
        assert_eq!(entries[5].1, tar::EntryType::Symlink);
        // Through a trailing slash the symlink is followed and the entries keep its name.
        let s = resolve_source(root(&d).as_fd(), "/link/", "c").expect("stat");
        assert_eq!(tar_of(&s)[0].0, "link/");
        let s = resolve_source(root(&d).as_fd(), "/root", "c").expect("stat");
        let mut out = Vec::new();
        write_tar(&s, &mut out).expect("tar");
        let mut a = tar::Archive::new(&out[..]);
        let e = a
            .entries()
            .expect("entries")
            .next()
            .expect("one")
            .expect("entry");
        assert_eq!(e.link_name_bytes().as_deref(), Some(&b"/"[..]));
        let s = resolve_source(root(&d).as_fd(), "/etc/hostname", "c").expect("stat");
        let entries = tar_of(&s);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].0.as_str(), entries[0].2.as_slice()),
            ("hostname", &b"box\n"[..])
        );
    }

    fn spool_tar(entries: &[(&str, Option<&[u8]>)]) -> std::fs::File {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            match data {
                Some(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, name, *d).expect("append");
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, name, std::io::empty())
                        .expect("append");
                }
            }
        }
        let bytes = b.into_inner().expect("tar");
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(&bytes).expect("write");
        f
    }

    #[test]
    fn put_confined_and_checked() {
        let d = tree();
        let opts = PutOptions {
            no_overwrite_dir_non_dir: true,
            copy_uid_gid: false,
        };
        extract(
            root(&d).as_fd(),
            "/link",
            "c",
            spool_tar(&[("new.txt", Some(b"hi"))]),
            opts,
            |_| Ok(()),
        )
        .expect("put");
        assert_eq!(
            std::fs::read(d.path().join("etc/new.txt")).expect("read"),
            b"hi"
        );
        // `up` leads to the root's root, never the host's.
        extract(
            root(&d).as_fd(),
            "/etc/up/",
            "c",
            spool_tar(&[("top.txt", Some(b"t"))]),
            opts,
            |_| Ok(()),
        )
        .expect("put");
        assert!(d.path().join("top.txt").exists());
        let e = extract(
            root(&d).as_fd(),
            "/etc",
            "c",
            spool_tar(&[("sub", Some(b"x"))]),
            opts,
            |_| Ok(()),
        )
        .expect_err("dir by file");
        assert!(e.to_string().contains("cannot overwrite directory"), "{e}");
        let e = extract(
            root(&d).as_fd(),
            "/etc",
            "c",
            spool_tar(&[("hostname", None)]),
            opts,
            |_| Ok(()),
        )
        .expect_err("file by dir");
        assert!(
            e.to_string().contains("cannot overwrite non-directory"),
            "{e}"
        );
        let e = extract(
            root(&d).as_fd(),
            "/etc/hostname",
            "c",
            spool_tar(&[("x", Some(b"x"))]),
            opts,
            |_| Ok(()),
        )
        .expect_err("not a dir");
        assert_eq!(e.to_string(), "extraction point is not a directory");
        let e = extract(
            root(&d).as_fd(),
            "/missing",
            "web",
            spool_tar(&[("x", Some(b"x"))]),
            opts,
            |_| Ok(()),
        )
        .expect_err("missing");
        assert_eq!(e.kind(), crate::error::Kind::NotFound);
        let e = extract(
            root(&d).as_fd(),
            "/etc",
            "c",
            spool_tar(&[(".wh.hostname", Some(b""))]),
            opts,
            |_| Ok(()),
        )
        .expect_err("whiteout");
        assert!(e.to_string().contains(".wh."), "{e}");
        assert!(d.path().join("etc/hostname").exists());
    }
}
