//! `webhook_deliveries`: the outbox of webhook deliveries, written in the transaction of the
//! change they announce and claimed by one node at a time to be sent.

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

/// Records a delivery, due at once.
pub async fn insert<'c>(
    conn: impl Into<Conn<'c>>,
    delivery: &NewDelivery<'_>,
    now: i64,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO webhook_deliveries
          (delivery_id, registry_id, url, event, payload, created_at, next_attempt_at)
        VALUES ($1, $2, $3, $4, $5, $6, $6)";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(delivery.delivery_id)
        .bind(delivery.registry_id)
        .bind(delivery.url)
        .bind(delivery.event)
        .bind(delivery.payload)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
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

/// The condition that `d` is the first delivery of its webhook: the deliveries of one
/// webhook go out in the order of their changes, each after the one before it is done
/// (or given up), so a receiver hears of a yank before the unyank that followed it.
macro_rules! first_of_its_webhook {
    () => {
        "NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                     WHERE e.registry_id = d.registry_id AND e.url = d.url AND e.id < d.id)"
    };
}

/// When the next delivery may be claimed (Unix seconds; in the past when one may be now),
/// or `None` when there are none to make.
pub async fn next_ready<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<Option<i64>> {
    const SQL: &str = concat!(
        "SELECT MIN(CASE WHEN d.claimed_until > d.next_attempt_at
                         THEN d.claimed_until ELSE d.next_attempt_at END)
         FROM webhook_deliveries d WHERE ",
        first_of_its_webhook!()
    );
    on_conn!(conn, |c| sqlx::query_scalar(SQL).fetch_one(c).await)
}

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
    const SQL: &str = concat!(
        "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2
         WHERE id IN (SELECT d.id FROM webhook_deliveries d
                      WHERE d.next_attempt_at <= $3
                        AND (d.claimed_until IS NULL OR d.claimed_until <= $3)
                        AND ",
        first_of_its_webhook!(),
        " ORDER BY d.id LIMIT $4)
           AND (claimed_until IS NULL OR claimed_until <= $3)
         RETURNING id, delivery_id, registry_id, url, event, payload, created_at, attempts"
    );
    let mut rows: Vec<DeliveryRow> = on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(holder)
        .bind(until)
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await)?;
    rows.sort_unstable_by_key(|row| row.id);
    Ok(rows)
}

/// Removes a delivery: it was made, or given up.
pub async fn delete<'c>(conn: impl Into<Conn<'c>>, id: i64) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM webhook_deliveries WHERE id = $1";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records a failed attempt of a delivery `holder` claimed (the `attempts` made so far,
/// and why the last one failed) and frees it to be tried again at `next_attempt_at`.
pub async fn retry_later<'c>(
    conn: impl Into<Conn<'c>>,
    id: i64,
    holder: &str,
    attempts: i64,
    next_attempt_at: i64,
    last_error: &str,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE webhook_deliveries
        SET attempts = $3, next_attempt_at = $4, last_error = $5,
            claimed_by = NULL, claimed_until = NULL
        WHERE id = $1 AND claimed_by = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(id)
        .bind(holder)
        .bind(attempts)
        .bind(next_attempt_at)
        .bind(last_error)
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
