//! Content-addressed blob store.
//!
//! Layout under the root: `blobs/<alg>/<hex>` for committed blobs, `ingest/<id>/` for partial
//! writes (`data` plus a `lock` file held with `flock` by the one writer). A blob only appears
//! under `blobs/` after its bytes were fsynced and verified against the expected digest and
//! size, by an atomic rename; so readers never see partial content, a failed download leaves an
//! ingest that the next writer of the same key resumes, a crash leaves one that the store's
//! owner removes when it starts ([`crate::store::ImageStore::remove_leftovers`]), and two
//! concurrent pulls of one blob serialize on the ingest lock (the second finds the blob
//! committed and writes nothing).

use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use rustix::fs::{flock, FlockOperation};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A content-addressed store rooted at one directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

/// What asking for a writer gave.
#[derive(Debug)]
pub enum Ingest {
    /// The blob is already committed: nothing to write.
    Exists,
    /// Another writer holds this ingest (only from [`ContentStore::try_writer`]).
    Locked,
    /// A writer positioned at the end of any earlier partial data (see [`Writer::offset`]).
    Writer(Box<Writer>),
}

impl ContentStore {
    /// Opens (creating if needed) a store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ContentStore> {
        let root = root.into();
        for sub in ["blobs/sha256", "blobs/sha512", "ingest"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).io("create directory", &p)?;
        }
        Ok(ContentStore { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a committed blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// True when the blob is committed.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Size of a committed blob.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.blob_path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound {
                kind: "blob",
                name: digest.to_string(),
            }),
            Err(e) => Err(e).io("stat", p),
        }
    }

    /// Opens a committed blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let p = self.blob_path(digest);
        match File::open(&p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound {
                kind: "blob",
                name: digest.to_string(),
            }),
            Err(e) => Err(e).io("open", p),
        }
    }

    /// Reads a whole (small) blob, refusing blobs over `limit` bytes.
    pub fn read_limited(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let size = self.size(digest)?;
        if size > limit {
            return Err(Error::InvalidDocument {
                what: format!("blob {digest}"),
                reason: format!("{size} bytes is over the {limit}-byte limit"),
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.open_blob(digest)?
            .read_to_end(&mut buf)
            .io("read", self.blob_path(digest))?;
        Ok(buf)
    }

    /// Stores `bytes` as a blob (verifying them against `expected` when given).
    pub fn write_blob(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let digest = match expected {
            Some(d) => {
                d.verify(bytes)?;
                d.clone()
            }
            None => Digest::sha256_of(bytes),
        };
        match self.writer(&digest.to_string(), Some(&digest), Some(bytes.len() as u64))? {
            Ingest::Writer(mut w) => {
                w.truncate()?;
                w.write_all(bytes).io("write", &w.data_path)?;
                w.commit()?;
            }
            Ingest::Exists | Ingest::Locked => {}
        }
        Ok(digest)
    }

    /// A writer for `key` (usually the expected digest), waiting for any other writer of the
    /// same key to finish first.
    pub fn writer(
        &self,
        key: &str,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<Ingest> {
        self.writer_inner(key, expected, size, true)
    }

    /// Like [`ContentStore::writer`] but returns [`Ingest::Locked`] instead of waiting.
    pub fn try_writer(
        &self,
        key: &str,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<Ingest> {
        self.writer_inner(key, expected, size, false)
    }

    fn writer_inner(
        &self,
        key: &str,
        expected: Option<&Digest>,
        size: Option<u64>,
        wait: bool,
    ) -> Result<Ingest> {
        if expected.is_some_and(|d| self.exists(d)) {
            return Ok(Ingest::Exists);
        }
        let dir = self.ingest_dir(key);
        fs::create_dir_all(&dir).io("create directory", &dir)?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .io("open", &lock_path)?;
        let op = if wait {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::NonBlockingLockExclusive
        };
        match flock(&lock, op) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(Ingest::Locked),
            Err(e) => return Err(e).io("lock", lock_path),
        }
        // The other writer may have committed while we waited; or the ingest dir may have been
        // removed by its commit between our mkdir and our lock.
        if expected.is_some_and(|d| self.exists(d)) {
            return Ok(Ingest::Exists);
        }
        if !dir.exists() {
            drop(lock);
            return self.writer_inner(key, expected, size, wait);
        }
        let data_path = dir.join("data");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&data_path)
            .io("open", &data_path)?;
        let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
        let mut hasher = Hasher::new(algorithm);
        let mut offset = file.metadata().io("stat", &data_path)?.len();
        if size.is_some_and(|s| offset > s) {
            file.set_len(0).io("truncate", &data_path)?;
            offset = 0;
        }
        if offset > 0 {
            // Resuming: rebuild the hash state from the bytes already on disk.
            let mut buf = vec![0u8; 1 << 16];
            let mut left = offset;
            file.seek(SeekFrom::Start(0)).io("seek", &data_path)?;
            while left > 0 {
                let n = file.read(&mut buf).io("read", &data_path)?;
                if n == 0 {
                    break;
                }
                let n = n.min(left as usize);
                hasher.update(&buf[..n]);
                left -= n as u64;
            }
        }
        file.seek(SeekFrom::Start(offset)).io("seek", &data_path)?;
        Ok(Ingest::Writer(Box::new(Writer {
            store: self.clone(),
            dir,
            data_path,
            file,
            _lock: lock,
            hasher,
            offset,
            expected: expected.cloned(),
            size,
        })))
    }

    fn ingest_dir(&self, key: &str) -> PathBuf {
        self.root
            .join("ingest")
            .join(&Digest::sha256_of(key.as_bytes()).hex()[..32])
    }

    /// Deletes a committed blob (missing is not an error).
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).io("remove", p),
            _ => Ok(()),
        }
    }

    /// Every committed blob with its size.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        for alg in ["sha256", "sha512"] {
            let dir = self.root.join("blobs").join(alg);
            for entry in fs::read_dir(&dir).io("read directory", &dir)? {
                let entry = entry.io("read directory", &dir)?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Ok(d) = format!("{alg}:{name}").parse::<Digest>() else {
                    continue;
                };
                let len = entry.metadata().io("stat", entry.path())?.len();
                out.push((d, len));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes ingests untouched for longer than `age` and not held by a writer.
    pub fn prune_ingests(&self, age: Duration) -> Result<usize> {
        let dir = self.root.join("ingest");
        let mut removed = 0;
        for entry in fs::read_dir(&dir).io("read directory", &dir)? {
            let entry = entry.io("read directory", &dir)?;
            let path = entry.path();
            let data_mtime = fs::metadata(path.join("data")).and_then(|m| m.modified());
            let old = data_mtime
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_none_or(|d| d >= age);
            if !old {
                continue;
            }
            let Ok(lock) = File::open(path.join("lock")) else {
                fs::remove_dir_all(&path).io("remove", &path)?;
                removed += 1;
                continue;
            };
            if flock(&lock, FlockOperation::NonBlockingLockExclusive).is_ok() {
                fs::remove_dir_all(&path).io("remove", &path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Writes one blob. Dropping it without [`Writer::commit`] keeps the partial data for a later
/// resume (see [`Writer::abort`] to discard it).
#[derive(Debug)]
pub struct Writer {
    store: ContentStore,
    dir: PathBuf,
    data_path: PathBuf,
    file: File,
    _lock: File,
    hasher: Hasher,
    offset: u64,
    expected: Option<Digest>,
    size: Option<u64>,
}

impl Writer {
    /// Bytes already written (from an earlier, interrupted ingest or this one).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Path of the partial data (readers may follow it while it grows).
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Discards any partial data and starts at offset 0.
    pub fn truncate(&mut self) -> Result<()> {
        self.file.set_len(0).io("truncate", &self.data_path)?;
        self.file
            .seek(SeekFrom::Start(0))
            .io("seek", &self.data_path)?;
        self.hasher = Hasher::new(
            self.expected
                .as_ref()
                .map_or(Algorithm::Sha256, Digest::algorithm),
        );
        self.offset = 0;
        Ok(())
    }

    /// Verifies size and digest, fsyncs and atomically moves the blob into place.
    pub fn commit(mut self) -> Result<Digest> {
        self.file.flush().io("flush", &self.data_path)?;
        let got = self.hasher.clone().finish();
        let fail = |reason: String| Error::Verification {
            digest: self
                .expected
                .as_ref()
                .map_or_else(|| got.to_string(), |d| d.to_string()),
            reason,
        };
        if let Some(size) = self.size {
            if self.offset != size {
                let err = fail(format!("expected {size} bytes, got {}", self.offset));
                self.discard();
                return Err(err);
            }
        }
        if let Some(expected) = &self.expected {
            if &got != expected {
                let err = fail(format!("content hashes to {got}"));
                self.discard();
                return Err(err);
            }
        }
        self.file.sync_all().io("fsync", &self.data_path)?;
        let target = self.store.blob_path(&got);
        fs::rename(&self.data_path, &target).io("rename", &target)?;
        let parent = target.parent().expect("blob paths have a parent");
        File::open(parent)
            .and_then(|d| d.sync_all())
            .io("fsync", parent)?;
        let _ = fs::remove_dir_all(&self.dir);
        Ok(got)
    }

    /// Throws away the partial data.
    pub fn abort(self) {
        self.discard();
    }

    fn discard(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let t = tempfile::tempdir().expect("tempdir");
        let s = ContentStore::open(t.path().join("content")).expect("open");
        (t, s)
    }

    fn ingest_is_empty(s: &ContentStore) -> bool {
        fs::read_dir(s.root().join("ingest"))
            .expect("ingest dir")
            .next()
            .is_none()
    }

    #[test]
    fn ingest_commit_and_read() {
        let (_t, s) = store();
        let d = s.write_blob(b"hello", None).expect("write");
        assert_eq!(d, Digest::sha256_of(b"hello"));
        assert_eq!(s.read_limited(&d, 10).expect("read"), b"hello");
        assert!(s.read_limited(&d, 2).is_err());
        assert!(matches!(
            s.writer("k", Some(&d), None).expect("w"),
            Ingest::Exists
        ));
        assert_eq!(s.list().expect("list"), vec![(d.clone(), 5)]);
        assert!(ingest_is_empty(&s));
        s.delete(&d).expect("delete");
        assert!(!s.exists(&d));
    }

    #[test]
    fn wrong_digest_or_size_commits_nothing() {
        let (_t, s) = store();
        let want = Digest::sha256_of(b"good");
        let err = s.write_blob(b"evil", Some(&want)).expect_err("mismatch");
        assert!(err.to_string().contains(&want.to_string()), "{err}");
        let Ingest::Writer(mut w) = s.writer("x", Some(&want), Some(4)).expect("w") else {
            panic!("expected a writer")
        };
        w.write_all(b"evil").expect("write");
        let err = w.commit().expect_err("mismatch");
        assert!(err.to_string().contains("hashes to"), "{err}");
        assert!(!s.exists(&want));
        assert!(s.list().expect("list").is_empty());
        assert!(ingest_is_empty(&s));
        let Ingest::Writer(mut w) = s.writer("y", Some(&want), Some(4)).expect("w") else {
            panic!("expected a writer")
        };
        w.write_all(b"goo").expect("write");
        assert!(w
            .commit()
            .expect_err("short")
            .to_string()
            .contains("expected 4 bytes"));
        assert!(s.list().expect("list").is_empty());
    }

    #[test]
    fn resumes_partial_ingest() {
        let (_t, s) = store();
        let data = vec![7u8; 200_000];
        let want = Digest::sha256_of(&data);
        {
            let Ingest::Writer(mut w) = s.writer("r", Some(&want), Some(200_000)).expect("w")
            else {
                panic!("expected a writer")
            };
            w.write_all(&data[..123_457]).expect("write");
            // dropped: an interrupted download
        }
        let Ingest::Writer(mut w) = s.writer("r", Some(&want), Some(200_000)).expect("w") else {
            panic!("expected a writer")
        };
        assert_eq!(w.offset(), 123_457);
        w.write_all(&data[123_457..]).expect("write");
        assert_eq!(w.commit().expect("commit"), want);
        assert_eq!(s.size(&want).expect("size"), 200_000);
    }

    #[test]
    fn sha512_blobs_are_readable() {
        let (_t, s) = store();
        let d: Digest = format!(
            "sha512:{}",
            hex::encode(<sha2::Sha512 as sha2::Digest>::digest(b"x"))
        )
        .parse()
        .expect("digest");
        s.write_blob(b"x", Some(&d)).expect("write");
        assert_eq!(s.read_limited(&d, 1).expect("read"), b"x");
    }

    #[test]
    fn concurrent_writers_of_one_blob_serialize() {
        let (_t, s) = store();
        let data = vec![1u8; 1 << 20];
        let want = Digest::sha256_of(&data);
        let Ingest::Writer(mut first) = s.writer("c", Some(&want), None).expect("w") else {
            panic!("expected a writer")
        };
        assert!(matches!(
            s.try_writer("c", Some(&want), None).expect("w"),
            Ingest::Locked
        ));
        let s2 = s.clone();
        let want2 = want.clone();
        let waiter = std::thread::spawn(move || {
            matches!(s2.writer("c", Some(&want2), None), Ok(Ingest::Exists))
        });
        first.write_all(&data).expect("write");
        first.commit().expect("commit");
        assert!(
            waiter.join().expect("thread"),
            "second writer must find the blob committed"
        );
        assert!(ingest_is_empty(&s));
    }

    #[test]
    fn prunes_stale_ingests_only_when_unlocked() {
        let (_t, s) = store();
        let Ingest::Writer(mut w) = s.writer("p", None, None).expect("w") else {
            panic!("writer")
        };
        w.write_all(b"abc").expect("write");
        assert_eq!(s.prune_ingests(Duration::ZERO).expect("prune"), 0);
        drop(w);
        assert_eq!(s.prune_ingests(Duration::ZERO).expect("prune"), 1);
        assert!(ingest_is_empty(&s));
    }
}
