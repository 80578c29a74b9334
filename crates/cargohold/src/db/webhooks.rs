//! `webhook_deliveries`: the outbox of webhook deliveries, written in the transaction of the
//! change they announce and claimed by one node at a time to be sent, and, once finished
//! (`finished_at` set), their history until it is pruned.

use super::{Conn, on_conn};

/// A delivery to record.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub delivery_id: &'a str,
    pub registry_id: i64,
    pub url: &'a str,
    pub event: &'a str,
    pub payload: &'a str,
}

/// Records a delivery, due at once; `redelivery_of` is the finished row it sends again.
/// Returns its row id.
pub async fn insert<'c>(
    conn: impl Into<Conn<'c>>,
    delivery: &NewDelivery<'_>,
    redelivery_of: Option<i64>,
    now: i64,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO webhook_deliveries
          (delivery_id, registry_id, url, event, payload, created_at, next_attempt_at, redelivery_of)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
        RETURNING id";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(delivery.delivery_id)
        .bind(delivery.registry_id)
        .bind(delivery.url)
        .bind(delivery.event)
        .bind(delivery.payload)
        .bind(now)
        .bind(redelivery_of)
        .fetch_one(c)
        .await)
}

/// A claimed delivery, to be sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub delivery_id: String,
    pub registry_id: i64,
    pub url: String,
    pub event: String,
    pub payload: String,
    pub created_at: i64,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// The condition that `d` is the first unfinished delivery of its webhook: the deliveries
/// of one webhook go out in the order of their changes, each after the one before it is
/// done (delivered or given up), so a receiver hears of a yank before the unyank that
/// followed it. Finished rows are history and hold nothing back; naming
/// `finished_at IS NULL` lets the partial index `webhook_deliveries_queue` serve it.
macro_rules! first_of_its_webhook {
    () => {
        "NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                     WHERE e.registry_id = d.registry_id AND e.url = d.url AND e.id < d.id
                       AND e.finished_at IS NULL)"
    };
}

const NEXT_READY_SQL: &str = concat!(
    "SELECT MIN(CASE WHEN d.claimed_until > d.next_attempt_at
                     THEN d.claimed_until ELSE d.next_attempt_at END)
     FROM webhook_deliveries d WHERE d.finished_at IS NULL AND ",
    first_of_its_webhook!()
);

/// When the next delivery may be claimed (Unix seconds; in the past when one may be now),
/// or `None` when there are none to make.
pub async fn next_ready<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<Option<i64>> {
    on_conn!(conn, |c| sqlx::query_scalar(NEXT_READY_SQL)
        .fetch_one(c)
        .await)
}

const CLAIM_SQL: &str = concat!(
    "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2
     WHERE id IN (SELECT d.id FROM webhook_deliveries d
                  WHERE d.finished_at IS NULL AND d.next_attempt_at <= $3
                    AND (d.claimed_until IS NULL OR d.claimed_until <= $3)
                    AND ",
    first_of_its_webhook!(),
    " ORDER BY d.id LIMIT $4)
       AND finished_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $3)
     RETURNING id, delivery_id, registry_id, url, event, payload, created_at, attempts"
);

/// Claims for `holder`, until `until`, up to `limit` deliveries due at `now`: the first
/// of each webhook, unless another node holds it. Nodes claiming at once never get the
/// same row: each row is updated by one statement, and one that another statement
/// claimed meanwhile fails the repeated condition (PostgreSQL checks it again on the
/// row as that statement left it). In `id` order.
pub async fn claim<'c>(
    conn: impl Into<Conn<'c>>,
    holder: &str,
    now: i64,
    until: i64,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryRow>> {
    let mut rows: Vec<DeliveryRow> = on_conn!(conn, |c| sqlx::query_as(CLAIM_SQL)
        .bind(holder)
        .bind(until)
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await)?;
    rows.sort_unstable_by_key(|row| row.id);
    Ok(rows)
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its receiver answered 2xx.
    Delivered,
    /// It failed for too long, or no node had its webhook.
    GivenUp,
}

impl Outcome {
    /// The value of the `outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::GivenUp => "given_up",
        }
    }
}

/// What the last attempt of a delivery got: the answer's status, if there was one,
/// and why it failed, if it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastAttempt {
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// Finishes a delivery as `outcome` at `now`: it leaves the outbox (and no longer holds
/// back its webhook's next delivery) and stays as history. `attempts` counts every
/// attempt made; `last` is what the last one got (`None` keeps what is recorded).
pub async fn finish<'c>(
    conn: impl Into<Conn<'c>>,
    id: i64,
    outcome: Outcome,
    attempts: i64,
    last: Option<&LastAttempt>,
    now: i64,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE webhook_deliveries
        SET finished_at = $2, outcome = $3, attempts = $4,
            last_status = CASE WHEN $5 THEN $6 ELSE last_status END,
            last_error = CASE WHEN $5 THEN $7 ELSE last_error END,
            claimed_by = NULL, claimed_until = NULL
        WHERE id = $1 AND finished_at IS NULL";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(id)
        .bind(now)
        .bind(outcome.as_str())
        .bind(attempts)
        .bind(last.is_some())
        .bind(last.and_then(|l| l.status).map(i64::from))
        .bind(last.and_then(|l| l.error.as_deref()))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

const PRUNE_SQL: &str =
    "DELETE FROM webhook_deliveries WHERE finished_at IS NOT NULL AND finished_at < $1";

