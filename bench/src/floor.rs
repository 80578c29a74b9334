//! The floors: servers that answer index files from a map in memory, with no routing, no registry
//! lookup and no caches to consult, to show how much of a gap to nginx lies below cargohold.
//!
//! - The **hyper floor** is the HTTP stack cargohold is built on (hyper, tokio, mimalloc): what it
//!   reaches is the most cargohold could reach without leaving hyper.
//! - The **tokio floor** leaves hyper too: a loop per connection that parses request heads with
//!   httparse and writes canned answer heads straight to the socket, on the same runtime and
//!   allocator. It is a measuring device, not an HTTP server (no bodies, no chunking, no
//!   timeouts); what it reaches is about the most any server on tokio could reach here.
//!
//! Each runs as a child process, like nginx and cargohold: `cargohold-bench --floor-server DIR
//! [--floor-stack tokio]` serves every file under DIR at its path, with an ETag, and prints the
//! port it listens on.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Index files by URL path: body and ETag.
type Files = HashMap<String, (Bytes, HeaderValue)>;

const CACHE_CONTROL: &str = "public, max-age=0, must-revalidate";
const LAST_MODIFIED: &str = "Mon, 30 Nov 2026 00:00:00 GMT";

/// The software a floor server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    Hyper,
    Tokio,
}

/// Serves `www` until killed.
pub fn serve(www: &Path, stack: Stack) -> anyhow::Result<()> {
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
            match stack {
                Stack::Hyper => tokio::spawn(async move {
                    let service = service_fn(move |request| answer(files.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }),
                Stack::Tokio => tokio::spawn(answer_without_hyper(files, stream)),
            };
        }
    })
}

/// The tokio floor's connection: answers every request head in what was read, in one write.
async fn answer_without_hyper(files: Arc<Files>, mut stream: TcpStream) {
    let mut input = bytes::BytesMut::with_capacity(8192);
    let mut output = Vec::with_capacity(8192);
    loop {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            let length = match request.parse(&input) {
                Ok(httparse::Status::Complete(length)) => length,
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            };
            write_answer(&files, &request, &mut output);
            let _ = input.split_to(length);
        }
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        input.reserve(4096);
        match stream.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The same answer as `answer`, head and body, as bytes (`date` fixed: nobody reads it).
fn write_answer(files: &Files, request: &httparse::Request<'_, '_>, output: &mut Vec<u8>) {
    let Some((body, etag)) = request.path.and_then(|path| files.get(path)) else {
        output.extend_from_slice(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    let fresh = request
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("if-none-match") && h.value == etag.as_bytes());
    output.extend_from_slice(if fresh {
        b"HTTP/1.1 304 Not Modified\r\n".as_slice()
    } else {
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n".as_slice()
    });
    for (name, value) in [
        ("cache-control", CACHE_CONTROL.as_bytes()),
        ("etag", etag.as_bytes()),
        ("last-modified", LAST_MODIFIED.as_bytes()),
        ("date", LAST_MODIFIED.as_bytes()),
    ] {
        output.extend_from_slice(name.as_bytes());
        output.extend_from_slice(b": ");
        output.extend_from_slice(value);
        output.extend_from_slice(b"\r\n");
    }
    if !fresh {
        // Written in place: the floor allocates nothing per answer.
        let _ = write!(output, "content-length: {}\r\n", body.len());
    }
    output.extend_from_slice(b"\r\n");
    if !fresh {
        output.extend_from_slice(body);
    }
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
