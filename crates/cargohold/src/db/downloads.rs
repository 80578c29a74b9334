//! Download counts: per version and day in `version_downloads`, totals on `versions` and `crates`.

use std::fmt::Write;

use sqlx::AssertSqlSafe;

use super::{Conn, on_conn};

/// Rows one statement adds counts to. A statement binds two values a row, so this
/// stays far below either database's limit on bound values.
pub const ROWS_PER_STATEMENT: usize = 200;

/// Adds counted downloads on `day` (days since 1970-01-01) to every counter:
/// `counts` holds (crate id, version id, downloads), sorted. One statement per
/// table per [`ROWS_PER_STATEMENT`] rows: flushing a busy registry's counts costs a
/// few statements, not three per version.
pub async fn add<'c>(
    conn: impl Into<Conn<'c>>,
    day: i64,
    counts: &[(i64, i64, i64)],
) -> sqlx::Result<()> {
    let mut conn = conn.into();
    let mut crates: Vec<(i64, i64)> = Vec::new();
    for &(crate_id, _, count) in counts {
        match crates.last_mut() {
            Some((id, total)) if *id == crate_id => *total += count,
            _ => crates.push((crate_id, count)),
        }
    }
    let versions: Vec<(i64, i64)> = counts.iter().map(|&(_, id, count)| (id, count)).collect();
    // Crates, then versions: the order every change locks rows in.
    for (table, rows) in [("crates", &crates), ("versions", &versions)] {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE {table} SET downloads = {table}.downloads + c.column2 \
                 FROM (VALUES {}) AS c WHERE {table}.id = c.column1",
                placeholders(chunk.len(), 0)
            );
            execute(&mut conn, sql, None, chunk).await?;
        }
    }
    for chunk in versions.chunks(ROWS_PER_STATEMENT) {
        // A version deleted since its downloads were counted takes them with it.
        let sql = format!(
            "INSERT INTO version_downloads (version_id, downloads, day) \
             SELECT c.column1, c.column2, c.column3 FROM (VALUES {}) AS c \
             WHERE EXISTS (SELECT 1 FROM versions WHERE versions.id = c.column1) \
             ON CONFLICT (version_id, day) \
             DO UPDATE SET downloads = version_downloads.downloads + excluded.downloads",
            placeholders(chunk.len(), 1)
        );
        execute(&mut conn, sql, Some(day), chunk).await?;
    }
    Ok(())
}

/// `($1, $2), ($3, $4), …` for `rows` pairs, each followed by `$1` when `leading`
/// is 1 (then the pairs start at `$2`).
fn placeholders(rows: usize, leading: usize) -> String {
    let mut sql = String::with_capacity(rows * 16);
    for row in 0..rows {
        let first = leading + 2 * row + 1;
        if row > 0 {
            sql.push_str(", ");
        }
        let _ = write!(sql, "(${first}, ${}", first + 1);
        if leading == 1 {
            sql.push_str(", $1");
        }
        sql.push(')');
    }
    sql
}

/// Runs `sql` (built here from numbers alone) with `first` (if any) bound first,
/// then each pair of `rows`. Not kept as a prepared statement: its text changes
/// with the number of rows.
async fn execute(
    conn: &mut Conn<'_>,
    sql: String,
    first: Option<i64>,
    rows: &[(i64, i64)],
) -> sqlx::Result<()> {
    on_conn!(&mut *conn, |c| {
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        if let Some(first) = first {
            query = query.bind(first);
        }
        for &(a, b) in rows {
            query = query.bind(a).bind(b);
        }
        query.execute(c).await.map(|_| ())
    })
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
