//! Webhooks: changes to a local registry's crates, POSTed as JSON to the URLs its
//! `[[registries.webhooks]]` tables name.
//!
//! A change records its deliveries in the outbox (`db/webhooks.rs`) inside its own
//! transaction ([`enqueue`], only for the webhooks that want the event, so a registry
//! without any pays nothing), then wakes this process's sender ([`Queued::wake`]).
//! Every `serve` node runs a sender ([`deliver`]); it claims due deliveries through the
//! database, so each is sent by one node at a time, and deletes a delivery once its
//! receiver answered 2xx. Anything else is tried again later, each wait twice the one
//! before (`webhook-retry-seconds` first, an hour at most), until a day has passed since
//! the change. Delivery is at least once: a node that stops between the answer and the
//! delete leaves the delivery to be sent again, under the same `X-Cargohold-Delivery`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::app::{App, AppState, Registry};
use crate::clock;
use crate::config::WebhookConfig;
use crate::counter::Counter;
use crate::db::{self, Tx, audit::AuditEvent, webhooks::DeliveryRow};
use crate::error::AppResult;

/// How long a receiver has to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a node keeps a delivery it claimed before another may take it: more than
/// one request may take, so only a node that stopped half-way loses its claims.
const CLAIM_SECS: i64 = 30;
/// How often a node looks for deliveries it was not woken for: changes made through
/// other nodes or `cargohold` commands, and claims that ran out.
const POLL: Duration = Duration::from_secs(3);
/// Deliveries claimed (and sent, to different webhooks) at once.
const BATCH: i64 = 16;
/// The longest wait between two attempts.
const MAX_RETRY_DELAY_SECS: u64 = 3600;
/// A delivery still failing this long after its change is given up.
const GIVE_UP_AFTER_SECS: i64 = 24 * 3600;
/// A delivery is given up after this many attempts, however young.
const MAX_ATTEMPTS: i64 = 40;
/// How long a node leaves a delivery to a webhook its configuration lacks (another
/// node's configuration may be newer) before looking at it again.
const UNKNOWN_WEBHOOK_HOLD_SECS: i64 = 300;

/// The process's side of webhooks: the sender's wake-up call, and what it counted for `/metrics`.
#[derive(Debug, Default)]
pub struct Webhooks {
    wake: Arc<Notify>,
    /// Deliveries a receiver took (2xx).
    pub delivered: Counter,
    /// Attempts that failed and will be made again.
    pub failed: Counter,
    /// Deliveries dropped after their last failed attempt.
    pub given_up: Counter,
}

impl Webhooks {
    /// The webhooks of one registry, which wake this process's sender.
    pub fn subscriptions(&self, webhooks: Vec<WebhookConfig>) -> Subscriptions {
        Subscriptions {
            webhooks,
            wake: self.wake.clone(),
        }
    }
}

/// A registry's webhooks.
#[derive(Default)]
pub struct Subscriptions {
    webhooks: Vec<WebhookConfig>,
    wake: Arc<Notify>,
}

impl Subscriptions {
    /// Whether the registry has any webhook.
    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty()
    }

    fn find(&self, url: &str) -> Option<&WebhookConfig> {
        self.webhooks.iter().find(|webhook| webhook.url == url)
    }
}

impl std::fmt::Debug for Subscriptions {
    /// The URLs only: the secrets stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.webhooks.iter().map(|webhook| &webhook.url))
            .finish()
    }
}

/// Deliveries a transaction recorded: once it has committed, [`Queued::wake`] has them
/// sent at once rather than at the next poll.
#[must_use = "call `wake` once the transaction has committed"]
#[derive(Debug, Default)]
pub struct Queued(Option<Arc<Notify>>);

impl Queued {
    /// Wakes this process's sender, if deliveries were recorded.
    pub fn wake(self) {
        if let Some(wake) = self.0 {
            wake.notify_one();
        }
    }

    /// These deliveries and `other`'s.
    pub fn and(self, other: Queued) -> Queued {
        Queued(self.0.or(other.0))
    }
}

