//! Opening the pools, per-connection settings and migrations.

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    Executor,
    any::{AnyPoolOptions, install_default_drivers},
    migrate::Migrator,
    sqlite::SqliteConnectOptions,
};
use tokio::sync::mpsc;

use crate::{
    Inner, Result, Store, StoreError,
    db::{SqliteWriter, WriteDb},
    group_commit,
    writer::Writer,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Tuning for the pools.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for reads (SQLite) or for everything (PostgreSQL).
    pub max_connections: u32,
    /// Most single-message inserts committed in one transaction.
    pub group_commit_max: usize,
    /// `PRAGMA synchronous`: `FULL` survives power loss, `NORMAL` only process crashes.
    pub sqlite_synchronous_full: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            group_commit_max: 512,
            sqlite_synchronous_full: true,
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        let (read, write) = match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                let synchronous = if options.sqlite_synchronous_full {
                    "FULL"
                } else {
                    "NORMAL"
                };
                // Page cache per connection, in KiB: the writer keeps the hot pages of every
                // table; readers scan (queue depths, listings) and would each fill a large
                // cache with a queue's worth of pages, so they keep a small one and rely on
                // the operating system's file cache (measured: 8 readers x 16 MB made the
                // server's RSS 152 MiB with a million messages queued).
                let setup = |cache_kib: u32| {
                    format!(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{cache_kib};"
                    )
                };
                let pool_options = |max: u32, setup: String| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .min_connections(1)
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(move |conn, _meta| {
                            let setup = setup.clone();
                            Box::pin(async move {
                                conn.execute(sqlx::AssertSqlSafe(setup)).await?;
                                Ok(())
                            })
                        })
                };
                let migrate = pool_options(1, setup(2_000)).connect(&url).await?;
                SQLITE_MIGRATIONS.run(&migrate).await?;
                migrate.close().await;
                // One writer: SQLite serialises writers anyway, and a single connection
                // turns lock contention into an orderly queue instead of SQLITE_BUSY.
                let path = SqliteConnectOptions::from_str(&url)?
                    .get_filename()
                    .to_owned();
                // Statement journals (kept while a multi-row statement may still fail halfway)
                // in memory: on disk each was a temporary file created, written and unlinked
                // per transaction (842 opens and unlinks per 20,000 messages, measured).
                let write = open_sqlite_writer(
                    &path,
                    &format!(
                        "{} PRAGMA temp_store = MEMORY; {}",
                        setup(8_000),
                        writer_checkpoint_setup()
                    ),
                )?;
                let read = pool_options(options.max_connections.max(1), setup(2_000))
                    .connect(&url)
                    .await?;
                (read, write)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                (pool.clone(), WriteDb::Any(pool))
            }
        };
        let (inserts, receiver) = mpsc::channel(options.group_commit_max * 4);
        let writer = Writer::start().map_err(StoreError::Writer)?;
        // The task holds only the writer, not the store, so it ends when the last store handle
        // (and with it the sender) is dropped.
        writer.spawn(group_commit::run(
            write.clone(),
            receiver,
            options.group_commit_max,
        ));
        let store = Store {
            inner: Arc::new(Inner {
                backend,
                read,
                write,
                inserts,
                writer,
            }),
        };
        Ok(store)
    }
}

/// Log size, in pages, at which the writer copies the write-ahead log into the database file
/// (SQLite's default is 1,000). A checkpoint copies each page once however often the log holds
/// it, and the store rewrites the same pages all the time (the queue's and the indexes' last
/// pages), so fewer, larger checkpoints copy much less: SMPP single +15 % end to end and queue
/// to SMSC +13 % (BENCHMARKS, session 14), for about 40 MB of log at most.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Size the log file is cut back to when it restarts: above the checkpoint's ~40 MB, so under
/// load the file is reused rather than cut and grown again, but a log that grew while a long
/// read kept it from restarting does not keep its size for ever.
const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

fn writer_checkpoint_setup() -> String {
    format!(
        "PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}; \
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES};"
    )
}

/// The SQLite write connection, with the same settings as the pools' and a statement cache
/// large enough for the store's statements (multi-row statements come in at most ~10 sizes
/// each: see `sql::statement_chunks`).
fn open_sqlite_writer(path: &Path, setup: &str) -> Result<WriteDb> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(setup)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(WriteDb::Sqlite(Arc::new(tokio::sync::Mutex::new(
        SqliteWriter::new(conn),
    ))))
}

/// `sqlite://path` opens read-write but does not create the file; make creation the default.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query;

    /// The writer leaves a few thousand pages in the log instead of copying them into the
    /// database file at SQLite's default of 1,000; the log file has a size to be cut back to.
    #[tokio::test]
    async fn the_sqlite_writer_checkpoints_in_large_steps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hato.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::open(&url, StoreOptions::default())
            .await
            .expect("open");
        let pragma = |name: &'static str| {
            let store = store.clone();
            async move {
                query(format!("PRAGMA {name}"))
                    .fetch_one(store.write())
                    .await
                    .and_then(|row| row.try_get::<i64, _>(name))
                    .expect(name)
            }
        };
        assert_eq!(pragma("wal_autocheckpoint").await, 10_000);
        assert_eq!(pragma("journal_size_limit").await, 64 << 20);

        let before = std::fs::metadata(&path).expect("database file").len();
        // About 3,000 pages of 4 KiB, committed at once.
        let mut tx = store.write().begin().await.expect("begin");
        query("CREATE TABLE bulk (b BLOB)")
            .execute(&mut tx)
            .await
            .expect("create");
        query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
             INSERT INTO bulk SELECT randomblob(3000) FROM n",
        )
        .execute(&mut tx)
        .await
        .expect("insert");
        tx.commit().await.expect("commit");

        let after = std::fs::metadata(&path).expect("database file").len();
        let log = std::fs::metadata(dir.path().join("hato.db-wal"))
            .expect("log file")
            .len();
        assert!(log > 10 << 20, "the commit is in the log: {log} bytes");
        assert_eq!(after, before, "not yet copied into the database file");
        store.close().await;
    }
}