/// Removes finished deliveries that finished before `before`; how many.
pub async fn prune<'c>(conn: impl Into<Conn<'c>>, before: i64) -> sqlx::Result<u64> {
    on_conn!(conn, |c| sqlx::query(PRUNE_SQL)
        .bind(before)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
}

/// A delivery as its history shows it, finished or not.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub delivery_id: String,
    /// The row this one sent again, for a redelivery.
    pub redelivery_of: Option<i64>,
    pub registry_id: i64,
    pub registry: String,
    pub url: String,
    pub event: String,
    pub payload: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub finished_at: Option<i64>,
    /// `delivered` or `given_up`, once finished.
    pub outcome: Option<String>,
}

/// The columns of a [`DeliveryRecord`], from `webhook_deliveries d JOIN registries r`.
macro_rules! record_from {
    () => {
        "SELECT d.id, d.delivery_id, d.redelivery_of, d.registry_id, r.name AS registry,
                d.url, d.event, d.payload, d.created_at, d.attempts, d.next_attempt_at,
                d.last_status, d.last_error, d.finished_at, d.outcome
         FROM webhook_deliveries d JOIN registries r ON r.id = d.registry_id"
    };
}

/// The delivery with row id `id`.
pub async fn find<'c>(conn: impl Into<Conn<'c>>, id: i64) -> sqlx::Result<Option<DeliveryRecord>> {
    const SQL: &str = concat!(record_from!(), " WHERE d.id = $1");
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(id)
        .fetch_optional(c)
        .await)
}

/// The newest `limit` deliveries, newest first: of one registry only with `registry_id`,
/// and only those that failed (given up, or whose last attempt failed) with `failed`.
pub async fn list<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: Option<i64>,
    failed: bool,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryRecord>> {
    const SQL: &str = concat!(
        record_from!(),
        " WHERE ($1 IS NULL OR d.registry_id = $1)
            AND (NOT $2 OR d.outcome = 'given_up' OR (d.finished_at IS NULL AND d.attempts > 0))
          ORDER BY d.id DESC LIMIT $3"
    );
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(failed)
        .bind(limit)
        .fetch_all(c)
        .await)
}

/// How many deliveries failed (given up, or whose last attempt failed): those
/// [`list`] shows with `failed`.
pub async fn count_failed<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM webhook_deliveries d
                       WHERE d.outcome = 'given_up' OR (d.finished_at IS NULL AND d.attempts > 0)";
    on_conn!(conn, |c| sqlx::query_scalar(SQL).fetch_one(c).await)
}

/// Records a failed attempt of a delivery `holder` claimed (the `attempts` made so far,
/// and what the last one got) and frees it to be tried again at `next_attempt_at`.
pub async fn retry_later<'c>(
    conn: impl Into<Conn<'c>>,
    id: i64,
    holder: &str,
    attempts: i64,
    next_attempt_at: i64,
    last: &LastAttempt,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE webhook_deliveries
        SET attempts = $3, next_attempt_at = $4, last_status = $5, last_error = $6,
            claimed_by = NULL, claimed_until = NULL
        WHERE id = $1 AND claimed_by = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(id)
        .bind(holder)
        .bind(attempts)
        .bind(next_attempt_at)
        .bind(last.status.map(i64::from))
        .bind(last.error.as_deref())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Keeps a delivery `holder` claimed until `until` without attempting it (a webhook
/// this node's configuration does not have), so other nodes may take it after that.
pub async fn hold_until<'c>(
    conn: impl Into<Conn<'c>>,
    id: i64,
    holder: &str,
    until: i64,
) -> sqlx::Result<()> {
    const SQL: &str =
        "UPDATE webhook_deliveries SET claimed_until = $3 WHERE id = $1 AND claimed_by = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(id)
        .bind(holder)
        .bind(until)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, Pool};

    /// SQLite's plan for `sql`, one line per step.
    async fn plan(db: &Db, sql: &str) -> Vec<String> {
        let Pool::Sqlite(pool) = db.read() else {
            unreachable!("an SQLite database")
        };
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(pool)
                .await
                .unwrap();
        rows.into_iter().map(|(_, _, _, detail)| detail).collect()
    }

    /// The sender's queries read the outbox through its partial indexes, so the history of
    /// finished deliveries, however long, is never scanned by them.
    #[tokio::test]
    async fn the_senders_queries_use_the_indexes_of_unfinished_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let db = Db::connect(&url).await.unwrap();
        for (name, sql, wanted) in [
            (
                "claim",
                CLAIM_SQL,
                &["webhook_deliveries_pending", "webhook_deliveries_queue"][..],
            ),
            (
                "next_ready",
                NEXT_READY_SQL,
                &["webhook_deliveries_pending", "webhook_deliveries_queue"],
            ),
            ("prune", PRUNE_SQL, &["webhook_deliveries_finished"]),
        ] {
            let plan = plan(&db, sql).await;
            for step in &plan {
                assert!(
                    !step.starts_with("SCAN")
                        || step.contains("USING INDEX webhook_deliveries_pending"),
                    "{name} scans more than the unfinished deliveries: {plan:#?}"
                );
            }
            for index in wanted {
                assert!(
                    plan.iter().any(|step| step.contains(index)),
                    "{name} uses {index}: {plan:#?}"
                );
            }
        }
    }
}
