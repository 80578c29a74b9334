//! Test plumbing for cargohold: a real server on an ephemeral port ([`TestServer`]), the real
//! `cargo` in an isolated home ([`CargoSandbox`]), `.crate` files built in memory
//! ([`CrateFixture`]), a headless browser ([`Browser`]), an S3-protocol server ([`S3Server`]), a
//! receiver of webhook deliveries ([`WebhookReceiver`]) and RustSec advisory-db checkouts
//! ([`AdvisoryDb`]).

pub mod advisory_db;
pub mod browser;
pub mod fixture;
pub mod receiver;
pub mod s3;
pub mod sandbox;
pub mod server;

pub use advisory_db::{AdvisoryDb, AdvisoryFile};
pub use browser::Browser;
pub use fixture::{CrateFixture, DepRegistry, EntryKind, TarEntry};
pub use receiver::{Received, WebhookReceiver};
pub use s3::S3Server;
pub use sandbox::{CargoOutput, CargoSandbox};
pub use server::{ScratchDatabase, StoredState, TestServer, error_detail};
