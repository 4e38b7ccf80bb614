//! The writer thread: where every write transaction is driven from.
//!
//! A transaction is a conversation of several statements with the database connection's
//! own thread (sqlx runs each SQLite connection on a thread of its own). Driven from the
//! shared tokio workers, each answer could wait in their run queue behind HTTP requests while
//! the single SQLite writer sat idle between statements (at 2,500 msg/s its thread was busy a
//! third of the time while a group commit took ~10 ms). A small runtime on a thread of its own
//! picks the answers up without competing with HTTP work (measured: +15% single-message
//! throughput). Callers hand it whole transactions and await the result; a caller that gives
//! up does not cut a transaction short.

use std::future::Future;

use tokio::{runtime, sync::oneshot};

use crate::{Result, Store, StoreError};

/// The writer runtime, stopped when the last store handle is dropped.
pub(crate) struct Writer {
    handle: runtime::Handle,
    _stop: oneshot::Sender<()>,
}

impl Writer {
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("hato-writer")
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("hato-writer".into())
            .spawn(move || {
                // Runs until the sender is dropped; tasks still running are then dropped
                // with the runtime, like those of a runtime shutting down.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(task);
    }
}

impl Store {
    /// Runs `work` (one or more transactions on the write pool) on the writer thread.
    pub(crate) async fn on_writer<T, F, Fut>(&self, work: F) -> Result<T>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        match self.inner.writer.handle.spawn(work(self.clone())).await {
            Ok(result) => result,
            Err(error) if error.is_cancelled() => Err(StoreError::Closed),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}
