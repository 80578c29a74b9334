//! Running the HTTP server: middleware, background work, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use futures::future::{BoxFuture, Either, Ready, ready};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;
use tower::Service;
use tower::ServiceBuilder;
use tower_http::ServiceBuilderExt;
use tower_http::request_id::{MakeRequestId, RequestId};
use tower_http::timeout::TimeoutBody;
use tower_http::trace::TraceLayer;
use tracing::{Level, Span};

use crate::app::{AppState, Registry};
use crate::connections::{self, ConnectionLimits, OpenConnections};
use crate::listeners::Listeners;
use crate::memory_answer::HotHeaders;
use crate::routes;

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in
/// flight finish, writes pending download counts and closes the database.
pub async fn serve(
    listeners: Listeners,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Installed before the first request, so every request is counted.
    crate::metrics::handle();
    let flusher = tokio::spawn(flush_downloads_periodically(app.clone()));
    let follower = tokio::spawn(follow_index_changes(app.clone()));
    let evictor = tokio::spawn(evict_periodically(app.clone()));
    // Git writers are told to stop rather than aborted: a pass cut off would leave
    // its `git gc` running, without the writer lock, beside the next writer.
    let stop_git_writers = CancellationToken::new();
    let git_writers: Vec<_> = app
        .registries()
        .filter(|r| r.git.is_some())
        .map(|r| {
            tokio::spawn(write_git_index(
                app.clone(),
                r.clone(),
                stop_git_writers.clone(),
            ))
        })
        .collect();
    // A node without webhooks leaves the deliveries to the nodes configured with them,
    // and only prunes their history (left behind when every webhook is removed).
    let webhook_sender = if app.registries().any(|r| !r.webhooks.is_empty()) {
        tokio::spawn(crate::ops::webhooks::deliver(app.clone()))
    } else {
        tokio::spawn(crate::ops::webhooks::prune_periodically(app.clone()))
    };

    let middleware = ServiceBuilder::new()
        .set_x_request_id(RequestCounter::default())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request.id = %id,
                    )
                })
                .on_request(())
                .on_response(log_response)
                // `log_response` logs server errors; tower-http's own line would repeat it.
                .on_failure(()),
        )
        .propagate_x_request_id()
        .layer(axum::middleware::from_fn(crate::metrics::track));
    let routes = routes::routes(&app);
    let router = routes
        .hot
        .merge(routes.observed.layer(middleware))
        .with_state(app.clone());

    let limits = &app.config.limits;
    let connection_limits = ConnectionLimits {
        max_connections: limits.max_connections,
        header_read_timeout: Duration::from_secs(limits.header_read_timeout_secs.max(1)),
        write_timeout: Duration::from_secs(limits.write_timeout_secs.max(1)),
    };
    let body_timeout = Duration::from_secs(limits.body_read_timeout_secs.max(1));
    let dispatching = app.clone();
    let make_dispatch = move |peer| Dispatch {
        app: dispatching.clone(),
        router: router.clone(),
        peer,
        body_timeout,
    };
    let open = Arc::new(OpenConnections::new(&listeners));
    // A second `serve` of the same app (none in cargohold) would report the first one's.
    let _ = app.stats.open_connections.set(open.clone());
    connections::serve(
        listeners,
        connection_limits,
        app.clone(),
        make_dispatch,
        open,
        shutdown,
    )
    .await?;

    flusher.abort();
    follower.abort();
    evictor.abort();
    stop_git_writers.cancel();
    if !git_writers.is_empty() {
        tracing::info!("shutting down: letting the git index writers finish their pass");
    }
    for writer in git_writers {
        let _ = writer.await;
    }
    // A delivery cut off here is sent again once its claim runs out.
    webhook_sender.abort();
    // A change acknowledged just before the stop reaches the git index now, not at
    // the next start.
    for registry in app.registries().filter(|r| r.git.is_some()) {
        if let Err(err) = crate::index::git::sync(&app, registry).await {
            tracing::error!(registry = %registry.name, error = ?err, "could not write the git index at shutdown");
        }
    }
    if let Err(err) = app.flush_downloads().await {
        tracing::error!(error = ?err, "could not write download counts at shutdown");
    }
    app.db.close().await;
    Ok(())
}

