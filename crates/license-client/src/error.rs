//! What can go wrong besides a licensing answer. A license that is not valid is not an error: it
//! is a [`Status`](crate::Status); these are the cases where the client could not get an answer,
//! was configured wrongly, or could not record what it learnt.

use std::path::PathBuf;
use std::time::Duration;

/// An error of the license client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given something unusable; the message names the setting and what to do.
    #[error("license client configuration: {0}")]
    Config(String),
    /// The validation API could not be reached (connection error, timeout, 5xx, or an answer that
    /// is not Keysmith's, such as a captive portal's page) and no cached lease could stand in.
    #[error(
        "cannot reach the license server at {url} ({reason}) and no offline lease is cached; check the network and try again"
    )]
    Unreachable {
        /// The validation URL the client was built with.
        url: String,
        /// The last failure, e.g. `connection refused` or `server error 503`.
        reason: String,
    },
    /// The server asked this client to slow down (429) for longer than the client may wait, and
    /// no cached lease could stand in. No request is sent before `retry_after` has passed.
    #[error("the license server is rate limiting this client; try again in {retry_after:?}")]
    RateLimited {
        /// How long the server asked the client to wait.
        retry_after: Duration,
    },
    /// The server refused a request for a reason that is not a license status (for example
    /// `INVALID_REQUEST`, or `ENVIRONMENT_NOT_FOUND` for a wrong environment name).
    #[error("the license server refused the request: {code}: {message}")]
    Refused {
        /// The SPEC §7 code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// [`deactivate`](crate::Client::deactivate) was called but this instance holds no key.
    #[error("this instance is not activated: call activate(key, ..) first")]
    NotActivated,
    /// The cache file could not be written (activate and deactivate only: their purpose is to
    /// record the new state).
    #[error("cannot write the license cache {}: {source}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The operating system did not give a machine id (see [`fingerprint::machine`](crate::fingerprint::machine)).
    #[error("cannot read this machine's id: {0}; pass a fingerprint of your own to the builder")]
    Fingerprint(String),
}
