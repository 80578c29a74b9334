//! Prometheus metrics at `GET /metrics`.
//!
//! Two sources, so the hot paths stay as cheap as they are: requests to the observed routes
//! are counted by route template, method and status with a latency histogram, through the
//! `metrics` crate ([`track`], a middleware); the index and download paths keep plain atomic
//! counters ([`crate::app::Stats`], the proxies' own), which [`serve`] reads at scrape time
//! together with the cache sizes and the database pools.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_process::Collector;

use crate::app::{App, AppState};
use crate::counter::Counter;
use crate::db::{Pool, on_pool};

/// Latency buckets, in seconds: from a cached page to a slow publish.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed the first time it is needed. Every app in the
/// process (tests start several) records into this one.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("the latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics shows only what cargohold reads itself");
        }
        describe_counter!(
            "cargohold_http_requests_total",
            "Requests to the routes outside the index and download paths, by route template, method and status."
        );
        describe_histogram!(
            "cargohold_http_request_duration_seconds",
            "How long those requests took to answer, by route template."
        );
        process_collector().describe();
        handle
    })
}

/// The standard `process_*` metrics (CPU, resident memory, open files, start time).
fn process_collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR.get_or_init(Collector::default)
}

/// Middleware of the observed routes: counts each request by route template (never the
/// raw path, so crate names do not become labels) and records how long it took.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!("cargohold_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    histogram!("cargohold_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: the Prometheus text format.
pub async fn serve(State(app): State<AppState>) -> Response {
    let handle = handle();
    process_collector().collect();
    let mut text = handle.render();
    write_app_metrics(&mut text, &app);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Appends what `app` counts itself. Written here rather than through the process-wide
/// recorder, so each app (tests start several in one process) shows its own figures.
fn write_app_metrics(text: &mut String, app: &App) {
    let stats = &app.stats;
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(text, "{name}{labels} {value}");
        }
    };
    let labels = |pairs: &[(&str, &str)]| {
        let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{{{}}}", inner.join(","))
    };
    let count = |value: &Counter| vec![(String::new(), value.get() as f64)];
    family(
        "cargohold_build_info",
        "gauge",
        "The running cargohold's version, always 1.",
        &[(labels(&[("version", env!("CARGO_PKG_VERSION"))]), 1.0)],
    );
    family(
        "cargohold_index_responses_total",
        "counter",
        "Sparse index file requests by result.",
        &[
            (
                labels(&[("result", "served")]),
                stats.index_served.get() as f64,
            ),
            (
                labels(&[("result", "not_modified")]),
                stats.index_not_modified.get() as f64,
            ),
            (
                labels(&[("result", "not_found")]),
                stats.index_not_found.get() as f64,
            ),
        ],
    );
    family(
        "cargohold_index_cache_hits_total",
        "counter",
        "Local index files answered from memory.",
        &count(&stats.index_cache_hits),
    );
    family(
        "cargohold_index_cache_misses_total",
        "counter",
        "Local index files read from the database.",
        &count(&stats.index_cache_misses),
    );
    family(
        "cargohold_downloads_total",
        "counter",
        "Crate files served.",
        &count(&stats.downloads),
    );
    family(
        "cargohold_publishes_total",
        "counter",
        "Versions published or uploaded.",
        &count(&stats.publishes),
    );
    family(
        "cargohold_fast_lane_hand_overs_total",
        "counter",
        "HTTP/1.1 connections passed to the general server at a request memory could not answer.",
        &count(&stats.fast_lane_hand_overs),
    );
    let open: Vec<(String, f64)> = stats
        .open_connections
        .get()
        .into_iter()
        .flat_map(|open| open.by_thread())
        .map(|(thread, n)| (labels(&[("thread", thread)]), n as f64))
        .collect();
    family(
        "cargohold_connections_open",
        "gauge",
        "Connections open, by the thread serving them: a per-core lane (cpu0, cpu1, …), the one shared lane, or the general threads (connections hyper serves).",
        &open,
    );
    family(
        "cargohold_download_cache_bytes",
        "gauge",
        "Bytes of crate files held in memory.",
        &[(String::new(), app.download_cache.blobs.bytes() as f64)],
    );
    let caches: Vec<(String, f64)> = app
        .registries()
        .map(|r| {
            (
                labels(&[("registry", &r.name)]),
                r.index_cache.bytes() as f64,
            )
        })
        .collect();
    family(
        "cargohold_index_cache_bytes",
        "gauge",
        "Bytes of index files held in memory, by registry.",
        &caches,
    );
    let mut proxy_events = Vec::new();
    for registry in app.registries() {
        if let Some(proxy) = &registry.proxy {
            let s = proxy.stats.snapshot();
            for (event, value) in [
                ("index_hit", s.index_hits),
                ("index_fetch", s.index_fetches),
                ("crate_hit", s.crate_hits),
                ("crate_fetch", s.crate_fetches),
                ("upstream_error", s.upstream_errors),
                ("stale_served", s.stale_served),
            ] {
                let l = labels(&[("registry", &registry.name), ("event", event)]);
                proxy_events.push((l, value as f64));
            }
        }
    }
    family(
        "cargohold_proxy_events_total",
        "counter",
        "Proxy registry cache hits, upstream fetches and failures.",
        &proxy_events,
    );
    let webhooks = &app.webhooks;
    family(
        "cargohold_webhook_deliveries_total",
        "counter",
        "Webhook delivery attempts by outcome: delivered (a 2xx answer), failed (to be tried again), given_up.",
        &[
            (
                labels(&[("outcome", "delivered")]),
                webhooks.delivered.get() as f64,
            ),
            (
                labels(&[("outcome", "failed")]),
                webhooks.failed.get() as f64,
            ),
            (
                labels(&[("outcome", "given_up")]),
                webhooks.given_up.get() as f64,
            ),
        ],
    );
    let mut pools = Vec::new();
    for (role, pool) in [("read", app.db.read()), ("write", app.db.write())] {
        let (size, idle) = pool_sizes(pool);
        pools.push((labels(&[("pool", role), ("state", "idle")]), idle as f64));
        let in_use = (size as usize).saturating_sub(idle);
        pools.push((
            labels(&[("pool", role), ("state", "in_use")]),
            in_use as f64,
        ));
    }
    family(
        "cargohold_db_pool_connections",
        "gauge",
        "Database connections by pool and state.",
        &pools,
    );
}

/// Open connections of `pool`, and how many of them are idle.
fn pool_sizes(pool: &Pool) -> (u32, usize) {
    on_pool!(pool, |p| (p.size(), p.num_idle()))
}