/// One connection's requests: a `GET` of an index file or `.crate` goes straight
/// to its handler (`routes::hot_route`), or is answered on the spot when memory
/// holds the answer (`routes::answer_hot_from_memory`: no future to allocate);
/// everything else goes through the router with
/// the peer address (`ConnectInfo`), which feeds rate limits and the audit log,
/// and a body that fails with 408 when the client stops sending it.
/// Skipping the router's matching, parameter decoding and extensions measured
/// about 15% more index requests per second (docs/performance.md).
#[derive(Clone)]
struct Dispatch {
    app: AppState,
    router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
}

impl Service<hyper::Request<Incoming>> for Dispatch {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Either<
        Ready<Result<Self::Response, Infallible>>,
        BoxFuture<'static, Result<Self::Response, Infallible>>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: hyper::Request<Incoming>) -> Self::Future {
        if let Some(route) = routes::hot_route(request.method(), request.uri().path()) {
            let presented = HotHeaders::from_headers(request.headers());
            if let Some(answer) = routes::answer_hot_from_memory(&self.app, route, &presented) {
                return Either::Left(ready(Ok(answer.into_response())));
            }
            let app = self.app.clone();
            let peer = Some(self.peer.ip());
            return Either::Right(Box::pin(async move {
                let route = routes::hot_route(request.method(), request.uri().path())
                    .expect("recognised above");
                Ok(routes::serve_hot(&app, route, request.headers(), peer).await)
            }));
        }
        let timeout = self.body_timeout;
        let mut request = request.map(|body| Body::new(TimeoutBody::new(timeout, body)));
        request.extensions_mut().insert(ConnectInfo(self.peer));
        Either::Right(Box::pin(self.router.call(request)))
    }
}

/// Logs every finished request that passed through the observed routes (the hot
/// index and download paths are not logged per request; their failures are).
fn log_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        // Said on purpose (not ready, shutting down, over the connection cap), and
        // a cause the server did not choose is logged where it is met.
        tracing::event!(Level::WARN, status, latency_ms, "unavailable");
    } else if response.status().is_server_error() {
        tracing::event!(Level::ERROR, status, latency_ms, "failed");
    } else {
        tracing::event!(Level::INFO, status, latency_ms, "answered");
    }
}

/// Numbers requests within this process for the `x-request-id` header.
#[derive(Debug, Clone, Default)]
struct RequestCounter(Arc<AtomicU64>);

impl MakeRequestId for RequestCounter {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&n.to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// Keeps the index caches in step with changes other processes commit.
async fn follow_index_changes(app: AppState) {
    let period = Duration::from_millis(app.config.index_poll_millis.max(10));
    let mut seen = match crate::db::index_files::current_generation(app.db.read()).await {
        Ok(generation) => generation,
        Err(err) => {
            tracing::error!(error = ?err, "cannot follow index changes; caching no index files");
            for registry in app.registries() {
                registry.index_cache.disable();
            }
            return;
        }
    };
    // On PostgreSQL, other nodes' commits are announced at once; polling stays as the
    // safety net (and is all there is on SQLite).
    let mut notices = crate::db::index_files::ChangeNotices::subscribe(app.db.read()).await;
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = notices.next() => {}
        }
        match app.forget_changed_index_files(seen).await {
            Ok(latest) => seen = latest,
            Err(err) => {
                tracing::warn!(error = ?err, "could not look for index changes; will retry")
            }
        }
    }
}

