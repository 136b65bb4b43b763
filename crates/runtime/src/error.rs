//! The runtime's typed errors. Every message names what was wrong (a config field, a file, a
//! container id), because `berth-runc` prints it as the one line a user sees.

use std::io;
use std::path::Path;

/// Errors of the runtime library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json is malformed or invalid; the message starts with the field path.
    #[error("config.json: {0}")]
    Config(String),
    /// A command-line level problem (bad flag combination, bad value).
    #[error("{0}")]
    Usage(String),
    /// No container with that id under the runtime root.
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    /// `create` of an id that is taken.
    #[error("container with id \"{0}\" already exists")]
    Exists(String),
    /// A container id that is empty or contains characters other than [A-Za-z0-9_+.-].
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.' only")]
    InvalidId(String),
    /// The operation is not allowed in the container's current status.
    #[error("{0}")]
    BadStatus(String),
    /// An I/O error with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (names the file or object).
        context: String,
        /// The OS error.
        source: io::Error,
    },
    /// The cgroup manager failed.
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::CgroupError),
    /// The container's init process reported a failure while setting the container up.
    #[error("{0}")]
    Init(String),
    /// A lifecycle hook failed.
    #[error("{0}")]
    Hook(String),
    /// A feature the config asks for that this runtime does not support (yet).
    #[error("{0}")]
    Unsupported(String),
}

/// Result alias for the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach context to I/O errors: `fs::read(p).ctx(|| format!("reading {}", p.display()))`.
pub trait IoContext<T> {
    /// Wraps the error with a lazily built context message.
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
    /// Wraps the error with "ACTION PATH".
    fn path_ctx(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: f(),
            source,
        })
    }
    fn path_ctx(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: format!("{action} {}", path.display()),
            source,
        })
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: f(),
            source: e.into(),
        })
    }
    fn path_ctx(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: format!("{action} {}", path.display()),
            source: e.into(),
        })
    }
}
