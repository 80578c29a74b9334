//! Answers that memory holds in full: an index file, its 304 or its 404, a cached `.crate`.
//!
//! The hot routes build a [`MemoryAnswer`] when nothing needs awaiting. It leaves
//! either as a hyper response ([`MemoryAnswer::into_response`]) or as HTTP/1.1
//! bytes written by the fast lane ([`MemoryAnswer::write_http1`], `fast_lane.rs`).
//! Both come from the same fields, so both lanes send the same headers.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// The request headers a hot route reads, as sent (the first of each): the
/// validators of a conditional `GET`, and the token of a private registry's reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HotHeaders<'a> {
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub authorization: Option<&'a [u8]>,
}

impl<'a> HotHeaders<'a> {
    /// These headers among hyper's parsed ones.
    pub fn from_headers(headers: &'a axum::http::HeaderMap) -> Self {
        let get = |name| headers.get(name).map(HeaderValue::as_bytes);
        Self {
            if_none_match: get(header::IF_NONE_MATCH),
            if_modified_since: get(header::IF_MODIFIED_SINCE),
            authorization: get(header::AUTHORIZATION),
        }
    }
}

/// A complete answer with the few headers the hot routes send.
#[derive(Debug, Clone)]
pub struct MemoryAnswer {
    /// 200, 304 or 404.
    pub status: StatusCode,
    pub content_type: Option<&'static str>,
    pub cache_control: Option<&'static str>,
    pub etag: Option<HeaderValue>,
    pub last_modified: Option<HeaderValue>,
    /// Empty for a 304.
    pub body: Bytes,
}

impl MemoryAnswer {
    /// The answer for hyper (HTTP/2, and HTTP/1.1 connections the fast lane handed over).
    pub fn into_response(self) -> Response {
        // A 304's empty body needs no box (a body from `Bytes` takes one).
        let mut response = if self.status == StatusCode::NOT_MODIFIED {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut response = Response::new(Body::from(self.body));
            *response.status_mut() = self.status;
            response
        };
        let headers = response.headers_mut();
        if let Some(content_type) = self.content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(cache_control) = self.cache_control {
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            );
        }
        if let Some(etag) = self.etag {
            headers.insert(header::ETAG, etag);
        }
        if let Some(last_modified) = self.last_modified {
            headers.insert(header::LAST_MODIFIED, last_modified);
        }
        response
    }

    /// The answer's head as HTTP/1.1 bytes, with `date` (an IMF-fixdate), as hyper
    /// writes it: lowercase names, and a `content-length` except on a 304.
    pub fn write_head(&self, date: &[u8], out: &mut Vec<u8>) {
        match self.status {
            StatusCode::OK => out.extend_from_slice(b"HTTP/1.1 200 OK\r\n"),
            StatusCode::NOT_MODIFIED => out.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\n"),
            StatusCode::NOT_FOUND => out.extend_from_slice(b"HTTP/1.1 404 Not Found\r\n"),
            status => {
                // Not built by the hot routes; written correctly all the same.
                out.extend_from_slice(b"HTTP/1.1 ");
                out.extend_from_slice(status.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        let mut field = |name: &[u8], value: &[u8]| {
            out.extend_from_slice(name);
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        };
        if let Some(content_type) = self.content_type {
            field(b"content-type: ", content_type.as_bytes());
        }
        if let Some(cache_control) = self.cache_control {
            field(b"cache-control: ", cache_control.as_bytes());
        }
        if let Some(etag) = &self.etag {
            field(b"etag: ", etag.as_bytes());
        }
        if let Some(last_modified) = &self.last_modified {
            field(b"last-modified: ", last_modified.as_bytes());
        }
        if self.status != StatusCode::NOT_MODIFIED {
            field(
                b"content-length: ",
                itoa::Buffer::new().format(self.body.len()).as_bytes(),
            );
        }
        field(b"date: ", date);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_file(status: StatusCode, body: &'static str) -> MemoryAnswer {
        MemoryAnswer {
            status,
            content_type: (status == StatusCode::OK).then_some("text/plain; charset=utf-8"),
            cache_control: Some("public, max-age=0, must-revalidate"),
            etag: Some(HeaderValue::from_static("\"abc\"")),
            last_modified: Some(HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT")),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    fn head(answer: &MemoryAnswer) -> String {
        let mut out = Vec::new();
        answer.write_head(b"Mon, 30 Nov 2026 17:00:00 GMT", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_full_answer_states_its_length_and_every_header() {
        assert_eq!(
            head(&index_file(StatusCode::OK, "{\"name\":\"a\"}\n")),
            "HTTP/1.1 200 OK\r\n\
             content-type: text/plain; charset=utf-8\r\n\
             cache-control: public, max-age=0, must-revalidate\r\n\
             etag: \"abc\"\r\n\
             last-modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             content-length: 13\r\n\
             date: Mon, 30 Nov 2026 17:00:00 GMT\r\n\r\n"
        );
    }

    #[test]
    fn a_304_has_no_length_and_no_body() {
        assert_eq!(
            head(&index_file(StatusCode::NOT_MODIFIED, "")),
            "HTTP/1.1 304 Not Modified\r\n\
             cache-control: public, max-age=0, must-revalidate\r\n\
             etag: \"abc\"\r\n\
             last-modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             date: Mon, 30 Nov 2026 17:00:00 GMT\r\n\r\n"
        );
    }

    #[test]
    fn other_statuses_are_written_with_their_reason() {
        let answer = MemoryAnswer {
            status: StatusCode::GONE,
            content_type: None,
            cache_control: None,
            etag: None,
            last_modified: None,
            body: Bytes::new(),
        };
        assert!(head(&answer).starts_with("HTTP/1.1 410 Gone\r\ncontent-length: 0\r\n"));
    }

    #[test]
    fn the_response_for_hyper_carries_the_same_headers() {
        let response = index_file(StatusCode::OK, "x\n").into_response();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(headers[header::ETAG], "\"abc\"");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=0, must-revalidate"
        );
        assert_eq!(
            headers[header::LAST_MODIFIED],
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        let not_modified = index_file(StatusCode::NOT_MODIFIED, "").into_response();
        assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
        assert!(not_modified.headers().get(header::CONTENT_TYPE).is_none());
    }
}