/// Records, in `tx`, a delivery of the change `event` (its audit event: the action is
/// the webhook event) to each webhook of `registry` that wants it. `actor` is the login
/// of who made the change (`None`: the operator on the command line).
pub async fn enqueue(
    tx: &mut Tx,
    registry: &Registry,
    actor: Option<&str>,
    event: &AuditEvent<'_>,
    now: i64,
) -> AppResult<Queued> {
    // Collected, not iterated across the awaits below: a closure held there would make
    // the publish future's `Send` depend on lifetimes the compiler cannot prove general.
    let wanting: Vec<&WebhookConfig> = registry
        .webhooks
        .webhooks
        .iter()
        .filter(|webhook| webhook.wants(event.action))
        .collect();
    if wanting.is_empty() {
        return Ok(Queued(None));
    }
    let mut payload = serde_json::json!({
        "id": "",
        "event": event.action,
        "registry": registry.name,
        "crate": event.crate_name,
        "version": event.version,
        "actor": actor,
        "at": cargohold_protocol::index::format_pubtime(now),
    });
    // What the audit log keeps of the change (checksum and size, a yank's or
    // deletion's reason, the owner added or removed) comes along, never in place of
    // the fields above.
    if let Some(serde_json::Value::Object(detail)) = event
        .detail
        .as_deref()
        .and_then(|detail| serde_json::from_str(detail).ok())
    {
        for (key, value) in detail {
            if payload.get(&key).is_none() {
                payload[key] = value;
            }
        }
    }
    for webhook in wanting {
        let delivery_id = format!("{:032x}", rand::random::<u128>());
        payload["id"] = serde_json::Value::from(delivery_id.as_str());
        db::webhooks::insert(
            &mut *tx,
            &db::webhooks::NewDelivery {
                delivery_id: &delivery_id,
                registry_id: registry.id,
                url: &webhook.url,
                event: event.action,
                payload: &payload.to_string(),
            },
            now,
        )
        .await?;
    }
    Ok(Queued(Some(registry.webhooks.wake.clone())))
}

