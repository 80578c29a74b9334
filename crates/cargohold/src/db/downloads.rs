//! Download counts: per version and day in `version_downloads`, totals on `versions` and `crates`.

use super::{Conn, on_conn};

/// Adds `count` downloads of a version on `day` (days since 1970-01-01) to every counter.
pub async fn add<'c>(
    conn: impl Into<Conn<'c>>,
    version_id: i64,
    crate_id: i64,
    day: i64,
    count: i64,
) -> sqlx::Result<()> {
    const PER_DAY: &str = "INSERT INTO version_downloads (version_id, day, downloads) VALUES ($1, $2, $3)
                           ON CONFLICT (version_id, day)
                           DO UPDATE SET downloads = version_downloads.downloads + excluded.downloads";
    const VERSION: &str = "UPDATE versions SET downloads = downloads + $1 WHERE id = $2";
    const CRATE: &str = "UPDATE crates SET downloads = downloads + $1 WHERE id = $2";
    let mut conn = conn.into();
    // Crate, then version: the order every change locks rows in.
    on_conn!(&mut conn, |c| sqlx::query(CRATE)
        .bind(count)
        .bind(crate_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    on_conn!(&mut conn, |c| sqlx::query(VERSION)
        .bind(count)
        .bind(version_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    on_conn!(&mut conn, |c| sqlx::query(PER_DAY)
        .bind(version_id)
        .bind(day)
        .bind(count)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Downloads of a crate per day (days since 1970-01-01) from `since_day` on, oldest first.
pub async fn per_day<'c>(
    conn: impl Into<Conn<'c>>,
    crate_id: i64,
    since_day: i64,
) -> sqlx::Result<Vec<(i64, i64)>> {
    const SQL: &str = "SELECT d.day, CAST(SUM(d.downloads) AS BIGINT)
                       FROM version_downloads d JOIN versions v ON v.id = d.version_id
                       WHERE v.crate_id = $1 AND d.day >= $2 GROUP BY d.day ORDER BY d.day";
    on_conn!(conn, |c| sqlx::query_as(SQL)
        .bind(crate_id)
        .bind(since_day)
        .fetch_all(c)
        .await)
}
