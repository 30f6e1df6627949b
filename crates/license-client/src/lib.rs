//! The Rust SDK for software licensed with Keysmith (SPEC §13): activate a license key on this
//! machine, ask "may I run?" at start-up and every few hours, and keep running offline on a
//! signed lease while the license server cannot be reached.
//!
//! What it does: blocking HTTP to the validation API with timeouts, bounded retries with backoff
//! and jitter, and `Retry-After`; Ed25519 lease verification by `license-core` (the same code
//! the server signs with); one cache file per environment holding the key, the last lease and
//! the environment's public keys; detection of a clock set back. What it never does: start an
//! async runtime or keep a thread running (every call is done when it returns; ureq may resolve
//! a host name on a short-lived thread to honour the connect timeout), panic, or log anything
//! (the license key in particular — its `Debug` form is redacted).
//!
//! The whole integration:
//!
//! ```no_run
//! use license_client::{fingerprint, Client, Status};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = Client::builder("https://licenses.example.com", "production")
//!         .cache_dir("/var/lib/photo-editor") // per-user data folder of the program
//!         .fingerprint(fingerprint::machine("com.example.photo-editor")?)
//!         .build()?;
//!     if let Some(key) = std::env::args().nth(1) {
//!         client.activate(&key, Some("my laptop"), Some(std::env::consts::OS))?;
//!     }
//!     match client.check()? {
//!         Status::Valid { claims, .. } if claims.ent.get("pro") == Some(&true.into()) => {
//!             println!("Pro features on")
//!         }
//!         status if status.is_licensed() => println!("licensed: {status:?}"),
//!         status => return Err(format!("not licensed: {status:?}").into()),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! How the answers come about:
//! - [`Client::check`] answers from the cached lease, without network, while the lease is in the
//!   first half of its life; after that it validates with the server and caches the new lease.
//! - When the server cannot be reached (connection error, timeout, 5xx, 429), a cached lease
//!   that verifies for this fingerprint and environment keeps the program licensed until its
//!   `exp` ([`Status::Offline`]). A 4xx answer is authoritative: a revoked license stops at the
//!   next successful contact ([`Status::Invalid`] with the server's code).
//! - The cache remembers the latest time ever seen (the local clock and the server's lease
//!   `iat`); a local clock more than an hour behind it answers [`Status::ClockTampered`].
//! - A corrupt cache file is no cache; a lease that does not verify is dropped (the signature
//!   decides); a lease signed by a key this client does not know refetches `/keys` once, so
//!   key rotation on the server needs nothing from the program.
//!
//! The cache file stores the license key in plain text, with mode 0600 on Unix: it is the
//! customer's own secret on the customer's own machine, kept so `check()` works after a restart
//! without asking for the key again. Whoever controls the machine can also replace the cached
//! public keys; the lease format guards against corruption and casual editing, not against the
//! machine's owner patching the program.
#![warn(missing_docs)]

mod builder;
mod cache;
mod client;
pub mod clock;
mod error;
pub mod fingerprint;
mod http;
mod status;

pub use builder::Builder;
pub use client::{Client, MAX_CLOCK_ROLLBACK};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use license_core::lease::{Claims, LeaseError, PublicKey};
pub use status::{NONCE_MISMATCH, NOT_ACTIVATED, Status, lease_code};
