//! Write transactions: on SQLite, on the store's one write connection; on PostgreSQL, sqlx
//! transactions.
//!
//! Measured and rejected (see `BENCHMARKS.md`): SQLite transactions that follow each other
//! sharing one commit, as savepoints inside it. Single-message sends did not get faster, and
//! batch inserts got 35 % slower with 35 MiB more RSS (each savepoint journals the pages it
//! changes, in memory).

use std::sync::Arc;

use sqlx::{Any, AnyPool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{Result, StoreError};

/// The writer: SQLite's one write connection, or the PostgreSQL pool.
#[derive(Clone)]
pub(crate) enum WriteDb {
    Sqlite(Arc<Mutex<SqliteWriter>>),
    Any(AnyPool),
}

/// The SQLite write connection.
pub(crate) struct SqliteWriter {
    conn: rusqlite::Connection,
}

impl SqliteWriter {
    pub(crate) fn new(conn: rusqlite::Connection) -> Self {
        Self { conn }
    }

    fn run(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.raw_execute().map(drop)
    }
}

impl WriteDb {
    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes never finds its
    /// snapshot stale when another process (the CLI) wrote meanwhile.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        match self {
            Self::Sqlite(writer) => {
                let writer = writer.clone().lock_owned().await;
                writer.run("BEGIN IMMEDIATE")?;
                Ok(Tx::Sqlite(SqliteTx { writer, open: true }))
            }
            Self::Any(pool) => Ok(Tx::Any(pool.begin().await?)),
        }
    }

    /// Runs one statement in a transaction of its own (SQLite).
    pub(super) async fn alone<T>(
        &self,
        statement: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let tx = self.begin().await?;
        let Tx::Sqlite(sqlite) = &tx else {
            return Err(StoreError::corrupt(
                "a SQLite statement on another database",
            ));
        };
        let answer = statement(sqlite.conn())?;
        tx.commit().await?;
        Ok(answer)
    }

    /// Waits for the transaction in flight, then closes the pool (PostgreSQL); the SQLite
    /// connection closes with the last store handle.
    pub(crate) async fn close(&self) {
        match self {
            Self::Sqlite(writer) => drop(writer.lock().await),
            Self::Any(pool) => pool.close().await,
        }
    }
}

/// A write transaction; rolled back if dropped before [`Tx::commit`].
pub(crate) enum Tx {
    Sqlite(SqliteTx),
    Any(sqlx::Transaction<'static, Any>),
}

pub(crate) struct SqliteTx {
    writer: OwnedMutexGuard<SqliteWriter>,
    open: bool,
}

impl SqliteTx {
    pub(super) fn conn(&self) -> &rusqlite::Connection {
        &self.writer.conn
    }
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(mut tx) => {
                tx.writer.run("COMMIT")?;
                tx.open = false;
            }
            Self::Any(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        match self {
            // Dropping rolls back.
            Self::Sqlite(tx) => drop(tx),
            Self::Any(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        // Fails harmlessly when SQLite already rolled back (after some errors it does).
        if self.open && !self.writer.conn.is_autocommit() {
            let _ = self.writer.run("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query;

    async fn count(path: &std::path::Path) -> i64 {
        let other = rusqlite::Connection::open(path).expect("open reader");
        other
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .expect("count")
    }

    #[tokio::test]
    async fn transactions_commit_or_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER UNIQUE);")
            .expect("schema");
        let writer = Arc::new(Mutex::new(SqliteWriter::new(conn)));
        let write = WriteDb::Sqlite(writer.clone());

        let insert = |value: i64| {
            let write = write.clone();
            async move {
                let mut tx = write.begin().await?;
                query("INSERT INTO t (v) VALUES ($1)")
                    .bind(value)
                    .execute(&mut tx)
                    .await?;
                tx.commit().await
            }
        };
        // Three at once: the third breaks the unique constraint of the first.
        let (a, b, c) = tokio::join!(insert(1), insert(2), insert(1));
        a.expect("first commits");
        b.expect("second commits");
        assert!(c.is_err(), "the duplicate fails");
        // Committed means visible to another connection, and nothing is left open.
        assert_eq!(count(&path).await, 2);
        assert!(writer.lock().await.conn.is_autocommit());

        // A transaction dropped without commit leaves nothing behind either.
        let mut tx = write.begin().await.expect("begin");
        query("INSERT INTO t (v) VALUES (3)")
            .execute(&mut tx)
            .await
            .expect("insert");
        drop(tx);
        assert!(writer.lock().await.conn.is_autocommit());
        assert_eq!(count(&path).await, 2);

        // A statement on the writer alone commits too.
        query("INSERT INTO t (v) VALUES (4)")
            .execute(&write)
            .await
            .expect("alone");
        assert_eq!(count(&path).await, 3);
    }
}
