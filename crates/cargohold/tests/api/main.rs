//! HTTP-level tests against a real server: every rejection path, the index protocol,
//! concurrency. One binary, one module per area.

mod access;
mod audit;
mod auth;
mod check;
mod check_remedy;
mod concurrency;
mod crate_page;
mod delete;
mod envelope;
mod fake_upstream;
mod faults;
mod gc;
mod git_index;
mod http1;
mod import_shadowing;
mod index;
mod lanes;
mod limits;
mod odd_manifests;
mod one_url;
mod operations;
mod owners;
mod proxy;
mod publish;
mod publish_rejections;
mod refusals;
mod s3;
mod search;
mod security;
mod tokens;
mod upload;
mod web;
mod web_yank;
mod webhooks;
mod yank;
