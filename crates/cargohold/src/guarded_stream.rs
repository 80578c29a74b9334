//! A connection's socket with its deadlines, and the count of its requests that
//! tells an idle connection from a busy one.
//!
//! A client that dribbles its headers in (slowloris) or holds a connection open
//! without sending anything loses it after `limits.header-read-timeout-secs` (at
//! most half as long again: the check is one timer per connection, not one per
//! request, which the hottest requests would pay for). One that stops reading an
//! answer loses the connection after `limits.write-timeout-secs`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tower::Service;

use crate::connections::ConnectionLimits;

/// What a connection's requests are doing: counted by its service ([`Counted`]),
/// read by its stream ([`GuardedStream`]) to tell an idle connection from a busy one.
#[derive(Debug, Default)]
pub struct Activity {
    started: AtomicU64,
    /// Requests whose answer future is done (its body may still be on its way).
    finished: AtomicU64,
}

/// A connection's service, counting its requests as they start and finish.
#[derive(Clone)]
pub struct Counted<S> {
    pub inner: S,
    pub activity: Arc<Activity>,
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
pub struct CountedFuture<F> {
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
pub struct GuardedStream {
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
    pub fn new(stream: TcpStream, limits: ConnectionLimits, activity: Arc<Activity>) -> Self {
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

    /// The socket, to move to another thread's runtime (its timers stay behind).
    pub fn into_inner(self) -> TcpStream {
        self.stream
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
