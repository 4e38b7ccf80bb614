//! Hato's persistence: one store over SQLite (the embedded default) and PostgreSQL.
//!
//! This is the only crate that writes SQL. Statements use `$n` placeholders so the same text
//! runs on both backends ([`db`]); where the backends differ (the queue claim) the statement
//! is chosen per [`Backend`]. Times are unix milliseconds, ids and JSON are text.
//!
//! SQLite allows one writer at a time, so every write goes through one connection the store
//! owns, driven from the writer thread ([`writer`]), and single-message inserts are grouped
//! into shared transactions by the [`group_commit`] task; reads use a pool of sqlx
//! connections. On PostgreSQL, reads and writes share one sqlx pool.

mod accounts;
mod connect;
mod db;
mod dispatch;
mod error;
mod group_commit;
mod inbound;
mod jobs;
mod leased;
mod messages;
mod receipts;
mod rows;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;
mod transitions;
mod unmatched;
mod webhooks;
mod writer;

pub use accounts::{Account, ApiKeyRecord, AuthenticatedKey};
pub use connect::{Backend, StoreOptions};
pub use dispatch::{DispatchJob, SubmitResult};
pub use error::StoreError;
pub use inbound::{InboundOptions, InboundOutcome, NewInbound};
pub use jobs::{ClaimedJob, LaneDepth, Queue};
pub use messages::{BatchInsert, BatchRecord, InsertOutcome, MessageFilter, NewMessage};
pub use receipts::{ReceiptOutcome, ReceiptUpdate, UnmatchedReceipts};
pub use unmatched::{UnmatchedFilter, UnmatchedReceipt};
pub use webhooks::{NewAttempt, WebhookAttempt, WebhookAttemptOutcome, WebhookDelivery};

use std::sync::Arc;

use db::WriteDb;
use sqlx::AnyPool;
use tokio::sync::mpsc;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    read: AnyPool,
    write: WriteDb,
    inserts: mpsc::Sender<group_commit::InsertRequest>,
    writer: writer::Writer,
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    fn read(&self) -> &AnyPool {
        &self.inner.read
    }

    fn write(&self) -> &WriteDb {
        &self.inner.write
    }

    /// Whether the database answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        db::query("SELECT 1").execute(self.read()).await?;
        Ok(())
    }

    /// Closes the writer and the read pool after in-flight statements finish.
    pub async fn close(&self) {
        self.inner.write.close().await;
        self.inner.read.close().await;
    }
}
