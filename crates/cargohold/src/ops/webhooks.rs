//! Webhooks: changes to a local registry's crates, POSTed as JSON to the URLs its
//! `[[registries.webhooks]]` tables name.
//!
//! A change records its deliveries in the outbox (`db/webhooks.rs`) inside its own
//! transaction ([`enqueue`], only for the webhooks that want the event, so a registry
//! without any pays nothing), then wakes this process's sender ([`Queued::wake`]).
//! Every `serve` node runs a sender ([`deliver`]); it claims due deliveries through the
//! database, so each is sent by one node at a time, and finishes a delivery as delivered
//! once its receiver answered 2xx. Anything else is tried again later, each wait twice the
//! one before (`webhook-retry-seconds` first, an hour at most), until a day has passed
//! since the change (then it is finished as given up). Delivery is at least once: a node
//! that stops between the answer and recording it leaves the delivery to be sent again,
//! under the same `X-Cargohold-Delivery`.
//!
//! Finished deliveries stay as history ([`list`]) for `webhook-history-days`, then the
//! sender prunes them; [`redeliver`] queues a finished one again.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;
use tokio::sync::Notify;

use crate::app::{App, AppState, Registry};
use crate::auth::Actor;
use crate::clock;
use crate::config::WebhookConfig;
use crate::counter::Counter;
use crate::db::webhooks::{DeliveryRecord, DeliveryRow, LastAttempt, Outcome};
use crate::db::{self, Tx, audit::AuditEvent};
use crate::error::{AppError, AppResult};

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
/// How often a sender prunes the history of finished deliveries.
const PRUNE_EVERY_SECS: i64 = 600;
/// Most deliveries one listing shows.
pub const MAX_LISTED: i64 = 1000;

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
    /// The webhooks of one registry, which wake this process's sender, with each
    /// `secret-env` read into `secret`; an unset variable is an error naming it.
    pub fn subscriptions(
        &self,
        registry: &str,
        webhooks: Vec<WebhookConfig>,
    ) -> anyhow::Result<Subscriptions> {
        let webhooks = webhooks
            .into_iter()
            .map(|webhook| {
                Ok(WebhookConfig {
                    secret: webhook.secret(registry)?,
                    secret_env: None,
                    ..webhook
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Subscriptions {
            webhooks,
            wake: self.wake.clone(),
        })
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
            None,
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
    let mut pruned_at: Option<i64> = None;
    loop {
        let now = clock::now();
        if pruned_at.is_none_or(|at| now - at >= PRUNE_EVERY_SECS) {
            pruned_at = Some(now);
            if let Err(err) = prune(&app, now).await {
                tracing::warn!(error = ?err, "could not prune the webhook delivery history; will retry");
            }
        }
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

/// POSTs the delivery and finishes it as delivered, or schedules the next attempt, or
/// finishes it as given up.
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
            let last = LastAttempt {
                status: Some(status.as_u16()),
                error: None,
            };
            db::webhooks::finish(
                &mut tx,
                row.id,
                Outcome::Delivered,
                attempt,
                Some(&last),
                now,
            )
            .await?;
            tx.commit().await?;
            app.webhooks.delivered.bump();
            tracing::debug!(
                registry = %registry.name, %url, event = %row.event, delivery = %row.delivery_id,
                attempt, status = status.as_u16(), "webhook delivered"
            );
        }
        Err(failure) if attempt >= MAX_ATTEMPTS || now - row.created_at >= GIVE_UP_AFTER_SECS => {
            db::webhooks::finish(
                &mut tx,
                row.id,
                Outcome::GivenUp,
                attempt,
                Some(&failure),
                now,
            )
            .await?;
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
        let last = LastAttempt {
            status: None,
            error: Some("no node's configuration had its webhook".to_owned()),
        };
        db::webhooks::finish(
            &mut tx,
            row.id,
            Outcome::GivenUp,
            row.attempts,
            Some(&last),
            now,
        )
        .await?;
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

/// POSTs the delivery's payload to its webhook: the status of a 2xx answer, or what the
/// failed attempt got.
async fn post(
    client: &reqwest::Client,
    webhook: &WebhookConfig,
    row: &DeliveryRow,
) -> Result<reqwest::StatusCode, LastAttempt> {
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
        Ok(response) => Err(LastAttempt {
            status: Some(response.status().as_u16()),
            error: Some(format!("the receiver answered {}", response.status())),
        }),
        // Without the URL, which may hold a secret, and which the logs show apart.
        Err(err) => Err(LastAttempt {
            status: None,
            error: Some(crate::error::one_line(&err.without_url())),
        }),
    }
}

impl std::fmt::Display for LastAttempt {
    /// Why the attempt failed, else its status.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.error, self.status) {
            (Some(error), _) => f.write_str(error),
            (None, Some(status)) => write!(f, "{status}"),
            (None, None) => f.write_str("no answer"),
        }
    }
}

/// The history pruning of a node that sends no webhooks: without it, the deliveries of
/// webhooks since removed from every node's configuration would be kept for good.
pub async fn prune_periodically(app: AppState) {
    let every = Duration::from_secs(PRUNE_EVERY_SECS.unsigned_abs());
    loop {
        if let Err(err) = prune(&app, clock::now()).await {
            tracing::warn!(error = ?err, "could not prune the webhook delivery history; will retry");
        }
        tokio::time::sleep(every).await;
    }
}

/// Removes the deliveries that finished more than `webhook-history-days` before `now`.
async fn prune(app: &App, now: i64) -> anyhow::Result<()> {
    let keep_secs = i64::try_from(app.config.webhook_history_days)
        .unwrap_or(i64::MAX / 2)
        .saturating_mul(86_400);
    let pruned = db::webhooks::prune(app.db.write(), now.saturating_sub(keep_secs)).await?;
    if pruned > 0 {
        tracing::debug!(
            pruned,
            "pruned finished webhook deliveries older than the history keeps"
        );
    }
    Ok(())
}

/// Which deliveries [`list`] shows.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this registry's.
    pub registry: Option<String>,
    /// Only those given up, or whose last attempt failed.
    pub failed: bool,
    /// At most this many, from 1 to [`MAX_LISTED`].
    pub limit: i64,
}

/// Where a delivery stands, as listings show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not attempted yet.
    Pending,
    /// Its last attempt failed; it will be tried again.
    Retrying,
    /// Its receiver answered 2xx.
    Delivered,
    /// Finished without a 2xx answer.
    GivenUp,
}

