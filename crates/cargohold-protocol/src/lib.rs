//! Cargo's registry protocol as cargohold speaks it: pure types and rules, no I/O.
//!
//! - [`name`]: crate names, their canonical form and index paths;
//! - [`index`]: index lines (`IndexEntry`), `pubtime`, the `features2` split;
//! - [`manifest`]: a `.crate`'s normalized `Cargo.toml` and the index line it implies;
//! - [`validate`]: the checks cargo applies to an index line, applied before accepting one;
//! - [`tarball`]: safe inspection of `.crate` archives;
//! - [`targets`]: a package's library and binaries, declared or discovered;
//! - [`publish`]: the publish body and its metadata;
//! - [`api`]: JSON bodies of the web API and `config.json`;
//! - [`upstream`]: proxying an upstream registry: download URLs, `Cargo.lock` packages, version policy.

pub mod api;
pub mod index;
pub mod manifest;
pub mod name;
pub mod publish;
pub mod tarball;
pub mod targets;
pub mod upstream;
pub mod validate;

pub use index::{DependencyKind, FeatureMap, IndexDependency, IndexEntry};
pub use manifest::{Manifest, RegistryIdentity};
pub use name::CrateName;
