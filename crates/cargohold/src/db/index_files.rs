//! `index_files`: the rendered sparse index file of each crate (derived from `versions.index_line`).

use super::{Conn, Pool, Tx, on_conn};

/// A rendered index file with its validators.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IndexFileRow {
    pub content: String,
    pub etag: String,
    pub last_modified: i64,
}

/// The index file of the crate whose lowercase name is `name_lower`.
pub async fn find<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name_lower: &str,
) -> sqlx::Result<Option<IndexFileRow>> {
    const SQL: &str = "SELECT content, etag, last_modified FROM index_files
                       WHERE registry_id = $1 AND name_lower = $2";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(name_lower)
        .fetch_optional(c)
        .await)
}

/// Stores the rendered file of a crate, replacing the previous one, as change `generation`.
pub async fn upsert<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name_lower: &str,
    crate_id: i64,
    file: &IndexFileRow,
    generation: i64,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO index_files
                         (registry_id, name_lower, crate_id, content, etag, last_modified, generation)
                       VALUES ($1, $2, $3, $4, $5, $6, $7)
                       ON CONFLICT (registry_id, name_lower) DO UPDATE
                       SET crate_id = excluded.crate_id, content = excluded.content,
                           etag = excluded.etag, last_modified = excluded.last_modified,
                           generation = excluded.generation";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(registry_id)
        .bind(name_lower)
        .bind(crate_id)
        .bind(&file.content)
        .bind(&file.etag)
        .bind(file.last_modified)
        .bind(generation)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The index files of a registry: lowercase name and the crate each belongs to.
pub async fn list_names<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    const SQL: &str = "SELECT name_lower, crate_id FROM index_files
                       WHERE registry_id = $1 ORDER BY name_lower";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .fetch_all(c)
        .await)
}

/// Deletes the index file of `name_lower`.
pub async fn delete<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    name_lower: &str,
) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM index_files WHERE registry_id = $1 AND name_lower = $2";
    on_conn!(conn, |c| sqlx::query(SQL)
        .bind(registry_id)
        .bind(name_lower)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Takes the next change number. The `index_state` row stays locked until the
/// transaction ends, so numbers are handed out in commit order. On PostgreSQL it
/// also queues a notice on [`CHANGES_CHANNEL`], which the server delivers to every
/// listening node when the transaction commits (and drops if it rolls back).
pub async fn next_generation<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<i64> {
    const SQL: &str =
        "UPDATE index_state SET generation = generation + 1 WHERE id = 1 RETURNING generation";
    const NOTIFY: &str = "SELECT pg_notify($1, '')";
    let mut conn = conn.into();
    let generation = on_conn!(&mut conn, |c| sqlx::query_scalar(SQL).fetch_one(c).await)?;
    match conn {
        Conn::Tx(Tx::Postgres(tx)) => {
            sqlx::query(NOTIFY)
                .bind(CHANGES_CHANNEL)
                .execute(&mut **tx)
                .await?;
        }
        Conn::Pool(Pool::Postgres(pool)) => {
            sqlx::query(NOTIFY)
                .bind(CHANGES_CHANNEL)
                .execute(pool)
                .await?;
        }
        _ => {}
    }
    Ok(generation)
}

/// The PostgreSQL channel on which committed index changes are announced.
pub const CHANGES_CHANNEL: &str = "cargohold_index_changes";

/// Announcements of index changes other processes commit: PostgreSQL's
/// LISTEN/NOTIFY. On SQLite there are none, and followers rely on polling.
pub struct ChangeNotices(Option<sqlx::postgres::PgListener>);

impl ChangeNotices {
    /// Listens on `pool`'s database, when it is PostgreSQL and the listener connects.
    pub async fn subscribe(pool: &Pool) -> Self {
        let Pool::Postgres(pool) = pool else {
            return Self(None);
        };
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
            listener.listen(CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(listener) => Self(Some(listener)),
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for index changes; polling only");
                Self(None)
            }
        }
    }

    /// Resolves at the next announcement (never, without a listener). After a lost
    /// connection it waits a second; the listener reconnects on the next call.
    pub async fn next(&mut self) {
        match &mut self.0 {
            Some(listener) => {
                if listener.recv().await.is_err() {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
            None => std::future::pending().await,
        }
    }
}

/// The number of the latest committed change.
pub async fn current_generation<'c>(conn: impl Into<Conn<'c>>) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT generation FROM index_state WHERE id = 1";
    on_conn!(conn, |c| sqlx::query_scalar(SQL).fetch_one(c).await)
}

/// The files changed after change `generation`: registry, lowercase name, change number.
pub async fn changed_since<'c>(
    conn: impl Into<Conn<'c>>,
    generation: i64,
) -> sqlx::Result<Vec<(i64, String, i64)>> {
    const SQL: &str = "SELECT registry_id, name_lower, generation FROM index_files
                       WHERE generation > $1 ORDER BY generation";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(generation)
        .fetch_all(c)
        .await)
}

/// A registry's index file as the git index writer reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangedFile {
    pub name_lower: String,
    pub content: String,
    pub last_modified: i64,
    pub generation: i64,
}

/// Up to `limit` files of `registry_id` changed after change `generation`, oldest change first.
pub async fn changed_in<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    generation: i64,
    limit: i64,
) -> sqlx::Result<Vec<ChangedFile>> {
    const SQL: &str = "SELECT name_lower, content, last_modified, generation FROM index_files
                       WHERE registry_id = $1 AND generation > $2
                       ORDER BY generation LIMIT $3";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(generation)
        .bind(limit)
        .fetch_all(c)
        .await)
}

/// Up to `limit` files of `registry_id` whose names sort after `after`, in name order.
pub async fn page<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<ChangedFile>> {
    const SQL: &str = "SELECT name_lower, content, last_modified, generation FROM index_files
                       WHERE registry_id = $1 AND name_lower > $2
                       ORDER BY name_lower LIMIT $3";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(registry_id)
        .bind(after)
        .bind(limit)
        .fetch_all(c)
        .await)
}

/// The number of the latest change to an index file of `registry_id` (0: none yet).
pub async fn latest_generation<'c>(
    conn: impl Into<Conn<'c>>,
    registry_id: i64,
) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COALESCE(MAX(generation), 0) FROM index_files WHERE registry_id = $1";
    on_conn!(conn, |c| sqlx::query_scalar(SQL)
        .bind(registry_id)
        .fetch_one(c)
        .await)
}
