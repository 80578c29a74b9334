//! The floor: a bare hyper server (the HTTP stack cargohold is built on, with the same runtime and
//! allocator) that answers index files from a map in memory, with no routing, no registry lookup
//! and no caches to consult. What it reaches is the most cargohold could reach on this stack;
//! the index benchmark runs it beside nginx and cargohold.
//!
//! It runs as a child process, like the other two servers: `cargohold-bench --floor-server DIR`
//! serves every file under DIR at its path, with an ETag, and prints the port it listens on.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

/// Index files by URL path: body and ETag.
type Files = HashMap<String, (Bytes, HeaderValue)>;

const CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";
const LAST_MODIFIED: &str = "Mon, 30 Nov 2026 00:00:00 GMT";

/// Serves `www` until killed.
pub fn serve(www: &Path) -> anyhow::Result<()> {
    let mut files = Files::new();
    load(www, www, &mut files)?;
    let files = Arc::new(files);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("floor listening on {}", listener.local_addr()?.port());
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let files = files.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(files.clone(), request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn answer(
    files: Arc<Files>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some((body, etag)) = files.get(request.uri().path()) else {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return Ok(response);
    };
    let fresh = request.headers().get(header::IF_NONE_MATCH) == Some(etag);
    let mut response = Response::new(Full::new(if fresh { Bytes::new() } else { body.clone() }));
    if fresh {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    } else {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(header::ETAG, etag.clone());
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_static(LAST_MODIFIED),
    );
    Ok(response)
}

fn load(root: &Path, dir: &Path, files: &mut Files) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            load(root, &path, files)?;
            continue;
        }
        let body = Bytes::from(std::fs::read(&path)?);
        let digest = hex::encode(&Sha256::digest(&body)[..16]);
        let etag = HeaderValue::from_str(&format!("\"{digest}\""))?;
        let url = format!("/{}", path.strip_prefix(root)?.display());
        files.insert(url, (body, etag));
    }
    Ok(())
}
