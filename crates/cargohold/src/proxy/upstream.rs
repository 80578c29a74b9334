//! The HTTP client of one upstream sparse registry: index files, `config.json`, `.crate` files.
//!
//! Only URLs derived from the configured index URL (and the `dl` template its
//! `config.json` gives) are ever requested: no request can make cargohold fetch
//! an arbitrary address.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use sha2::{Digest, Sha256};
use url::Url;

/// How long connecting to an upstream may take before it counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an index file or `config.json` may take.
const INDEX_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a `.crate` may take.
const CRATE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the `dl` template read from `config.json` is used before it is read
/// again: a registry may move its downloads (crates.io did, to static.crates.io).
const DL_TEMPLATE_MAX_AGE: Duration = Duration::from_secs(3600);
/// After a download fails, `config.json` is read again, but not more often than
/// this, so an upstream that is down is not asked for it on every failure.
const DL_TEMPLATE_RECHECK: Duration = Duration::from_secs(10);

/// One upstream registry.
#[derive(Debug)]
pub struct Upstream {
    /// The sparse index root, ending in `/`.
    pub index_url: Url,
    client: reqwest::Client,
    token: Option<String>,
    /// The `dl` template from the upstream's `config.json`, and when it was read.
    dl: Mutex<Option<(String, Instant)>>,
    /// When a failed download last made us read `config.json` again.
    rechecked: Mutex<Option<Instant>>,
}

/// The part of an upstream's `config.json` a proxy needs.
#[derive(Debug, serde::Deserialize)]
struct UpstreamConfig {
    dl: String,
}

/// What the upstream said about one index file.
#[derive(Debug)]
pub enum IndexFetch {
    Found {
        body: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    /// The copy we sent validators for is current.
    NotModified,
    /// No such crate (404, 410 or 451, as cargo reads them).
    NotFound,
}

/// Why the upstream could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream {url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the upstream answered {status} for {url}")]
    Status { url: String, status: StatusCode },
    #[error("the upstream refused our credentials ({status}) for {url}; check upstream-token")]
    Refused { url: String, status: StatusCode },
    #[error("the upstream sent something unusable from {url}: {reason}")]
    Invalid { url: String, reason: String },
}

/// How every HTTP client of cargohold starts (upstreams, webhooks): named
/// `cargohold/VERSION` to the servers it asks, and giving up on a connection that
/// takes longer than [`CONNECT_TIMEOUT`]. Each use adds its own redirect policy.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("cargohold/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
}

