//! Test plumbing for cargohold: a real server on an ephemeral port ([`TestServer`]), the real
//! `cargo` in an isolated home ([`CargoSandbox`]), and `.crate` files built in memory ([`CrateFixture`]).

pub mod browser;
pub mod fixture;
pub mod sandbox;
pub mod server;

pub use browser::Browser;
pub use fixture::{CrateFixture, DepRegistry, EntryKind, TarEntry};
pub use sandbox::{CargoOutput, CargoSandbox};
pub use server::{StoredState, TestServer, error_detail};
