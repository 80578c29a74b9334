//! Accepting connections and serving them: a cap on how many are open at once,
//! threads that own the connections arriving on their CPU, and a graceful end that
//! lets requests in flight finish.
//!
//! Each listening socket (`listeners.rs`) has a lane: the loop that accepts from
//! it and runs the fast lane (`fast_lane.rs`) of its connections. With one socket
//! (`connection-threads = "shared"`, the default) the lane is a task on the
//! general runtime. With per-core sockets, each lane is a thread of its own,
//! pinned to its socket's CPU, with a single-threaded runtime: meant to keep a
//! connection's wake-ups on one core, it has measured no faster yet
//! (docs/performance.md).
//!
//! A lane thread only moves bytes between sockets and memory. Whatever reads the
//! database (filling a cache for the fast lane, and every connection the fast lane
//! hands to hyper) runs on the general runtime, the one [`serve`] is called on:
//! no database or upstream connection belongs to a runtime that ends before it.
//!
//! When one lane has many more connections than the least busy one (a client
//! whose threads all connected from one CPU), it passes new ones on to that lane.
//!
//! Deadlines are kept by [`GuardedStream`]; a body that stalls gets 408 from the
//! router (`limits.body-read-timeout-secs`). Past `limits.max-connections`, a new
//! connection is answered with a short `503` and `Retry-After` and closed, so
//! clients see why.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

use crate::fast_lane::{self, AnswerFromMemory, Outcome, Prefixed};
use crate::guarded_stream::{Activity, Counted, GuardedStream};
use crate::listeners::{self, Listeners};
use crate::memory_answer::{HotHeaders, MemoryAnswer};
use crate::stop_signal::{StopListener, StopSignal};

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

