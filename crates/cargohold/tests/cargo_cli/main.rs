//! The real `cargo` against a real server: every cargo command a registry user runs.
//! Slower than the HTTP tests, so a binary of its own.

mod advisories;
mod agreement;
mod commands;
mod delete;
mod git_index;
mod one_url;
mod private;
mod proxy;
mod publish_matrix;
mod resolution;
mod upstream_names;
mod webhooks;
