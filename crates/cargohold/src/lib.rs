//! cargohold: a self-hosted Cargo registry.
//!
//! Map of the crate (ARCHITECTURE.md walks through publish, download and yank):
//! - [`routes`] lists every URL; [`api`], [`index`] and [`web`] hold thin handlers;
//! - [`ops`] holds the use cases the handlers and the [`cli`] share;
//! - [`db`] (SQL, by table), [`storage`] (blobs) and [`index`] (derived index files) sit below;
//! - [`app`] wires them together; [`server`] runs HTTP; [`config`] loads settings;
//! - [`auth`] checks tokens, [`access`] says who may do what, [`rate_limit`] slows abuse;
//! - [`proxy`] caches an upstream registry; [`virtual_registry`] serves several under one URL;
//! - [`error`] turns failures into cargo's error envelope.

pub mod access;
pub mod api;
pub mod app;
pub mod auth;
pub mod auth_cache;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod counter;
pub mod db;
pub mod error;
pub mod fast_lane;
pub mod guarded_stream;
pub mod index;
pub mod listeners;
pub mod memory_answer;
pub mod metrics;
pub mod ops;
pub mod proxy;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod stop_signal;
pub mod storage;
pub mod virtual_registry;
pub mod web;

pub use app::{App, AppState};
pub use config::Config;
pub use listeners::Listeners;
pub use server::serve;
