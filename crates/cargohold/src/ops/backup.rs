//! `cargohold backup` and `restore` for the embedded setup (SQLite and a blob directory).
//!
//! A backup is itself a data directory: `cargohold.db` and `blobs/`, so `cargohold --data-dir
//! BACKUP serve` would run it. Beside them, `cargohold.toml` keeps the registries and settings
//! it was made with (secrets redacted, data locations left out): the database alone does not
//! say which registries are private, proxies or virtual. It is consistent without stopping the server: the database is
//! copied as of one moment (`VACUUM INTO`), then every blob that copy names is copied; blobs are
//! written before the rows that name them and never change, so each of them exists.

use std::path::Path;

use anyhow::{Context, bail};

use crate::app::App;
use crate::config::Config;
use crate::db::{self, Db};
use crate::storage::BlobStore;

/// The database file's name inside a backup (and a default data directory).
const DATABASE_FILE: &str = "cargohold.db";

/// The configuration's file name inside a backup.
pub const CONFIG_FILE: &str = "cargohold.toml";

/// What a backup or a restore copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub blobs: u64,
    pub bytes: u64,
}

/// Writes a backup of `app`'s data into `dir`, which must be missing or empty.
/// `progress(done, total)` is called as blobs are copied.
pub async fn backup(app: &App, dir: &Path, progress: &dyn Fn(u64, u64)) -> anyhow::Result<Copied> {
    ensure_empty(dir)?;
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let database = dir.join(DATABASE_FILE);
    app.db.snapshot_sqlite(&database).await?;
    let snapshot = Db::open_sqlite_read_only(&database).await?;
    let keys = db::versions::all_blob_keys(&snapshot).await;
    close(&snapshot).await;
    let target = BlobStore::local(&dir.join("blobs"))?;
    let copied = copy_blobs(&app.storage, &target, &keys?, progress).await?;
    let config = dir.join(CONFIG_FILE);
    std::fs::write(&config, app.config.to_portable_toml()?)
        .with_context(|| format!("could not write {}", config.display()))?;
    Ok(copied)
}

/// Puts the backup in `dir` into the data of `config`: its SQLite file must not exist
/// yet, and its blob store must hold no blobs.
pub async fn restore(
    config: &Config,
    dir: &Path,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<Copied> {
    let source_database = dir.join(DATABASE_FILE);
    if !source_database.is_file() {
        bail!(
            "{} is not a cargohold backup: it has no {DATABASE_FILE}",
            dir.display()
        );
    }
    let database_url = config.database_url();
    let Some(target_database) = database_url.strip_prefix("sqlite://") else {
        bail!(
            "`cargohold restore` fills the embedded SQLite database; restore PostgreSQL with pg_restore (docs/deployment.md)"
        );
    };
    let target_database = Path::new(target_database.split('?').next().unwrap_or_default());
    if target_database.exists() {
        bail!(
            "{} already exists: restore into an empty data directory (or move the database away first)",
            target_database.display()
        );
    }
    let target = BlobStore::open(config)?;
    if !target.list("").await?.is_empty() {
        bail!(
            "the blob store {} already holds blobs: restore into an empty one",
            target.description()
        );
    }
    let snapshot = Db::open_sqlite_read_only(&source_database).await?;
    let keys = db::versions::all_blob_keys(&snapshot).await;
    close(&snapshot).await;
    let source = BlobStore::local(&dir.join("blobs"))?;
    // Blobs first, then the database that names them, as a publish does.
    let copied = copy_blobs(&source, &target, &keys?, progress).await?;
    if let Some(parent) = target_database.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let partial = target_database.with_extension("db.restoring");
    std::fs::copy(&source_database, &partial)
        .with_context(|| format!("could not copy {}", source_database.display()))?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, target_database)?;
    Ok(copied)
}

async fn copy_blobs(
    from: &BlobStore,
    to: &BlobStore,
    keys: &[String],
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<Copied> {
    let total = keys.len() as u64;
    let mut copied = Copied { blobs: 0, bytes: 0 };
    for key in keys {
        let bytes = from.get_bytes(key).await.with_context(|| {
            format!("could not read the blob {key} from {}", from.description())
        })?;
        copied.bytes += bytes.len() as u64;
        to.put(key, bytes)
            .await
            .with_context(|| format!("could not write the blob {key} to {}", to.description()))?;
        copied.blobs += 1;
        progress(copied.blobs, total);
    }
    Ok(copied)
}

fn ensure_empty(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => bail!(
            "{} is not empty: give a new directory for the backup",
            dir.display()
        ),
        Ok(false) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("could not read {}", dir.display())),
    }
}

async fn close(pool: &db::Pool) {
    if let db::Pool::Sqlite(pool) = pool {
        pool.close().await;
    }
}
