//! The HTTP/1.1 fast lane: a connection's plain `GET`s that memory can answer in
//! full (`config.json`, an index file, its 304 or 404, a `.crate` up to 1 MiB) are
//! parsed with httparse and answered here, every answer in what was read going
//! out in one write. What memory lacks but can hold is read in first
//! ([`AnswerFromMemory::warm_for_get`]), so a cold cache keeps connections here.
//!
//! cargo over `http://` offers HTTP/2 on every request (`Connection: Upgrade,
//! HTTP2-Settings` and `Upgrade: h2c`); the lane declines it the way hyper does,
//! by answering in HTTP/1.1.
//!
//! The first request it does not answer, and anything unusual (another method,
//! HTTP/1.0, a body, any other `Connection` or `Upgrade`, a head it cannot parse,
//! an HTTP/2 preface), hands the connection to hyper for good, with every byte not yet
//! answered: hyper then reads that request as if it had been first. So the lane
//! never has to get bodies, framing, upgrades or errors right; hyper does, as it
//! does for everything else. For a 304 of the sparse index, hyper's own work per
//! request was most of what cargohold spent (docs/performance.md).

use std::cell::Cell;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::memory_answer::{HotHeaders, MemoryAnswer};
use crate::stop_signal::StopListener;

/// Headers a request may carry and still be answered here (hyper's own limit is 100).
const MAX_HEADERS: usize = 32;

/// A request head longer than this is hyper's to read (or to refuse).
const MAX_HEAD: usize = 16 * 1024;

/// Bodies up to this size are copied behind their head, so both go out in one write.
const COPIED_BODY: usize = 64 * 1024;

/// Answers to pipelined requests are written once they reach this size, and an
/// output buffer that grew past it is not kept for the next ones.
const OUTPUT_KEPT: usize = 256 * 1024;

/// What memory can answer for a `GET` of `path` (implemented by `App` in `routes.rs`).
/// The lane passes only paths in origin form with no query and no percent-escape.
pub trait AnswerFromMemory: Send + Sync + 'static {
    fn answer_get(&self, path: &str, presented: &HotHeaders<'_>) -> Option<MemoryAnswer>;

    /// Fills the caches [`AnswerFromMemory::answer_get`] reads for `path`, when
    /// that is all it lacks (an index file not yet read from the database, a
    /// private registry's reader not yet checked); false when memory will not
    /// answer it anyway.
    fn warm_for_get(
        &self,
        path: &str,
        authorization: Option<&[u8]>,
    ) -> impl Future<Output = bool> + Send;

    /// Told each time a connection leaves the lane for hyper.
    fn handed_over(&self) {}
}

/// How a connection left the lane.
#[derive(Debug)]
pub enum Outcome {
    /// The client closed it, it failed, or the server is stopping.
    Closed,
    /// Hyper takes over, reading these bytes first.
    HandOver(BytesMut),
}

/// Answers `stream`'s requests while memory can; see the module's documentation.
pub async fn serve<S, A>(stream: &mut S, memory: &A, stop: &StopListener) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
    A: AnswerFromMemory + ?Sized,
{
    let mut input = BytesMut::with_capacity(4096);
    let mut output = Vec::new();
    loop {
        let mut hand_over = false;
        let mut warmed = false;
        let date = http_date_now();
        while !input.is_empty() {
            match answer_one(&input, memory, &date, &mut output) {
                Step::Answered { length, big_body } => {
                    input.advance(length);
                    warmed = false;
                    let flushed = match big_body {
                        Some(body) => {
                            write(stream, &mut output).await.is_ok()
                                && stream.write_all(&body).await.is_ok()
                        }
                        None if output.len() >= OUTPUT_KEPT => {
                            write(stream, &mut output).await.is_ok()
                        }
                        None => true,
                    };
                    if !flushed {
                        return Outcome::Closed;
                    }
                }
                Step::Partial => break,
                // Once per request: a second miss means memory will not hold it.
                Step::NotInMemory {
                    path,
                    authorization,
                } if !warmed => {
                    warmed = true;
                    let warm = memory.warm_for_get(&path, authorization.as_deref());
                    if !Box::pin(warm).await {
                        hand_over = true;
                        break;
                    }
                }
                Step::NotInMemory { .. } | Step::NotHere => {
                    hand_over = true;
                    break;
                }
            }
        }
        if write(stream, &mut output).await.is_err() {
            return Outcome::Closed;
        }
        if hand_over || input.len() >= MAX_HEAD {
            return Outcome::HandOver(input);
        }
        // Stopping (the signal is raised): close between requests; half a head
        // goes to hyper, which finishes that request and closes. Checked before
        // every read, so a client that never pauses cannot hold shutdown up.
        if stop.is_stopping() {
            return stopped(input);
        }
        input.reserve(4096);
        tokio::select! {
            biased;
            read = stream.read_buf(&mut input) => match read {
                Ok(0) | Err(_) => return Outcome::Closed,
                Ok(_) => {}
            },
            () = stop.stopped() => return stopped(input),
        }
    }
}