impl DeliveryState {
    /// The state of `record`.
    pub fn of(record: &DeliveryRecord) -> Self {
        match (record.outcome.as_deref(), record.attempts) {
            (Some("delivered"), _) => DeliveryState::Delivered,
            (Some(_), _) => DeliveryState::GivenUp,
            (None, 0) => DeliveryState::Pending,
            (None, _) => DeliveryState::Retrying,
        }
    }

    /// As a person reads it: `pending`, `retrying`, `delivered`, `given up`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Delivered => "delivered",
            DeliveryState::GivenUp => "given up",
        }
    }

    /// Whether it failed: given up, or failing still.
    pub fn failed(self) -> bool {
        matches!(self, DeliveryState::Retrying | DeliveryState::GivenUp)
    }
}

/// One delivery as listings show it: its URL without a password or query, and what
/// its last attempt got.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryItem {
    /// The row id, which `redeliver` takes.
    pub id: i64,
    /// `X-Cargohold-Delivery`, shared by a delivery and its redeliveries.
    pub delivery_id: String,
    pub redelivery_of: Option<i64>,
    pub registry: String,
    pub event: String,
    pub url: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// When the next attempt is due, while unfinished.
    pub next_attempt_at: Option<i64>,
}

impl DeliveryItem {
    fn new(record: DeliveryRecord) -> Self {
        let state = DeliveryState::of(&record);
        DeliveryItem {
            id: record.id,
            delivery_id: record.delivery_id,
            redelivery_of: record.redelivery_of,
            registry: record.registry,
            event: record.event,
            url: shown_url(&record.url),
            state,
            attempts: record.attempts,
            last_status: record.last_status,
            last_error: record.last_error,
            created_at: record.created_at,
            finished_at: record.finished_at,
            next_attempt_at: record
                .finished_at
                .is_none()
                .then_some(record.next_attempt_at),
        }
    }