/// Serves every connection accepted on `listeners` with a service made by
/// `make_service` from the peer's address, until `shutdown` resolves; then stops
/// accepting and waits for the open connections to finish what they started.
pub async fn serve<M, S, A>(
    listeners: Listeners,
    limits: ConnectionLimits,
    memory: Arc<A>,
    make_service: M,
    open: Arc<OpenConnections>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    M: Fn(SocketAddr) -> S + Send + Sync + 'static,
    S: HandedOverService,
    A: AnswerFromMemory,
{
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let sockets = listeners.into_sockets();
    let (inboxes, receivers): (Vec<_>, Vec<_>) =
        sockets.iter().map(|_| unbounded_channel()).unzip();
    let shared = Arc::new(Shared {
        limits,
        slots: Arc::new(Semaphore::new(max)),
        builder: http_builder(),
        stop: StopSignal::new(),
        memory: OnGeneral {
            memory,
            general: Handle::current(),
        },
        make_service,
        open,
        inboxes,
    });
    // Raised at shutdown: the lanes stop accepting.
    let accepting = StopSignal::new();
    // Raised once every connection has ended: the lane threads end.
    let finished = StopSignal::new();
    // Should this future be dropped half way (its runtime shutting down), the lane
    // threads end too, instead of serving on without it.
    let _raised_when_dropped =
        RaiseOnDrop([accepting.clone(), shared.stop.clone(), finished.clone()]);

    // Everything that can fail is done before the first thread starts.
    let mut lanes = Vec::with_capacity(sockets.len());
    for (listening, inbox) in sockets.into_iter().zip(receivers) {
        // A per-core lane's own runtime, with the CPU it is pinned to.
        let pinned = match listening.cpu {
            Some(cpu) => Some((
                cpu,
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
            )),
            None => None,
        };
        // Registered with the runtime that polls it.
        let entered = pinned.as_ref().map(|(_, runtime)| runtime.enter());
        let listener = TcpListener::from_std(listening.socket)?;
        drop(entered);
        lanes.push((pinned, listener, inbox));
    }
    let mut tasks = Vec::new();
    let mut threads = Vec::new();
    for (lane, (pinned, listener, inbox)) in lanes.into_iter().enumerate() {
        let accept = accept(shared.clone(), lane, listener, inbox, accepting.listen());
        let Some((cpu, runtime)) = pinned else {
            tasks.push(tokio::spawn(accept));
            continue;
        };
        let until_finished = finished.listen();
        let thread = std::thread::Builder::new()
            .name(format!("cargohold-cpu{cpu}"))
            .spawn(move || {
                if let Err(err) = listeners::pin_this_thread(cpu) {
                    tracing::warn!(cpu, error = %err, "could not pin a connection thread to its CPU; it runs unpinned");
                }
                runtime.block_on(async move {
                    accept.await;
                    // The lane's connections run on this runtime until they end.
                    until_finished.stopped().await;
                });
            });
        match thread {
            Ok(thread) => threads.push(thread),
            // The lanes already started end as the signals are raised on return.
            Err(err) => return Err(err),
        }
    }

    shutdown.await;
    accepting.stop();
    for task in tasks {
        let _ = task.await;
    }
    shared.stop.stop();
    // Every connection gives its slot back when it ends.
    let _all = shared.slots.acquire_many(max as u32).await;
    finished.stop();
    let _ = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await;
    Ok(())
}

/// Raises its signals when dropped.
struct RaiseOnDrop<const N: usize>([Arc<StopSignal>; N]);

impl<const N: usize> Drop for RaiseOnDrop<N> {
    fn drop(&mut self) {
        for signal in &self.0 {
            signal.stop();
        }
    }
}

/// The service hyper runs on a connection the fast lane hands over.
pub trait HandedOverService:
    Service<
        hyper::Request<Incoming>,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send + Unpin + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> HandedOverService for S where
    S: Service<
            hyper::Request<Incoming>,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send + Unpin + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// What every lane of one server shares.
struct Shared<M, A> {
    limits: ConnectionLimits,
    /// One permit per connection that may be open.
    slots: Arc<Semaphore>,
    builder: Builder<TokioExecutor>,
    /// Raised, it tells every connection to finish its current request and close.
    stop: Arc<StopSignal>,
    memory: OnGeneral<A>,
    make_service: M,
    open: Arc<OpenConnections>,
    /// Where each lane takes connections passed on by another.
    inboxes: Vec<UnboundedSender<Passed>>,
}

/// hyper's server for connections the fast lane hands over.
fn http_builder() -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    // The head deadline is kept by `GuardedStream`, with one timer per connection;
    // hyper's own would arm and drop a timer for every request.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// A connection one lane accepted and passed on to a less busy one.
struct Passed {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    /// Already counted for the lane it goes to.
    counted: Tally,
}

/// Accepts connections on `listener`, and those other lanes pass on, until
/// `accepting` is raised; each is served on the runtime this runs on.
async fn accept<M, S, A>(
    shared: Arc<Shared<M, A>>,
    lane: usize,
    listener: TcpListener,
    mut inbox: UnboundedReceiver<Passed>,
    accepting: StopListener,
) where
    M: Fn(SocketAddr) -> S + Send + Sync + 'static,
    S: HandedOverService,
    A: AnswerFromMemory,
{
    loop {
        let (stream, peer, slot, counted) = tokio::select! {
            biased;
            () = accepting.stopped() => break,
            Some(passed) = inbox.recv() => match TcpStream::from_std(passed.stream) {
                Ok(stream) => (stream, passed.peer, passed.slot, passed.counted),
                Err(err) => {
                    tracing::debug!(error = %err, "could not take over a connection from another lane");
                    continue;
                }
            },
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        accept_failed(&err).await;
                        continue;
                    }
                };
                let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
                    let max = shared.limits.max_connections;
                    tracing::warn!(%peer, max, "connection refused: too many open connections");
                    tokio::spawn(turn_away(stream));
                    continue;
                };
                match shared.open.less_busy_lane(lane) {
                    Some(other) => {
                        pass_on(&shared, other, stream, peer, slot);
                        continue;
                    }
                    None => (stream, peer, slot, shared.open.count(lane)),
                }
            }
        };
        tokio::spawn(connection(shared.clone(), stream, peer, slot, counted));
    }
}