fn stopped(input: BytesMut) -> Outcome {
    if input.is_empty() {
        Outcome::Closed
    } else {
        Outcome::HandOver(input)
    }
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, output: &mut Vec<u8>) -> std::io::Result<()> {
    if output.is_empty() {
        return Ok(());
    }
    let result = stream.write_all(output).await;
    output.clear();
    if output.capacity() > OUTPUT_KEPT {
        *output = Vec::new();
    }
    result
}

/// What the lane did with the first request in its input.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Answered into the output, which is to be followed by `big_body` when there is one.
    Answered {
        length: usize,
        big_body: Option<bytes::Bytes>,
    },
    /// The head is not all here yet.
    Partial,
    /// A plain `GET` of this path that memory cannot answer (yet).
    NotInMemory {
        path: String,
        authorization: Option<Vec<u8>>,
    },
    /// Hyper's to answer.
    NotHere,
}

fn answer_one<A: AnswerFromMemory + ?Sized>(
    input: &[u8],
    memory: &A,
    date: &[u8],
    output: &mut Vec<u8>,
) -> Step {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let length = match request.parse(input) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Step::Partial,
        // Malformed, too many headers, another protocol: hyper answers or refuses.
        Err(_) => return Step::NotHere,
    };
    if request.method != Some("GET") || request.version != Some(1) {
        return Step::NotHere;
    }
    // Origin form only, without a query or percent-escapes (the router decodes
    // those): the paths of index files and `.crate`s. One pass over the bytes.
    let Some(path) = request
        .path
        .filter(|p| p.starts_with('/') && memchr::memchr2(b'?', b'%', p.as_bytes()).is_none())
    else {
        return Step::NotHere;
    };
    let mut presented = HotHeaders::default();
    for header in request.headers.iter() {
        let name = header.name.as_bytes();
        if name.eq_ignore_ascii_case(b"if-none-match") {
            presented.if_none_match.get_or_insert(header.value);
        } else if name.eq_ignore_ascii_case(b"if-modified-since") {
            presented.if_modified_since.get_or_insert(header.value);
        } else if name.eq_ignore_ascii_case(b"authorization") {
            presented.authorization.get_or_insert(header.value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            if !only_upgrade_tokens(header.value) {
                return Step::NotHere;
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            // cargo over `http://` offers HTTP/2 this way on every request; hyper
            // declines by answering in HTTP/1.1, and so does the lane.
            if !header.value.trim_ascii().eq_ignore_ascii_case(b"h2c") {
                return Step::NotHere;
            }
        } else if FRAMING.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            return Step::NotHere;
        }
    }
    let Some(answer) = memory.answer_get(path, &presented) else {
        return Step::NotInMemory {
            path: path.to_owned(),
            authorization: presented.authorization.map(<[u8]>::to_vec),
        };
    };
    answer.write_head(date, output);
    if answer.body.len() <= COPIED_BODY {
        output.extend_from_slice(&answer.body);
        Step::Answered {
            length,
            big_body: None,
        }
    } else {
        Step::Answered {
            length,
            big_body: Some(answer.body),
        }
    }
}

/// Headers that change how a request is read or how the connection goes on
/// (`Connection` and `Upgrade` are looked at apart).
const FRAMING: [&[u8]; 3] = [b"content-length", b"transfer-encoding", b"expect"];

/// Whether a `Connection` header names only what an h2c upgrade offer does
/// (`Upgrade, HTTP2-Settings`, as cargo sends it) or `keep-alive`: nothing that
/// closes the connection or makes another header hop-by-hop.
fn only_upgrade_tokens(value: &[u8]) -> bool {
    value.split(|&b| b == b',').all(|token| {
        let token = token.trim_ascii();
        token.is_empty()
            || [&b"upgrade"[..], b"http2-settings", b"keep-alive"]
                .iter()
                .any(|known| token.eq_ignore_ascii_case(known))
    })
}

thread_local! {
    /// The `date` of this second, formatted once (hyper keeps its own the same way).
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((0, [0; 29])) };
}

/// Now as an IMF-fixdate (`Mon, 30 Nov 2026 17:00:00 GMT`).
fn http_date_now() -> [u8; 29] {
    let now = SystemTime::now();
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cached| {
        let (at, text) = cached.get();
        if at == seconds {
            return text;
        }
        let mut text = [0; 29];
        let _ = write!(&mut text[..], "{}", httpdate::HttpDate::from(now));
        cached.set((seconds, text));
        text
    })
}

