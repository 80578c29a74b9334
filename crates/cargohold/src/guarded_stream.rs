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
use tokio::time::{Instant, Sleep};
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
/// - **Stall**: writes fail once the client has kept the socket full for the
///   write timeout while taking less than [`MIN_TAKEN_PER_TIMEOUT`] of the
///   answer: without it, a client that asks for a large `.crate` and never reads,
///   or reads a few bytes now and then, holds its connection, and its slot, for
///   ever. Costs nothing while writes go through; a timer exists only while the
///   socket stays full.
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
    stalled: Option<Stall>,
}

/// How much of an answer a client whose socket stays full must take per write
/// timeout: 64 KiB a minute (the default timeout) is about 1 KiB/s, which any
/// real client beats, while one taking a few bytes at a time is cut off.
pub const MIN_TAKEN_PER_TIMEOUT: usize = 64 * 1024;

/// A socket that stays full: its deadline, how much the client has taken since
/// it began, when a write last found the socket full, and whether one has gone
/// through since.
struct Stall {
    deadline: Pin<Box<Sleep>>,
    taken: usize,
    last_full: Instant,
    took_since: bool,
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

    /// Called when a write found the socket full: pending until the stall
    /// outlasts the timeout. Writes that went through, then a pause longer than
    /// the timeout (an answer that ended, a connection idle since) start a new
    /// stall.
    fn poll_stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let now = Instant::now();
        let timeout = self.write_timeout;
        let stall = match &mut self.stalled {
            Some(stall) if !stall.took_since || now.duration_since(stall.last_full) <= timeout => {
                stall
            }
            stalled => stalled.insert(Stall {
                deadline: Box::pin(tokio::time::sleep_until(now + timeout)),
                taken: 0,
                last_full: now,
                took_since: false,
            }),
        };
        stall.last_full = now;
        stall.took_since = false;
        match stall.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the answer, or reads it too slowly",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Counts a write: what the client took during a stall counts towards the
    /// [`MIN_TAKEN_PER_TIMEOUT`] that ends it.
    fn wrote(
        &mut self,
        result: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.writes += 1;
                }
                if let Some(stall) = &mut self.stalled {
                    stall.taken += written;
                    stall.took_since |= written > 0;
                    if stall.taken >= MIN_TAKEN_PER_TIMEOUT {
                        self.stalled = None;
                    }
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(err)) => {
                self.stalled = None;
                Poll::Ready(Err(err))
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

    // A TCP socket's flush does nothing, so it says nothing of a stall either.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// How a client reads: its receive buffer, and `chunk` bytes every `pause`.
    struct Reader {
        buffer: usize,
        chunk: usize,
        pause: Duration,
    }

    /// Writes `size` bytes, through a server socket whose send buffer holds a
    /// few KiB (so the kernel reports it writable again after every few KiB the
    /// client takes), to a client reading as `reader` says, for at most
    /// `within`: how the write ended, and when.
    async fn write_to(
        reader: Reader,
        size: usize,
        within: Duration,
    ) -> Option<(io::Result<()>, Duration)> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        socket2::SockRef::from(&server)
            .set_send_buffer_size(4096)
            .unwrap();
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(reader.buffer)
            .unwrap();
        let limits = ConnectionLimits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(1),
        };
        let mut server = GuardedStream::new(server, limits, Arc::new(Activity::default()));
        let reading = tokio::spawn(async move {
            let mut buffer = vec![0u8; reader.chunk];
            while !matches!(client.read(&mut buffer).await, Ok(0) | Err(_)) {
                tokio::time::sleep(reader.pause).await;
            }
        });
        let started = std::time::Instant::now();
        let answer = vec![7u8; size];
        let written = tokio::time::timeout(within, server.write_all(&answer)).await;
        reading.abort();
        written.ok().map(|result| (result, started.elapsed()))
    }

    #[tokio::test]
    async fn a_client_taking_a_few_kib_a_second_loses_the_answer() {
        // 4 KiB every 100 ms: the socket is writable again and again (without
        // the minimum, this client held the answer for as long as it liked), yet
        // it takes 40 KiB a second, under the 64 KiB per timeout.
        let reader = Reader {
            buffer: 16 * 1024,
            chunk: 4096,
            pause: Duration::from_millis(100),
        };
        let (result, after) = write_to(reader, 4 << 20, Duration::from_secs(10))
            .await
            .expect("the write was still going after 10 s");
        let err = result.expect_err("the whole answer was written");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(after < Duration::from_secs(5), "cut off after {after:?}");
    }

    #[tokio::test]
    async fn a_client_taking_more_than_the_minimum_gets_the_whole_answer() {
        // 16 KiB every 50 ms, 320 KiB a second, with the socket full between
        // reads: 1 MiB takes several write timeouts.
        let reader = Reader {
            buffer: 64 * 1024,
            chunk: 16 * 1024,
            pause: Duration::from_millis(50),
        };
        let (result, after) = write_to(reader, 1 << 20, Duration::from_secs(30))
            .await
            .expect("the write was still going after 30 s");
        result.expect("the whole answer is written");
        assert!(
            after > Duration::from_secs(2),
            "the client was not slow: {after:?}"
        );
    }
}
