//! Durable commits without the writer waiting for the disk (SQLite, `synchronous = FULL`).
//!
//! With `synchronous = FULL` SQLite syncs the write-ahead log inside every `COMMIT`, on the
//! writer thread: while the disk takes its few milliseconds (4 ms on the machines we measure
//! on), no other transaction can run, so the single writer spends a large part of its time
//! waiting rather than writing. Instead the write connection runs with `synchronous =
//! NORMAL` (a commit appends its frames to the log and returns; SQLite still syncs before and
//! after each checkpoint) and this syncer thread makes the log durable behind it:
//!
//! 1. after its `COMMIT`, a transaction takes the next commit number ([`SyncBehind::committed`])
//!    and releases the connection, so the next transaction runs at once;
//! 2. it then waits ([`SyncBehind::durable`]) until the syncer has synced the log *after* that
//!    commit: the syncer reads the latest commit number, then calls `fdatasync` on the log,
//!    which covers every frame written before it began, so one sync serves every commit made
//!    while the previous one ran (group commit again, one level down);
//! 3. only then does the transaction's caller hear that it committed.
//!
//! So nothing is acknowledged before it is on disk, exactly as with `FULL`. What changes is
//! that other connections may read a commit a few milliseconds before it is durable; a power
//! loss in that window takes back data nobody was told was stored. A process crash loses
//! nothing: the frames are in the operating system's cache. After a failed sync the syncer
//! refuses every later wait, since Linux may have dropped the pages it could not write: the
//! store then reports each commit as failed until it is restarted.

use std::{
    fs::File,
    path::PathBuf,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::watch;

use crate::{Result, StoreError};

/// The handle transactions use; cheap to clone. The thread stops when the last one is dropped.
#[derive(Clone)]
pub(crate) struct SyncBehind {
    shared: Arc<Shared>,
    _stop: Arc<Stop>,
}

struct Shared {
    /// Commits made on the write connection, in log order.
    committed: AtomicU64,
    demand: Mutex<Demand>,
    wake: Condvar,
    /// The highest commit known durable, or why none will be any more.
    synced: watch::Sender<Synced>,
}

#[derive(Default)]
struct Demand {
    /// The highest commit someone waits for.
    wanted: u64,
    stopping: bool,
}

#[derive(Clone, Debug)]
enum Synced {
    Through(u64),
    Failed(Arc<str>),
}

/// Tells the thread to finish when the last handle goes.
struct Stop(Arc<Shared>);

impl Drop for Stop {
    fn drop(&mut self) {
        lock(&self.0.demand).stopping = true;
        self.0.wake.notify_one();
    }
}

fn lock(demand: &Mutex<Demand>) -> std::sync::MutexGuard<'_, Demand> {
    demand.lock().unwrap_or_else(|e| e.into_inner())
}

impl SyncBehind {
    /// Starts the syncer of the write-ahead log at `log` (`<database>-wal`), opened when
    /// first needed: SQLite creates it with the first write.
    pub(crate) fn start(log: PathBuf) -> std::io::Result<Self> {
        let (synced, _) = watch::channel(Synced::Through(0));
        let shared = Arc::new(Shared {
            committed: AtomicU64::new(0),
            demand: Mutex::new(Demand::default()),
            wake: Condvar::new(),
            synced,
        });
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("hato-sync".into())
            .spawn(move || run(&thread_shared, log))?;
        Ok(Self {
            _stop: Arc::new(Stop(Arc::clone(&shared))),
            shared,
        })
    }

    /// Counts a commit just made on the write connection (call it before releasing the
    /// connection, so numbers follow the log's order) and returns its number.
    pub(crate) fn committed(&self) -> u64 {
        self.shared.committed.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Waits until commit `number` is on disk.
    pub(crate) async fn durable(&self, number: u64) -> Result<()> {
        {
            let mut demand = lock(&self.shared.demand);
            if demand.wanted < number {
                demand.wanted = number;
                self.shared.wake.notify_one();
            }
        }
        let mut synced = self.shared.synced.subscribe();
        let state = synced
            .wait_for(|state| match state {
                Synced::Through(through) => *through >= number,
                Synced::Failed(_) => true,
            })
            .await
            .map_err(|_| StoreError::Closed)?
            .clone();
        match state {
            Synced::Through(_) => Ok(()),
            Synced::Failed(why) => Err(StoreError::Sync(why.to_string())),
        }
    }

    /// The highest commit known to be on disk (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn synced_through(&self) -> u64 {
        match &*self.shared.synced.borrow() {
            Synced::Through(through) => *through,
            Synced::Failed(_) => 0,
        }
    }
}

/// The syncer: waits for demand, syncs the log once for every commit made so far, repeats.
fn run(shared: &Shared, log: PathBuf) {
    let mut file: Option<File> = None;
    let mut through = 0;
    loop {
        {
            let mut demand = lock(&shared.demand);
            while demand.wanted <= through && !demand.stopping {
                demand = shared.wake.wait(demand).unwrap_or_else(|e| e.into_inner());
            }
            if demand.wanted <= through {
                return;
            }
        }
        // Every commit counted by now has written its frames: the sync covers them.
        let target = shared.committed.load(Ordering::Acquire);
        let started = std::time::Instant::now();
        let outcome = match &file {
            Some(file) => file.sync_data(),
            None => File::open(&log).and_then(|opened| {
                let synced = opened.sync_data();
                file = Some(opened);
                synced
            }),
        };
        metrics::histogram!("hato_store_log_sync_seconds").record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(()) => {
                through = target;
                shared.synced.send_replace(Synced::Through(target));
            }
            Err(error) => {
                tracing::error!(%error, log = %log.display(), "syncing the database log failed; commits are refused until restart");
                shared.synced.send_replace(Synced::Failed(
                    format!("syncing {}: {error}", log.display()).into(),
                ));
                // Later waits fail at once: park until the store goes away.
                let mut demand = lock(&shared.demand);
                while !demand.stopping {
                    demand = shared.wake.wait(demand).unwrap_or_else(|e| e.into_inner());
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_is_durable_only_after_a_sync_that_began_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("db-wal");
        std::fs::write(&log, b"frames").expect("log");
        let sync = SyncBehind::start(log).expect("start");
        let first = sync.committed();
        let second = sync.committed();
        assert_eq!((first, second), (1, 2));
        assert_eq!(
            sync.synced_through(),
            0,
            "nothing synced before anyone waits"
        );
        sync.durable(first).await.expect("durable");
        // The sync that answered began after both commits were counted.
        assert_eq!(sync.synced_through(), 2);
        sync.durable(second).await.expect("already durable");
        let many: Vec<u64> = (0..100).map(|_| sync.committed()).collect();
        let waits = many.iter().map(|n| sync.durable(*n));
        for result in futures::future::join_all(waits).await {
            result.expect("durable");
        }
        assert_eq!(sync.synced_through(), 102);
    }

    #[tokio::test]
    async fn a_failed_sync_fails_every_later_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        // No log file: opening it fails, as a failing disk would.
        let sync = SyncBehind::start(dir.path().join("missing-wal")).expect("start");
        let number = sync.committed();
        let error = sync.durable(number).await.expect_err("cannot sync");
        assert!(error.to_string().contains("missing-wal"), "{error}");
        let later = sync.committed();
        assert!(
            sync.durable(later).await.is_err(),
            "refused after a failure"
        );
    }
}
