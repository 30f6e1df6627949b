//! The store's errors, named for what went wrong. The HTTP layer maps each to a SPEC code.

use license_core::{InvalidTransition, LicenseStatus};

/// Everything a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row with that id (or key) in this environment.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for (`license`, `product`, ...).
        entity: &'static str,
    },
    /// A request field is invalid; nothing was written.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field, as named in the API.
        field: &'static str,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The key format carries too little randomness (`WEAK_KEY_FORMAT`).
    #[error("format: {0}")]
    WeakKeyFormat(String),
    /// A unique value is taken (`DUPLICATE`).
    #[error("{field} is already in use")]
    Duplicate {
        /// The field whose value is taken.
        field: &'static str,
    },
    /// Something still refers to the row (`IN_USE`).
    #[error("{entity} is still referred to by {by}")]
    InUse {
        /// The row that cannot be deleted.
        entity: &'static str,
        /// What refers to it.
        by: &'static str,
    },
    /// The lifecycle action is not allowed from the license's state (`INVALID_TRANSITION`).
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// Revoked, reminted and expired licenses cannot be edited (`LICENSE_NOT_EDITABLE`).
    #[error("a {status} license cannot be edited")]
    NotEditable {
        /// The license's state.
        status: LicenseStatus,
    },
    /// A field that never changes was sent in an edit (`IMMUTABLE_FIELD`).
    #[error("{field} cannot be changed")]
    Immutable {
        /// The field.
        field: &'static str,
    },
    /// A license that was ever activated is deleted only with `force` (`LICENSE_HAS_ACTIVATIONS`).
    #[error("license has been activated; delete with force=true to delete it anyway")]
    HasActivations,
    /// The change would leave an environment without an enabled admin operator (`LAST_ADMIN`).
    #[error(
        "{environment} would be left without an admin; make another operator admin there first"
    )]
    LastAdmin {
        /// The environment.
        environment: String,
    },
    /// A one-time link is unknown, used or expired (`LINK_INVALID`).
    #[error(
        "this link is not valid: it was used already, has expired, or was replaced by a newer one"
    )]
    LinkInvalid,
    /// A transaction was rolled back on purpose (a dry run, or an all-or-nothing import with
    /// row errors); the caller reports what would have happened.
    #[error("rolled back")]
    RolledBack,
    /// A stored value does not parse: the database was changed outside Keysmith.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database URL or another setting is wrong.
    #[error("{0}")]
    Config(String),
    /// Migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// No connection could be had from the pool in time.
    #[error("database unavailable: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// The database is known to be away (its probe fails) or a connection to it broke.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[source] diesel::result::Error),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound { entity: "row" },
            // The connection broke under the statement, or was known broken before it.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::Unavailable(info.message().to_owned()),
            other => Self::Database(other),
        }
    }
}

impl StoreError {
    /// A field error.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }
}

/// Maps a unique violation on insert or update to `Duplicate { field }`; any other error passes.
pub(crate) fn unique(field: &'static str) -> impl Fn(diesel::result::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate { field }
        } else {
            StoreError::from(e)
        }
    }
}

fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Store result.
pub type StoreResult<T> = Result<T, StoreError>;
