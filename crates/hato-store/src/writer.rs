//! The writer thread: where every write transaction runs.
//!
//! On SQLite the store's one write connection is driven synchronously here ([`crate::db`]):
//! a transaction's statements run one after the other on this thread without a hand-off,
//! and transactions queue for the connection in order. On PostgreSQL transactions are
//! conversations with the server and several interleave on this thread's runtime.
//!
//! A thread of its own keeps that work off the shared tokio workers, where each step could
//! wait behind HTTP requests while the single SQLite writer sat idle (measured with sqlx's
//! connection thread: +15% single-message throughput), and keeps the workers free of the
//! blocking SQLite calls. Callers hand it whole transactions and await the result; a caller
//! that gives up does not cut a transaction short.

use std::{
    future::Future,
    time::{Duration, Instant},
};

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
    /// Runs `work` (one or more write transactions) on the writer thread. How long it waited
    /// for the thread and how long it ran there are recorded per `operation`, so an operator
    /// sees when the single writer is the bottleneck and which writes hold it.
    pub(crate) async fn on_writer<T, F, Fut>(&self, operation: &'static str, work: F) -> Result<T>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let work = work(self.clone());
        let queued = Instant::now();
        let timed = async move {
            let started = Instant::now();
            let result = work.await;
            record_write(operation, started - queued, started.elapsed());
            result
        };
        match self.inner.writer.handle.spawn(timed).await {
            Ok(result) => result,
            Err(error) if error.is_cancelled() => Err(StoreError::Closed),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}

/// Records one write operation: time waiting for the writer thread, and time running on it.
pub(crate) fn record_write(operation: &'static str, waited: Duration, ran: Duration) {
    metrics::histogram!("hato_store_write_wait_seconds", "operation" => operation)
        .record(waited.as_secs_f64());
    metrics::histogram!("hato_store_write_seconds", "operation" => operation)
        .record(ran.as_secs_f64());
}