impl Upstream {
    /// A client for the sparse index at `index_url`, sending `token` if given.
    pub fn new(index_url: Url, token: Option<String>) -> anyhow::Result<Self> {
        let client = client_builder()
            // A few redirects are followed (registries that hand downloads to an object
            // store); where they lead is the upstream's answer, never a request's. The
            // client drops `Authorization` when a redirect leaves the upstream's host.
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Self {
            index_url,
            client,
            token,
            dl: Mutex::new(None),
            rechecked: Mutex::new(None),
        })
    }

    fn get(&self, url: Url, timeout: Duration) -> reqwest::RequestBuilder {
        let request = self.client.get(url).timeout(timeout);
        match &self.token {
            Some(token) => request.header(AUTHORIZATION, token),
            None => request,
        }
    }

    /// Fetches the index file at `path` (e.g. `se/rd/serde`), revalidating the copy
    /// described by `etag` / `last_modified` when given.
    pub async fn index_file(
        &self,
        path: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<IndexFetch, UpstreamError> {
        let url = self.join(path)?;
        let mut request = self.get(url.clone(), INDEX_TIMEOUT);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        } else if let Some(last_modified) = last_modified {
            request = request.header(IF_MODIFIED_SINCE, last_modified);
        }
        let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(IndexFetch::NotModified),
            StatusCode::NOT_FOUND
            | StatusCode::GONE
            | StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => Ok(IndexFetch::NotFound),
            status if status.is_success() => {
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
                let body = response.text().await.map_err(|e| unreachable(&url, &e))?;
                Ok(IndexFetch::Found {
                    body,
                    etag,
                    last_modified,
                })
            }
            status => Err(status_error(&url, status)),
        }
    }

    /// The upstream's `dl` template: the one read from its `config.json` if that is
    /// younger than `max_age`, else read again. When the upstream does not answer,
    /// the template read before, if any, is used.
    async fn dl_template(&self, max_age: Duration) -> Result<String, UpstreamError> {
        let known = self.known_dl();
        if let Some((dl, read_at)) = &known
            && read_at.elapsed() < max_age
        {
            return Ok(dl.clone());
        }
        let dl = match (self.read_dl_template().await, known) {
            (Ok(dl), _) => dl,
            // Counted as read: downloads may still work while the index host is down,
            // and should not each wait for config.json first.
            (Err(err), Some((dl, _))) => {
                tracing::warn!(upstream = %self.shown_url(), error = %err, "could not read the upstream's config.json again; keeping its download location");
                dl
            }
            (Err(err), None) => return Err(err),
        };
        *self.dl.lock().unwrap_or_else(|e| e.into_inner()) = Some((dl.clone(), Instant::now()));
        Ok(dl)
    }

    /// The `dl` template last read, and when.
    fn known_dl(&self) -> Option<(String, Instant)> {
        self.dl.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn read_dl_template(&self) -> Result<String, UpstreamError> {
        let url = self.join("config.json")?;
        let response = self
            .get(url.clone(), INDEX_TIMEOUT)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        if !response.status().is_success() {
            return Err(status_error(&url, response.status()));
        }
        let config: UpstreamConfig = response.json().await.map_err(|e| UpstreamError::Invalid {
            url: shown(&url),
            reason: e.to_string().replace(url.as_str(), &shown(&url)),
        })?;
        Ok(config.dl)
    }

    /// Downloads `name@version` and checks it against the upstream index's
    /// `checksum`; nothing over `max_size` bytes is read. A failed download reads
    /// `config.json` again, and is tried once more when the upstream moved its downloads.
    pub async fn crate_file(
        &self,
        name: &str,
        version: &str,
        checksum: &str,
        max_size: u64,
    ) -> Result<Bytes, UpstreamError> {
        let template = self.dl_template(DL_TEMPLATE_MAX_AGE).await?;
        let err = match self
            .download(&template, name, version, checksum, max_size)
            .await
        {
            Ok(bytes) => return Ok(bytes),
            Err(err) => err,
        };
        // Another request may have found the new place already.
        if let Some((dl, _)) = self.known_dl()
            && dl != template
        {
            return self.download(&dl, name, version, checksum, max_size).await;
        }
        let recheck = {
            let mut rechecked = self.rechecked.lock().unwrap_or_else(|e| e.into_inner());
            let due = rechecked.is_none_or(|at| at.elapsed() >= DL_TEMPLATE_RECHECK);
            if due {
                *rechecked = Some(Instant::now());
            }
            due
        };
        if !recheck {
            return Err(err);
        }
        match self.dl_template(Duration::ZERO).await {
            Ok(moved) if moved != template => {
                tracing::info!(upstream = %self.shown_url(), "the upstream moved its downloads (config.json names a new dl)");
                self.download(&moved, name, version, checksum, max_size)
                    .await
            }
            _ => Err(err),
        }
    }

    async fn download(
        &self,
        template: &str,
        name: &str,
        version: &str,
        checksum: &str,
        max_size: u64,
    ) -> Result<Bytes, UpstreamError> {
        let raw = cargohold_protocol::upstream::download_url(template, name, version, checksum);
        let url = self
            .index_url
            .join(&raw)
            .map_err(|e| UpstreamError::Invalid {
                url: raw.clone(),
                reason: format!("the dl template gives no valid URL: {e}"),
            })?;
        let mut response = self
            .get(url.clone(), CRATE_TIMEOUT)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        if !response.status().is_success() {
            return Err(status_error(&url, response.status()));
        }
        let too_big = || UpstreamError::Invalid {
            url: shown(&url),
            reason: format!("the .crate is larger than {max_size} bytes"),
        };
        let announced = response.content_length();
        if announced.is_some_and(|len| len > max_size) {
            return Err(too_big());
        }
        // Sized by the header, up to what most crates are: the upstream announces it,
        // the bytes have yet to come.
        let mut bytes = Vec::with_capacity(announced.unwrap_or(0).min(1 << 20) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(&url, &e))? {
            if (bytes.len() + chunk.len()) as u64 > max_size {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(checksum) {
            return Err(UpstreamError::Invalid {
                url: shown(&url),
                reason: format!(
                    "the .crate has checksum {actual}, but the upstream index says {checksum}; it was not stored"
                ),
            });
        }
        Ok(Bytes::from(bytes))
    }

    fn join(&self, path: &str) -> Result<Url, UpstreamError> {
        self.index_url
            .join(path)
            .map_err(|e| UpstreamError::Invalid {
                url: format!("{}{path}", self.shown_url()),
                reason: e.to_string(),
            })
    }

    /// The index URL as it may be shown (pages, errors, logs): without the user
    /// name and password a URL may carry for the upstream.
    pub fn shown_url(&self) -> String {
        shown(&self.index_url)
    }
}

/// `url` without its user name and password: an upstream URL may carry
/// credentials, which go to the upstream only, never into a message or a page.
pub fn shown(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn unreachable(url: &Url, err: &reqwest::Error) -> UpstreamError {
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reason = format!("{reason}: {cause}");
        source = cause.source();
    }
    // reqwest names the URL it was sending to, credentials included.
    let reason = reason.replace(url.as_str(), &shown(url));
    UpstreamError::Unreachable {
        url: shown(url),
        reason,
    }
}

fn status_error(url: &Url, status: StatusCode) -> UpstreamError {
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        UpstreamError::Refused {
            url: shown(url),
            status,
        }
    } else {
        UpstreamError::Status {
            url: shown(url),
            status,
        }
    }
}
