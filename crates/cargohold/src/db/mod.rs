//! The database: SQLite (embedded default) or PostgreSQL, one schema, queries grouped by table.
//!
//! Queries use the runtime `sqlx::query` API with `$n` placeholders, which both
//! drivers accept, and run through [`on_pool!`] / [`on_tx!`] so each is written
//! once. Nothing here knows about HTTP.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPoolOptions, Postgres};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Sqlite, SqlitePool};

use crate::config::redact_url;

pub mod advisories;
pub mod audit;
pub mod crates;
pub mod downloads;
pub mod grants;
pub mod index_files;
pub mod leases;
pub mod owners;
pub mod registries;
pub mod sessions;
pub mod teams;
pub mod tokens;
pub mod upstream_index;
pub mod users;
pub mod versions;
pub mod webhooks;

/// A pool of connections to one of the two supported databases.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on either database.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs one sqlx expression on whichever pool `$pool` (a `&Pool`) holds. Only for SQL both dialects accept.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::db::Pool::Sqlite($p) => $body,
            $crate::db::Pool::Postgres($p) => $body,
        }
    };
}

/// A connection to run one query on: a pool, or an open transaction.
pub enum Conn<'a> {
    Pool(&'a Pool),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Pool> for Conn<'a> {
    fn from(pool: &'a Pool) -> Self {
        Conn::Pool(pool)
    }
}

impl<'a> From<&'a mut Tx> for Conn<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Conn::Tx(tx)
    }
}

impl<'a: 'b, 'b> From<&'b mut Conn<'a>> for Conn<'b> {
    fn from(conn: &'b mut Conn<'a>) -> Self {
        match conn {
            Conn::Pool(pool) => Conn::Pool(pool),
            Conn::Tx(tx) => Conn::Tx(tx),
        }
    }
}

/// Runs one sqlx expression on a [`Conn`] (anything `Into<Conn>`), so a query
/// function serves both plain reads and transactions. Only for SQL both dialects accept.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match ::std::convert::Into::<$crate::db::Conn<'_>>::into($conn) {
            $crate::db::Conn::Pool($crate::db::Pool::Sqlite($c)) => $body,
            $crate::db::Conn::Pool($crate::db::Pool::Postgres($c)) => $body,
            $crate::db::Conn::Tx($crate::db::Tx::Sqlite(tx)) => {
                let $c = &mut **tx;
                $body
            }
            $crate::db::Conn::Tx($crate::db::Tx::Postgres(tx)) => {
                let $c = &mut **tx;
                $body
            }
        }
    };
}

pub(crate) use {on_conn, on_pool};

/// Why `url` could not be connected to, said once: sqlx's error repeats the
/// server's message in its own, and a missing database gets the command that
/// creates it.
fn postgres_connect_error(url: &str, err: sqlx::Error) -> anyhow::Error {
    let shown = redact_url(url);
    if let sqlx::Error::Database(db) = &err {
        // 3D000: invalid_catalog_name, the database does not exist.
        if db.code().as_deref() == Some("3D000") {
            let name = url::Url::parse(url)
                .ok()
                .map(|parsed| parsed.path().trim_start_matches('/').to_owned())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "NAME".to_owned());
            return anyhow::anyhow!(
                "could not connect to PostgreSQL at {shown}: the database `{name}` does not exist; create it \
                 (`createdb {name}`, or CREATE DATABASE in psql) or fix database-url"
            );
        }
        return anyhow::anyhow!(
            "could not connect to PostgreSQL at {shown}: {}",
            db.message()
        );
    }
    anyhow::anyhow!(
        "could not connect to PostgreSQL at {shown}: {}",
        crate::error::one_line(&err)
    )
}

/// Handles to the database: readers, and the pool that writes.
///
/// SQLite allows one writer at a time; giving writes a single connection queues
/// them in-process instead of failing with "database is locked", while WAL lets
/// readers carry on. On PostgreSQL both handles are the same pool.
#[derive(Debug, Clone)]
pub struct Db {
    read: Pool,
    write: Pool,
}