/// Sends a just-accepted connection to lane `to`.
fn pass_on<M, A>(
    shared: &Shared<M, A>,
    to: usize,
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
) {
    let stream = match stream.into_std() {
        Ok(stream) => stream,
        Err(err) => {
            tracing::debug!(%peer, error = %err, "could not pass a connection on to another lane");
            return;
        }
    };
    let passed = Passed {
        stream,
        peer,
        slot,
        counted: shared.open.count(to),
    };
    // Fails only while the server stops, when that lane no longer accepts: the connection closes.
    let _ = shared.inboxes[to].send(passed);
}

/// Serves one connection: the fast lane on this thread, then, from the first
/// request the fast lane does not answer, hyper on the general runtime.
async fn connection<M, S, A>(
    shared: Arc<Shared<M, A>>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    in_lane: Tally,
) where
    M: Fn(SocketAddr) -> S + Send + Sync + 'static,
    S: HandedOverService,
    A: AnswerFromMemory,
{
    // Responses are written whole; waiting for ACKs of small writes (Nagle) only adds latency.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
    let activity = Arc::new(Activity::default());
    let stop = shared.stop.listen();
    let mut stream = GuardedStream::new(stream, shared.limits, activity.clone());
    // Plain GETs that memory answers skip hyper, until the first request that does not.
    let unanswered = match fast_lane::serve(&mut stream, &shared.memory, &stop).await {
        Outcome::Closed => return,
        Outcome::HandOver(unanswered) => unanswered,
    };
    drop(in_lane);
    shared.memory.handed_over();
    let stream = match stream.into_inner().into_std() {
        Ok(stream) => stream,
        Err(err) => {
            tracing::debug!(%peer, error = %err, "could not hand a connection over");
            return;
        }
    };
    let in_general = shared.open.count(shared.open.general());
    let service = TowerToHyperService::new(Counted {
        inner: (shared.make_service)(peer),
        activity: activity.clone(),
    });
    let general = shared.memory.general.clone();
    general.spawn(async move {
        let _counted = in_general;
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(%peer, error = %err, "could not take over a handed-over connection");
                return drop(slot);
            }
        };
        let stream = GuardedStream::new(stream, shared.limits, activity);
        let io = TokioIo::new(Prefixed::new(unanswered, stream));
        let connection = shared.builder.serve_connection(io, service);
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

/// The server's memory, with what fills it run on the general runtime: a lane
/// thread's runtime owns no database connection.
struct OnGeneral<A> {
    memory: Arc<A>,
    general: Handle,
}

impl<A: AnswerFromMemory> AnswerFromMemory for OnGeneral<A> {
    fn answer_get(&self, path: &str, presented: &HotHeaders<'_>) -> Option<MemoryAnswer> {
        self.memory.answer_get(path, presented)
    }

    fn warm_for_get(
        &self,
        path: &str,
        authorization: Option<&[u8]>,
    ) -> impl Future<Output = bool> + Send {
        let memory = self.memory.clone();
        let path = path.to_owned();
        let authorization = authorization.map(<[u8]>::to_vec);
        let warming = self
            .general
            .spawn(async move { memory.warm_for_get(&path, authorization.as_deref()).await });
        async move { warming.await.unwrap_or(false) }
    }

    fn handed_over(&self) {
        self.memory.handed_over();
    }
}

/// Connections open, by the lane serving them (`cpu0`, `cpu1`, …, or `shared`)
/// and on the general runtime (`general`: handed over by the fast lane), for
/// `/metrics` and for passing connections on.
#[derive(Debug)]
pub struct OpenConnections {
    names: Box<[String]>,
    counts: Box<[AtomicUsize]>,
}

impl OpenConnections {
    /// Counts for the lanes of `listeners`, and the general runtime's.
    pub fn new(listeners: &Listeners) -> Self {
        let lanes = listeners.cpus().map(|cpu| match cpu {
            Some(cpu) => format!("cpu{cpu}"),
            None => "shared".to_owned(),
        });
        Self::named(lanes.chain(["general".to_owned()]).collect())
    }

    /// Counts for `names`, the last of them the general runtime's.
    fn named(names: Box<[String]>) -> Self {
        let counts = names.iter().map(|_| AtomicUsize::new(0)).collect();
        Self { names, counts }
    }

    /// Each lane's connections (then the general runtime's), by name.
    pub fn by_thread(&self) -> impl Iterator<Item = (&str, usize)> {
        self.names
            .iter()
            .zip(&self.counts)
            .map(|(name, count)| (name.as_str(), count.load(Ordering::Relaxed)))
    }

    fn general(&self) -> usize {
        self.counts.len() - 1
    }

    /// Counts one connection for `index` until the returned value is dropped.
    fn count(self: &Arc<Self>, index: usize) -> Tally {
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        Tally {
            open: self.clone(),
            index,
        }
    }

    /// The least busy lane, when `lane` serves well more connections than it:
    /// more than two more, and more than a sixteenth of all lanes' connections more.
    fn less_busy_lane(&self, lane: usize) -> Option<usize> {
        let lanes = &self.counts[..self.general()];
        let load = |count: &AtomicUsize| count.load(Ordering::Relaxed);
        let (least, fewest) = lanes.iter().map(load).enumerate().min_by_key(|&(_, n)| n)?;
        let total: usize = lanes.iter().map(load).sum();
        (load(&lanes[lane]) > fewest + 2 + total / 16).then_some(least)
    }
}

/// One connection counted in [`OpenConnections`] while it lives.
struct Tally {
    open: Arc<OpenConnections>,
    index: usize,
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.open.counts[self.index].fetch_sub(1, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(n: usize) -> Arc<OpenConnections> {
        let names = (0..n)
            .map(|cpu| format!("cpu{cpu}"))
            .chain(["general".to_owned()])
            .collect();
        Arc::new(OpenConnections::named(names))
    }

    /// Where each of `count` connections arriving on lane 0 ends up.
    fn arrive_on_first_lane(open: &Arc<OpenConnections>, count: usize) -> Vec<Tally> {
        (0..count)
            .map(|_| {
                let lane = open.less_busy_lane(0).unwrap_or(0);
                open.count(lane)
            })
            .collect()
    }

    #[test]
    fn connections_arriving_on_one_lane_are_spread_until_the_lanes_are_close() {
        let open = lanes(2);
        let _held = arrive_on_first_lane(&open, 64);
        let counts: Vec<usize> = open.by_thread().map(|(_, n)| n).collect();
        assert_eq!(counts.iter().sum::<usize>(), 64);
        assert!(counts[0].abs_diff(counts[1]) <= 2 + 64 / 16, "{counts:?}");
        assert_eq!(counts[2], 0, "nothing counted as general");
    }

    #[test]
    fn a_lane_keeps_its_first_connections_and_passes_none_when_alone() {
        let open = lanes(2);
        let _held = arrive_on_first_lane(&open, 3);
        assert_eq!(open.by_thread().next(), Some(("cpu0", 3)));
        let alone = lanes(1);
        let _held = arrive_on_first_lane(&alone, 100);
        assert_eq!(alone.by_thread().next(), Some(("cpu0", 100)));
    }

    #[test]
    fn a_closed_connection_is_no_longer_counted() {
        let open = lanes(2);
        let tally = open.count(1);
        assert_eq!(open.by_thread().nth(1), Some(("cpu1", 1)));
        drop(tally);
        assert_eq!(open.by_thread().nth(1), Some(("cpu1", 0)));
    }
}
