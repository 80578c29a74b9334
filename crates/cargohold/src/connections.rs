//! Accepting connections: a cap on how many are open at once, a deadline for each
//! request head (which also closes idle keep-alive connections), and a graceful end
//! that lets requests in flight finish.
//!
//! A client that dribbles its headers in (slowloris) or holds a connection open
//! without sending anything loses it after `limits.header-read-timeout-secs`; one
//! that stalls in the middle of a body gets 408 after `limits.body-read-timeout-secs`
//! (the router applies that one). One that stops reading an answer loses the
//! connection after `limits.write-timeout-secs`. Past `limits.max-connections`, a
//! new connection is answered with a short `503` and `Retry-After` and closed, so
//! clients see why.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Sleep;
use tower::{Service, ServiceExt};

/// What the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Time a client has to send a whole request head, counted from the first
    /// read of it (for a kept-alive connection, from the end of the last answer).
    pub header_read_timeout: Duration,
    /// Time an answer may wait on a client that does not read it.
    pub write_timeout: Duration,
}

/// Sent, whole, to a connection over the cap.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 58\r\n\r\n\
cargohold has too many open connections; try again soon.\r\n";

/// Serves every connection accepted on `listener` with a service made by
/// `make_service` from the peer's address, until `shutdown` resolves; then stops
/// accepting and waits for the open connections to finish what they started.
pub async fn serve<M, S>(
    listener: TcpListener,
    limits: ConnectionLimits,
    make_service: M,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    M: Fn(SocketAddr) -> S,
    S: Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    // Dropping the sender tells every connection to finish its current request and close.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max, "connection refused: too many open connections");
            tokio::spawn(turn_away(stream));
            continue;
        };
        // Responses are written whole; waiting for ACKs of small writes (Nagle) only adds latency.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(
            make_service(peer)
                .map_request(|request: hyper::Request<Incoming>| request.map(Body::new)),
        );
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        let stream = StallGuard::new(stream, limits.write_timeout);
        tokio::spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }

    drop(listener);
    drop(stop_rx);
    drop(stop_tx);
    // Every connection gives its slot back when it ends.
    let _all = slots.acquire_many(max as u32).await;
    Ok(())
}

/// A connection whose writes fail once the client has left them unread (the
/// socket full) for `timeout`: without it, a client that asks for a large
/// `.crate` and never reads holds its connection, and its slot, for ever. Costs
/// nothing while writes go through; a timer exists only during a stall.
struct StallGuard {
    stream: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl StallGuard {
    fn new(stream: TcpStream, timeout: Duration) -> Self {
        Self {
            stream,
            timeout,
            stalled: None,
        }
    }

    /// Called when a write could not proceed: pending until the stall outlasts the timeout.
    fn poll_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let stall = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_stall(cx),
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.progressed(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.progressed(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_flush(cx);
        this.progressed(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Answers a connection over the cap with [`BUSY`]. The client's request (if it
/// sent one yet) is read and dropped first, and the socket is half-closed before
/// it is dropped, so the kernel does not reset the connection before the client
/// has read the answer.
async fn turn_away(mut stream: TcpStream) {
    let work = async {
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut sink)).await;
        stream.write_all(BUSY).await?;
        stream.shutdown().await?;
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), work).await;
}

/// Waits a little after an accept error: out of file descriptors (EMFILE) or
/// memory, accepting again at once would spin.
async fn accept_failed(err: &std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    tracing::error!(error = %err, "could not accept a connection; trying again in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