impl Db {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|err| postgres_connect_error(url, err))?;
            Self {
                read: Pool::Postgres(pool.clone()),
                write: Pool::Postgres(pool),
            }
        } else if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await?
        } else {
            anyhow::bail!(
                "database-url `{}` must start with sqlite:// or postgres://",
                redact_url(url)
            );
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn connect_sqlite(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("database-url `{url}` is not a valid SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before the client hears "published".
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("could not create the directory {}", dir.display()))?;
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            // SQLite rolls a transaction back by itself when the disk fills (or on
            // some I/O errors); sqlx's ROLLBACK then fails and it still counts the
            // connection as in a transaction, so every later BEGIN would fail. Such
            // a connection is replaced instead of handed out.
            .before_acquire(|conn, _| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            // `Db::begin_relaxed` lowers `synchronous` for one transaction; whatever way
            // the connection comes back (committed, rolled back, dropped half-way), it
            // is FULL again before anyone else writes on it, or it is closed.
            .after_release(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = FULL").await?;
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await
            .with_context(|| format!("could not open the SQLite database {url}"))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("could not open the SQLite database {url}"))?;
        Ok(Self {
            read: Pool::Sqlite(read),
            write: Pool::Sqlite(write),
        })
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match &self.write {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        }
        .context("could not apply database migrations")
    }

    /// The pool for queries that only read.
    pub fn read(&self) -> &Pool {
        &self.read
    }

    /// The pool for single statements that write outside a transaction.
    pub fn write(&self) -> &Pool {
        &self.write
    }

    /// Starts a write transaction.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`, which takes the write lock up front, so
    /// two processes on one file (`serve` and `import`) wait for each other
    /// instead of failing half-way.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match &self.write {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Starts a write transaction for what can be fetched or worked out again (a
    /// proxy's copies of its upstream, leases): its commit does not wait for the
    /// disk, so a power cut may undo it, but never out of order: a later
    /// [`Db::begin`] commit makes it durable too.
    ///
    /// SQLite in WAL mode with `synchronous = NORMAL` for this one transaction;
    /// PostgreSQL with `synchronous_commit = off` for it.
    pub async fn begin_relaxed(&self) -> sqlx::Result<Tx> {
        Ok(match &self.write {
            Pool::Sqlite(pool) => Tx::Sqlite(
                pool.begin_with("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE")
                    .await?,
            ),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::Executor::execute(&mut *tx, "SET LOCAL synchronous_commit = off").await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// Writes a consistent copy of an SQLite database to the new file `path`, as of
    /// one moment, while others go on reading and writing (`VACUUM INTO`).
    pub async fn snapshot_sqlite(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let Pool::Sqlite(pool) = &self.read else {
            anyhow::bail!(
                "`cargohold backup` copies the embedded SQLite database; back up PostgreSQL with pg_dump (docs/deployment.md)"
            );
        };
        let target = path
            .to_str()
            .with_context(|| format!("{} is not a UTF-8 path", path.display()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await
            .with_context(|| format!("could not write the database snapshot {target}"))?;
        Ok(())
    }

    /// Opens the SQLite file `path` read-only, without migrating it (a backup to read).
    pub async fn open_sqlite_read_only(path: &std::path::Path) -> anyhow::Result<Pool> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .with_context(|| format!("could not open {}", path.display()))?;
        Ok(Pool::Sqlite(pool))
    }

    /// Whether the database answers a query (`/ready`).
    pub async fn ping(&self) -> sqlx::Result<()> {
        on_pool!(&self.read, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        on_pool!(&self.read, |p| p.close().await);
        on_pool!(&self.write, |p| p.close().await);
    }
}

impl Tx {
    /// Makes every change of this transaction durable.
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PRAGMA synchronous` on SQLite's one writing connection: 2 is FULL, 1 NORMAL.
    async fn synchronous(db: &Db) -> i64 {
        let Pool::Sqlite(pool) = db.write() else {
            unreachable!("an SQLite database")
        };
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn after_a_relaxed_transaction_the_next_write_waits_for_the_disk_again() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let db = Db::connect(&url).await.unwrap();
        assert_eq!(synchronous(&db).await, 2);

        let mut tx = db.begin_relaxed().await.unwrap();
        let Tx::Sqlite(inner) = &mut tx else {
            unreachable!()
        };
        let inside: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **inner)
            .await
            .unwrap();
        assert_eq!(inside, 1, "relaxed inside the transaction");
        tx.commit().await.unwrap();
        assert_eq!(synchronous(&db).await, 2, "after a commit");

        // Dropped without a commit, as when a request is cancelled half-way.
        drop(db.begin_relaxed().await.unwrap());
        assert_eq!(synchronous(&db).await, 2, "after a drop");
    }
}
