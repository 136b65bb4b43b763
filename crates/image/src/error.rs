//! One typed error for the crate: every variant names what was wrong (field, file, digest, URL).

use std::path::PathBuf;

/// Errors returned by every part of `berth-image`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference string that cannot be parsed.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference { input: String, reason: String },
    /// A digest string that cannot be parsed or uses an unsupported algorithm.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest { input: String, reason: String },
    /// Content whose hash or size differs from what was announced.
    #[error("content verification failed for {digest}: {reason}")]
    Verification { digest: String, reason: String },
    /// A blob, manifest, image or snapshot that does not exist.
    #[error("{kind} not found: {name}")]
    NotFound { kind: &'static str, name: String },
    /// Something that already exists (a committed snapshot key, an ingest held by another writer).
    #[error("{kind} already exists: {name}")]
    AlreadyExists { kind: &'static str, name: String },
    /// A media type the crate does not handle.
    #[error("unsupported media type {media_type:?} ({context})")]
    UnsupportedMediaType { media_type: String, context: String },
    /// Docker image manifest schema 1 is deprecated and not supported.
    #[error("{reference}: Docker image manifest schema 1 is not supported (re-push the image with a current client)")]
    Schema1 { reference: String },
    /// A manifest, index or config document that is malformed or too large.
    #[error("invalid {what}: {reason}")]
    InvalidDocument { what: String, reason: String },
    /// A layer tar entry that is refused (path escapes, unsupported type, ...).
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    UnsafeEntry {
        layer: String,
        entry: String,
        reason: String,
    },
    /// No manifest in an index matches the wanted platform.
    #[error("no manifest for platform {wanted} in {reference} (available: {available})")]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    /// Registry refused our credentials or demanded ones we do not have.
    #[error("registry {registry}: authentication failed: {reason}")]
    Auth { registry: String, reason: String },
    /// Any other non-success HTTP answer from a registry.
    #[error("registry {method} {url}: HTTP {status}: {body}")]
    Registry {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    /// Transport error talking to a registry (connection refused, reset, TLS...).
    #[error("registry {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A mount or snapshot operation that is not possible here.
    #[error("snapshot {key}: {reason}")]
    Snapshot { key: String, reason: String },
    /// Bad configuration (mirrors, insecure registries, credentials file).
    #[error("config {what}: {reason}")]
    Config { what: String, reason: String },
    /// An archive (docker-archive, OCI layout) that cannot be imported.
    #[error("archive {path}: {reason}")]
    Archive { path: String, reason: String },
}

/// Crate result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches an operation and path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn io(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.into(),
            source,
        })
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn io(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::Io {
            op,
            path: path.into(),
            source: e.into(),
        })
    }
}
