//! Accepting connections: a cap on how many are open at once, a deadline for each
//! request head (which also closes idle keep-alive connections), and a graceful end
//! that lets requests in flight finish.
//!
//! A client that dribbles its headers in (slowloris) or holds a connection open
//! without sending anything loses it after `limits.header-read-timeout-secs` (at
//! most half as long again: the check is one timer per connection, not one per
//! request, which the hottest requests would pay for); one
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tower::Service;

use crate::fast_lane::{self, AnswerFromMemory, Outcome, Prefixed};
use crate::stop_signal::StopSignal;

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
pub async fn serve<M, S, A>(
    listener: TcpListener,
    limits: ConnectionLimits,
    memory: Arc<A>,
    make_service: M,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    M: Fn(SocketAddr) -> S,
    S: Service<
            hyper::Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + Unpin + 'static,
    A: AnswerFromMemory,
{
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let mut builder = Builder::new(TokioExecutor::new());
    // The head deadline is kept by `GuardedStream`, with one timer per connection;
    // hyper's own would arm and drop a timer for every request.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    // Raised, it tells every connection to finish its current request and close.
    let stop = StopSignal::new();
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
        let activity = Arc::new(Activity::default());
        let service = TowerToHyperService::new(Counted {
            inner: make_service(peer),
            activity: activity.clone(),
        });
        let builder = builder.clone();
        let stop = stop.listen();
        let mut stream = GuardedStream::new(stream, limits, activity);
        let memory = memory.clone();
        tokio::spawn(async move {
            // Plain GETs that memory answers skip hyper, until the first request that does not.
            let unanswered = match fast_lane::serve(&mut stream, &*memory, &stop).await {
                Outcome::Closed => return drop(slot),
                Outcome::HandOver(unanswered) => {
                    memory.handed_over();
                    unanswered
                }
            };
            let io = TokioIo::new(Prefixed::new(unanswered, stream));
            let connection = builder.serve_connection(io, service);
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.stopped() => {
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
    stop.stop();
    // Every connection gives its slot back when it ends.
    let _all = slots.acquire_many(max as u32).await;
    Ok(())
}

/// What a connection's requests are doing: counted by its service ([`Counted`]),
/// read by its stream ([`GuardedStream`]) to tell an idle connection from a busy one.
#[derive(Debug, Default)]
struct Activity {
    started: AtomicU64,
    /// Requests whose answer future is done (its body may still be on its way).
    finished: AtomicU64,
}

/// A connection's service, counting its requests as they start and finish.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, R> Service<R> for Counted<S>
where
    S: Service<R>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.activity.started.fetch_add(1, Ordering::Relaxed);
        CountedFuture {
            inner: self.inner.call(request),
            activity: self.activity.clone(),
        }
    }
}

/// A request's answer; counted as finished when it is dropped, done or not.
struct CountedFuture<F> {
    inner: F,
    activity: Arc<Activity>,
}

impl<F: Future + Unpin> Future for CountedFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<F> Drop for CountedFuture<F> {
    fn drop(&mut self) {
        self.activity.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// A connection's socket with its two deadlines.
///
/// - **Idle**: while no request is in flight, a client must start one within
///   the head timeout, or the connection is closed. A timer fires every half
///   timeout; after two firings in a row with nothing started, finished or
///   written, and nothing in flight, reads fail. A request head that takes as
///   long (slowloris) starts nothing, so it is cut off the same way. One timer
///   per connection, reset twice per timeout, instead of one per request.
/// - **Stall**: writes fail once the client has left them unread (the socket
///   full) for the write timeout: without it, a client that asks for a large
///   `.crate` and never reads holds its connection, and its slot, for ever.
///   Costs nothing while writes go through; a timer exists only during a stall.
struct GuardedStream {
    stream: TcpStream,
    activity: Arc<Activity>,
    idle_period: Duration,
    idle_timer: Pin<Box<Sleep>>,
    /// Requests started and finished and writes made, at the last firing.
    seen: (u64, u64, u64),
    /// Firings in a row that found the connection idle and unchanged.
    quiet: u8,
    writes: u64,
    write_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl GuardedStream {
    fn new(stream: TcpStream, limits: ConnectionLimits, activity: Arc<Activity>) -> Self {
        let idle_period = limits.header_read_timeout / 2;
        Self {
            stream,
            activity,
            idle_period,
            idle_timer: Box::pin(tokio::time::sleep(idle_period)),
            seen: (0, 0, 0),
            quiet: 0,
            writes: 0,
            write_timeout: limits.write_timeout,
            stalled: None,
        }
    }

    /// Whether the connection has been idle for the whole head timeout; while it
    /// has not, the timer is armed to wake the task at its next firing.
    fn idle_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        while self.idle_timer.as_mut().poll(cx).is_ready() {
            let now = (
                self.activity.started.load(Ordering::Relaxed),
                self.activity.finished.load(Ordering::Relaxed),
                self.writes,
            );
            let idle = now.0 == now.1;
            self.quiet = if idle && now == self.seen {
                self.quiet + 1
            } else {
                0
            };
            self.seen = now;
            if self.quiet >= 2 {
                return true;
            }
            let next = tokio::time::Instant::now() + self.idle_period;
            self.idle_timer.as_mut().reset(next);
        }
        false
    }

    /// Called when a write could not proceed: pending until the stall outlasts the timeout.
    fn poll_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.write_timeout;
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

    /// [`GuardedStream::progressed`] for a write, counted when it wrote anything.
    fn wrote(
        &mut self,
        result: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(1..)) = result {
            self.writes += 1;
        }
        self.progressed(result, cx)
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

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if result.is_pending() && this.idle_too_long(cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request head within the header timeout",
            )));
        }
        result
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(result, cx)
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