    /// What the last attempt got, in a few words: the error, else the status, else `-`.
    pub fn last_answer(&self) -> String {
        match (&self.last_error, self.last_status) {
            (Some(error), _) => error.clone(),
            (None, Some(status)) => status.to_string(),
            (None, None) => "-".to_owned(),
        }
    }
}

/// The newest deliveries matching `filter`, newest first; administrators only.
pub async fn list(
    app: &App,
    filter: &DeliveryFilter,
    by: Option<&Actor>,
) -> AppResult<Vec<DeliveryItem>> {
    super::require_instance_admin(by)?;
    if filter.limit <= 0 || filter.limit > MAX_LISTED {
        return Err(AppError::BadRequest(format!(
            "the limit must be between 1 and {MAX_LISTED}"
        )));
    }
    let registry_id = match &filter.registry {
        Some(name) => Some(app.registry(name)?.id),
        None => None,
    };
    let records =
        db::webhooks::list(app.db.read(), registry_id, filter.failed, filter.limit).await?;
    Ok(records.into_iter().map(DeliveryItem::new).collect())
}

/// A redelivery [`redeliver`] queued.
#[derive(Debug, Clone)]
pub struct Redelivery {
    /// The new row's id.
    pub id: i64,
    /// The delivery sent again.
    pub of: DeliveryItem,
}

/// Queues finished delivery `id` to be sent again, as a new delivery (its own row, so the
/// first one's outcome stays in the history) with the same payload and the same
/// `X-Cargohold-Delivery`, after the webhook's deliveries already waiting.
///
/// The delivery id is kept as GitHub keeps a redelivery's `X-GitHub-Delivery` (its
/// `guid`): a redelivery is the same event again, not a new change, so a receiver that
/// drops ids it has seen drops it too, and one that processed nothing (the reason to
/// redeliver) takes it. The signature is made with the webhook's secret of the moment.
///
/// Refused, changing nothing: an unknown id (404), a delivery not yet finished (409), and
/// one whose webhook the configuration no longer has (409). Written to the audit log as
/// `webhook_redeliver`.
pub async fn redeliver(app: &App, id: i64, by: Option<&Actor>) -> AppResult<Redelivery> {
    super::require_instance_admin(by)?;
    let mut tx = app.db.begin().await?;
    let record = db::webhooks::find(&mut tx, id).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "there is no webhook delivery with id {id} (`cargohold webhook deliveries` lists them)"
        ))
    })?;
    let item = DeliveryItem::new(record.clone());
    if record.finished_at.is_none() {
        return Err(AppError::Conflict(format!(
            "webhook delivery {id} is not finished yet ({}, {} attempt{} so far); it is sent again              without being asked",
            item.state.as_str(),
            record.attempts,
            if record.attempts == 1 { "" } else { "s" }
        )));
    }
    let registry = app.registries().find(|r| r.id == record.registry_id);
    if registry
        .and_then(|r| r.webhooks.find(&record.url))
        .is_none()
    {
        return Err(AppError::Conflict(format!(
            "the registry `{}` has no webhook {} any more, so delivery {id} cannot be sent again",
            record.registry, item.url
        )));
    }
    let now = clock::now();
    let new_id = db::webhooks::insert(
        &mut tx,
        &db::webhooks::NewDelivery {
            delivery_id: &record.delivery_id,
            registry_id: record.registry_id,
            url: &record.url,
            event: &record.event,
            payload: &record.payload,
        },
        Some(id),
        now,
    )
    .await?;
    db::audit::insert(
        &mut tx,
        &AuditEvent {
            registry: Some(&record.registry),
            detail: Some(
                serde_json::json!({
                    "delivery": id,
                    "redelivery": new_id,
                    "delivery_id": record.delivery_id,
                    "event": record.event,
                    "url": item.url,
                })
                .to_string(),
            ),
            ..super::audit_event(by, "webhook_redeliver")
        },
        now,
    )
    .await?;
    tx.commit().await?;
    app.webhooks.wake.notify_one();
    Ok(Redelivery {
        id: new_id,
        of: item,
    })
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
pub fn shown_url(url: &str) -> String {
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
