//! The engine's typed error. Each variant is a kind the API layer maps to one HTTP status
//! (moby's errdefs), and carries the message users see.

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by the kind of answer the caller should give.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such container, image, exec instance... (404)
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state: name in use, container running... (409)
    #[error("{0}")]
    Conflict(String),
    /// Bad input, naming the field or parameter. (400)
    #[error("{0}")]
    InvalidArgument(String),
    /// Nothing to do: already started, already stopped. (304)
    #[error("{0}")]
    NotModified(String),
    /// Registry credentials refused. (401)
    #[error("{0}")]
    Unauthorized(String),
    /// Not allowed in this configuration. (403)
    #[error("{0}")]
    Forbidden(String),
    /// An exec was started and could not run its process (unknown user...): its exit code is
    /// set; clients that attached get the message in the stream. (500 when not attached)
    #[error("{0}")]
    ExecFailed(String),
    /// Everything else: the daemon or the host failed. (500)
    #[error("{0}")]
    Internal(String),
    /// An image store or registry error, mapped by its own kind.
    #[error(transparent)]
    Image(#[from] berth_image::Error),
}

/// The answer an error asks for, independent of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    Conflict,
    InvalidArgument,
    NotModified,
    Unauthorized,
    Forbidden,
    Internal,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::NotFound(_) => Kind::NotFound,
            Error::Conflict(_) => Kind::Conflict,
            Error::InvalidArgument(_) => Kind::InvalidArgument,
            Error::NotModified(_) => Kind::NotModified,
            Error::Unauthorized(_) => Kind::Unauthorized,
            Error::Forbidden(_) => Kind::Forbidden,
            Error::Internal(_) | Error::ExecFailed(_) => Kind::Internal,
            Error::Image(e) => match e {
                berth_image::Error::NotFound { .. } => Kind::NotFound,
                berth_image::Error::AlreadyExists { .. } => Kind::Conflict,
                berth_image::Error::InvalidReference { .. }
                | berth_image::Error::InvalidDigest { .. }
                | berth_image::Error::Schema1 { .. }
                | berth_image::Error::NoMatchingPlatform { .. } => Kind::InvalidArgument,
                berth_image::Error::Auth { .. } => Kind::Unauthorized,
                berth_image::Error::Registry { status: 404, .. } => Kind::NotFound,
                berth_image::Error::Registry { status: 401, .. } => Kind::Unauthorized,
                _ => Kind::Internal,
            },
        }
    }

    /// An internal error with context, from anything displayable.
    pub fn internal(context: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
        Error::Internal(format!("{context}: {e}"))
    }
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Error {
        Error::Internal(format!("state database: {e}"))
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Internal(format!("state database: {e}"))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