/// The sender of one `serve` process, until the server stops (which aborts it: a
/// delivery cut off is sent again once its claim runs out). It sends what is due at
/// once when a change made here wakes it, when a retry falls due, and every few seconds
/// for changes made elsewhere.
pub async fn deliver(app: AppState) {
    // A redirect is not followed: a POST turned into a GET somewhere else is not a delivery.
    let client = match crate::proxy::upstream::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = ?err, "cannot make the HTTP client of webhooks; no webhook is delivered");
            return;
        }
    };
    let wake = app.webhooks.wake.clone();
    loop {
        let wait = match deliver_due(&app, &client).await {
            Ok(wait) => wait,
            Err(err) => {
                tracing::warn!(error = ?err, "could not look for webhook deliveries; will retry");
                POLL
            }
        };
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sends every delivery that is due; how long until the next may be.
async fn deliver_due(app: &App, client: &reqwest::Client) -> anyhow::Result<Duration> {
    loop {
        let now = clock::now();
        match db::webhooks::next_ready(app.db.read()).await? {
            None => return Ok(POLL),
            Some(at) if at > now => {
                return Ok(POLL.min(Duration::from_secs((at - now).unsigned_abs())));
            }
            Some(_) => {}
        }
        // Claims, outcomes and deletions can be worked out again (at worst a delivery
        // is sent twice), so they do not wait for the disk.
        let mut tx = app.db.begin_relaxed().await?;
        let claimed =
            db::webhooks::claim(&mut tx, &app.node_id, now, now + CLAIM_SECS, BATCH).await?;
        tx.commit().await?;
        if claimed.is_empty() {
            // Another node took what was due.
            return Ok(Duration::from_secs(1));
        }
        // One delivery per webhook is claimed at a time, so these go to different receivers.
        futures::future::join_all(claimed.into_iter().map(|row| deliver_one(app, client, row)))
            .await;
    }
}

/// Sends one claimed delivery and records how it went.
async fn deliver_one(app: &App, client: &reqwest::Client, row: DeliveryRow) {
    let registry = app.registries().find(|r| r.id == row.registry_id);
    let webhook = registry.and_then(|r| r.webhooks.find(&row.url).map(|w| (r, w)));
    let recorded = match webhook {
        Some((registry, webhook)) => attempt(app, client, registry, webhook, &row).await,
        None => leave_to_others(app, &row).await,
    };
    if let Err(err) = recorded {
        tracing::warn!(
            url = %shown_url(&row.url),
            event = %row.event,
            delivery = %row.delivery_id,
            error = ?err,
            "could not record the outcome of a webhook delivery; it will be sent again"
        );
    }
}

/// POSTs the delivery and deletes it, or schedules the next attempt, or gives it up.
async fn attempt(
    app: &App,
    client: &reqwest::Client,
    registry: &Registry,
    webhook: &WebhookConfig,
    row: &DeliveryRow,
) -> anyhow::Result<()> {
    let attempt = row.attempts + 1;
    let url = shown_url(&row.url);
    let outcome = post(client, webhook, row).await;
    let now = clock::now();
    let mut tx = app.db.begin_relaxed().await?;
    match outcome {
        Ok(status) => {
            db::webhooks::delete(&mut tx, row.id).await?;
            tx.commit().await?;
            app.webhooks.delivered.bump();
            tracing::debug!(
                registry = %registry.name, %url, event = %row.event, delivery = %row.delivery_id,
                attempt, status = status.as_u16(), "webhook delivered"
            );
        }
        Err(failure) if attempt >= MAX_ATTEMPTS || now - row.created_at >= GIVE_UP_AFTER_SECS => {
            db::webhooks::delete(&mut tx, row.id).await?;
            tx.commit().await?;
            app.webhooks.given_up.bump();
            tracing::error!(
                registry = %registry.name, %url, event = %row.event, delivery = %row.delivery_id,
                attempt, error = %failure,
                "webhook delivery given up after {attempt} attempts: {failure}"
            );
        }
        Err(failure) => {
            let delay = retry_delay(app.config.webhook_retry_seconds, attempt);
            db::webhooks::retry_later(
                &mut tx,
                row.id,
                &app.node_id,
                attempt,
                now + i64::try_from(delay).unwrap_or(i64::MAX / 2),
                &failure,
            )
            .await?;
            tx.commit().await?;
            app.webhooks.failed.bump();
            tracing::warn!(
                registry = %registry.name, %url, event = %row.event, delivery = %row.delivery_id,
                attempt, error = %failure, retry_in_secs = delay,
                "webhook delivery failed ({failure}); will retry in {delay} s"
            );
        }
    }
    Ok(())
}

/// A delivery to a webhook this node's configuration does not have (changed on another
/// node first, or removed): left for a node that has it, and given up a day after the change.
async fn leave_to_others(app: &App, row: &DeliveryRow) -> anyhow::Result<()> {
    let now = clock::now();
    let mut tx = app.db.begin_relaxed().await?;
    if now - row.created_at >= GIVE_UP_AFTER_SECS {
        db::webhooks::delete(&mut tx, row.id).await?;
        tx.commit().await?;
        app.webhooks.given_up.bump();
        tracing::error!(
            url = %shown_url(&row.url), event = %row.event, delivery = %row.delivery_id,
            "webhook delivery given up: no node's configuration had its webhook for a day"
        );
    } else {
        db::webhooks::hold_until(
            &mut tx,
            row.id,
            &app.node_id,
            now + UNKNOWN_WEBHOOK_HOLD_SECS,
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(
            url = %shown_url(&row.url), event = %row.event, delivery = %row.delivery_id,
            "a webhook delivery is for a webhook this node's configuration does not have; \
             left to a node that has it (dropped a day after the change)"
        );
    }
    Ok(())
}

/// POSTs the delivery's payload to its webhook: the status of a 2xx answer, or why it failed.
async fn post(
    client: &reqwest::Client,
    webhook: &WebhookConfig,
    row: &DeliveryRow,
) -> Result<reqwest::StatusCode, String> {
    let mut request = client
        .post(&row.url)
        .timeout(REQUEST_TIMEOUT)
        .header(CONTENT_TYPE, "application/json")
        .header("X-Cargohold-Event", &row.event)
        .header("X-Cargohold-Delivery", &row.delivery_id);
    if let Some(secret) = &webhook.secret {
        request = request.header("X-Cargohold-Signature", signature(secret, &row.payload));
    }
    match request.body(row.payload.clone()).send().await {
        Ok(response) if response.status().is_success() => Ok(response.status()),
        Ok(response) => Err(format!("the receiver answered {}", response.status())),
        // Without the URL, which may hold a secret, and which the logs show apart.
        Err(err) => Err(crate::error::one_line(&err.without_url())),
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` keyed with `secret`, which a receiver
/// computes again to know the delivery came from here, unaltered.
pub fn signature(secret: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Seconds to wait after failed attempt number `attempt` (1 for the first): `first`,
/// then twice as long each time, an hour at most.
fn retry_delay(first: u64, attempt: i64) -> u64 {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    first
        .max(1)
        .saturating_mul(1u64 << doublings)
        .min(MAX_RETRY_DELAY_SECS)
}

/// A webhook's URL as logs show it: without a password or a query, which may hold secrets.
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("REDACTED"));
            }
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_an_hour() {
        let waits: Vec<u64> = (1..=11).map(|attempt| retry_delay(10, attempt)).collect();
        assert_eq!(
            waits,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(retry_delay(0, 1), 1, "never a wait of nothing");
        assert_eq!(retry_delay(10, 1000), 3600);
    }

    #[test]
    fn the_signature_is_the_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn urls_in_logs_keep_no_password_or_query() {
        assert_eq!(
            shown_url("https://ci:hunter2@ci.example.com/hooks?token=abc"),
            "https://ci:REDACTED@ci.example.com/hooks"
        );
    }
}