/// The single writer of a registry's git index in this process: catches up at
/// start (changes committed while no writer ran), then whenever a change is made
/// here or `follow_index_changes` sees one from another process; after a failure,
/// again after a growing pause. It returns between passes once `stop` is
/// cancelled: a pass under way (commits, then perhaps `git gc`) is finished first.
async fn write_git_index(app: AppState, registry: Arc<Registry>, stop: CancellationToken) {
    let Some(git) = &registry.git else { return };
    let mut failures: u32 = 0;
    loop {
        match crate::index::git::sync(&app, &registry).await {
            Ok(synced) => {
                failures = 0;
                if synced.commits > 0 {
                    tracing::debug!(registry = %registry.name, commits = synced.commits, "git index written");
                }
            }
            Err(err) => {
                failures += 1;
                tracing::warn!(registry = %registry.name, error = ?err, "could not write the git index; will retry");
            }
        }
        // 1, 2, 4 … 32 s after a failure: a stale lock left by a killed writer clears
        // after a few seconds.
        let pause = async {
            if failures == 0 {
                std::future::pending().await
            } else {
                tokio::time::sleep(Duration::from_secs(1 << (failures - 1).min(5))).await;
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = git.woken() => {}
            () = pause => {}
        }
    }
}

async fn flush_downloads_periodically(app: AppState) {
    let period = Duration::from_secs(app.config.download_flush_seconds.max(1));
    let mut interval = tokio::time::interval(period);
    interval.tick().await;
    loop {
        interval.tick().await;
        if let Err(err) = app.flush_downloads().await {
            tracing::warn!(error = ?err, "could not write download counts; will retry");
        }
    }
}

/// Evicts from proxy caches what their `cache-max-size` / `cache-max-age-days` say must go, hourly.
async fn evict_periodically(app: AppState) {
    const PERIOD_SECS: u64 = 3600;
    let mut interval = tokio::time::interval(Duration::from_secs(PERIOD_SECS));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // Of several nodes, the one holding the lease evicts; it keeps it while it lives,
        // and another takes over within a period after it stops.
        let now = crate::clock::now();
        let until = now + (PERIOD_SECS as i64) * 5 / 6;
        match crate::db::leases::claim(app.db.write(), "evict", &app.node_id, now, until).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "could not claim the eviction lease; will retry");
                continue;
            }
        }
        // Revalidation leases are released when done; one outlives its node only if the node stopped.
        let prefix = crate::proxy::REVALIDATION_LEASE;
        if let Err(err) = crate::db::leases::delete_expired(app.db.write(), prefix, now).await {
            tracing::warn!(error = %err, "could not delete expired revalidation leases; will retry");
        }
        for registry in app.registries() {
            let Some(proxy) = &registry.proxy else {
                continue;
            };
            if proxy.eviction.max_size == 0 && proxy.eviction.max_age_secs == 0 {
                continue;
            }
            match crate::ops::evict::evict(&app, registry, proxy.eviction, false).await {
                Ok(evicted) if !evicted.versions.is_empty() => tracing::info!(
                    registry = %registry.name,
                    versions = evicted.versions.len(),
                    bytes = evicted.bytes,
                    "evicted cached crates"
                ),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(registry = %registry.name, error = %err, "cache eviction failed; will retry")
                }
            }
        }
    }
}

/// SIGTERM and Ctrl-C, caught from the moment this is made: a signal that arrives
/// after `serve` says it listens but before the server first waits for one still
/// stops it gracefully instead of killing the process.
pub struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts catching SIGTERM and Ctrl-C.
    pub fn catch() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next SIGTERM or Ctrl-C.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {},
            _ = self.interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves when the server is to stop taking connections: at the first Ctrl-C or
/// SIGTERM, or with `shutdown-delay-secs`, that long after it or at a second signal.
/// Meanwhile `/ready` answers 503 and everything else is served as before, so a
/// load balancer stops routing requests here before the listener closes.
pub async fn shutdown_signal(app: AppState, mut signals: StopSignals) {
    signals.recv().await;
    app.shutting_down.store(true, Ordering::Relaxed);
    let delay = app.config.shutdown_delay_secs;
    if delay > 0 {
        tracing::info!(
            delay_secs = delay,
            "shutting down in {delay} s: /ready answers 503 meanwhile, requests are served as before; \
             a second SIGTERM or Ctrl-C stops at once"
        );
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(delay)) => {},
            () = signals.recv() => {},
        }
    }
    tracing::info!("shutting down: finishing requests in flight");
}