/// A connection handed over to hyper: the bytes the lane read and did not answer,
/// then the rest of the stream.
pub struct Prefixed<S> {
    prefix: BytesMut,
    stream: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: BytesMut, stream: S) -> Self {
        Self { prefix, stream }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        if this.prefix.is_empty() {
            // Hyper has its own buffer from here on.
            this.prefix = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use bytes::Bytes;

    /// Memory that knows one path, `/known`, and answers a 304 when asked with `"v1"`.
    struct OnePath;

    impl AnswerFromMemory for OnePath {
        fn answer_get(&self, path: &str, presented: &HotHeaders<'_>) -> Option<MemoryAnswer> {
            (path == "/known").then(|| {
                let fresh = presented.if_none_match == Some(b"\"v1\"".as_slice());
                MemoryAnswer {
                    status: if fresh {
                        StatusCode::NOT_MODIFIED
                    } else {
                        StatusCode::OK
                    },
                    content_type: None,
                    cache_control: None,
                    etag: Some(axum::http::HeaderValue::from_static("\"v1\"")),
                    last_modified: None,
                    body: if fresh {
                        Bytes::new()
                    } else {
                        Bytes::from_static(b"hello")
                    },
                }
            })
        }

        async fn warm_for_get(&self, _path: &str, _authorization: Option<&[u8]>) -> bool {
            false
        }
    }

    fn step(input: &str) -> (Step, String) {
        let mut output = Vec::new();
        let step = answer_one(
            input.as_bytes(),
            &OnePath,
            b"Mon, 30 Nov 2026 17:00:00 GMT",
            &mut output,
        );
        (step, String::from_utf8(output).unwrap())
    }

    /// A request of `length` bytes answered whole into the output.
    fn answered(length: usize) -> Step {
        Step::Answered {
            length,
            big_body: None,
        }
    }

    #[test]
    fn a_known_get_is_answered_with_head_and_body() {
        let request = "GET /known HTTP/1.1\r\nHost: x\r\n\r\n";
        let (step, output) = step(request);
        assert_eq!(step, answered(request.len()));
        assert!(output.starts_with("HTTP/1.1 200 OK\r\netag: \"v1\"\r\ncontent-length: 5\r\n"));
        assert!(output.ends_with("\r\n\r\nhello"));
    }

    #[test]
    fn validators_are_read_whatever_their_case() {
        let (_, output) = step("GET /known HTTP/1.1\r\nif-NONE-match: \"v1\"\r\n\r\n");
        assert!(output.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(output.ends_with("\r\n\r\n"));
    }

    #[test]
    fn only_the_first_request_of_a_pipeline_is_consumed_per_step() {
        let first = "GET /known HTTP/1.1\r\n\r\n";
        let (step, _) = step(&format!("{first}GET /known HTTP/1.1\r\n"));
        assert_eq!(step, answered(first.len()));
    }

    #[test]
    fn cargos_offer_of_http2_is_declined_by_answering() {
        // What cargo (through curl) sends on every request over `http://`.
        let request = "GET /known HTTP/1.1\r\nHost: x\r\n\
                       Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
                       HTTP2-Settings: AAMAAABkAAQAAQAAAAIAAAAA\r\nIf-None-Match: \"v1\"\r\n\r\n";
        let (step, output) = step(request);
        assert_eq!(step, answered(request.len()));
        assert!(
            output.starts_with("HTTP/1.1 304 Not Modified\r\n"),
            "{output}"
        );
        assert!(step_answers(
            "GET /known HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
        ));
    }

    fn step_answers(request: &str) -> bool {
        matches!(step(request).0, Step::Answered { .. })
    }

    #[test]
    fn half_a_head_waits_for_more() {
        assert_eq!(step("GET /known HTTP/1.1\r\nHost: x\r\n").0, Step::Partial);
    }

    #[test]
    fn anything_unusual_goes_to_hyper_untouched() {
        assert_eq!(
            step("GET /elsewhere HTTP/1.1\r\n\r\n").0,
            Step::NotInMemory {
                path: "/elsewhere".into(),
                authorization: None
            }
        );
        for request in [
            "HEAD /known HTTP/1.1\r\n\r\n",
            "POST /known HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET /known HTTP/1.0\r\n\r\n",
            "GET /known?x=1 HTTP/1.1\r\n\r\n",
            "GET /%6Bnown HTTP/1.1\r\n\r\n",
            "GET http://host/known HTTP/1.1\r\n\r\n",
            "GET /known HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "GET /known HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /known HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET /known HTTP/1.1\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n",
            "GET /known HTTP/1.1\r\nConnection: Upgrade, Authorization\r\nUpgrade: h2c\r\n\r\n",
            "GET /known HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET /known HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /known HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            let (step, output) = step(request);
            assert_eq!(step, Step::NotHere, "{request:?}");
            assert!(output.is_empty(), "{request:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: y\r\n")).collect();
        assert_eq!(
            step(&format!("GET /known HTTP/1.1\r\n{many}\r\n")).0,
            Step::NotHere
        );
    }

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let date = http_date_now();
        let text = std::str::from_utf8(&date).unwrap();
        assert!(text.ends_with(" GMT"), "{text}");
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
    }

    #[tokio::test]
    async fn a_handed_over_connection_reads_the_unanswered_bytes_first() {
        let (client, server) = tokio::io::duplex(64);
        let mut prefixed = Prefixed::new(BytesMut::from(&b"GET /"[..]), server);
        drop(client);
        let mut read = Vec::new();
        prefixed.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, b"GET /");
    }
}
