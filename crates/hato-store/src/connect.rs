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
                    &format!("{} PRAGMA temp_store = MEMORY;", setup(8_000)),
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
