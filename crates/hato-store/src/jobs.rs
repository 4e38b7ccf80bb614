//! The durable job queue: jobs claimed by lease, lanes claimed in priority order.
//!
//! A job is leased, not removed, when claimed: a worker that dies leaves a lease that expires
//! and the job is claimed again, so nothing accepted is lost (at-least-once). PostgreSQL claims
//! with `FOR UPDATE SKIP LOCKED` so several nodes can share a queue; SQLite has one writer and
//! needs no row locks.
//!
//! A claim reads each lane as a range of its own of the `(queue, lane, run_at, id)` index, up
//! to the first job not due, and moves each job it leases to `run_at` = the lease's end. It
//! used to read the index in one pass from the oldest due job, filtering: it stepped over
//! every leased job (left at its old `run_at`, each read from the table for its lease) and,
//! to reach the next lane, over every job of the lane not due yet. With a million messages
//! scheduled, the idle polls alone took 17.5 % of a core (`BENCHMARKS.md`, session 7). Now a
//! leased job is out of the due range until its lease runs out, when it is due again, as it
//! must be.

use hato_core::MessageKind;

use crate::{
    Backend, Result, Store,
    db::{self, Tx},
    sql::{placeholder_list, rows_per_statement, shaped, statement_chunks, values_rows_from},
};

/// Which worker a job is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Send a message to a carrier; `ref_id` is the message id.
    Dispatch,
    /// Deliver a webhook; `ref_id` is the delivery id.
    Webhook,
}

/// Lane of webhook jobs: their own queue, so never competing with dispatch.
pub(crate) const WEBHOOK_LANE: i64 = 0;

impl Queue {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dispatch => "dispatch",
            Self::Webhook => "webhook",
        }
    }

    /// The lanes jobs of this queue go to, in the order they are claimed.
    fn lanes(self) -> Vec<i64> {
        match self {
            Self::Dispatch => MessageKind::ALL.map(MessageKind::lane).to_vec(),
            Self::Webhook => vec![WEBHOOK_LANE],
        }
    }
}

/// A job this worker now holds the lease of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: i64,
    pub ref_id: String,
    /// Claims so far, this one included.
    pub attempts: i64,
}

/// How many jobs wait in one lane, and since when the oldest is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneDepth {
    pub queue: String,
    pub lane: i64,
    /// Due and not held by a worker.
    pub ready: i64,
    /// Not due yet (scheduled, or backing off after a temporary failure).
    pub delayed: i64,
    /// Held by a worker under a lease that has not run out (being sent).
    pub leased: i64,
    pub oldest_ready_at: Option<i64>,
}

/// Leases up to `limit` due jobs of `queue`, lanes in priority order: one `LIMIT`ed range
/// scan per lane, so the not-yet-due jobs of a lane (a million scheduled reminders) are never
/// stepped over on the way to the next one.
pub(crate) async fn claim(
    conn: &mut Tx,
    backend: Backend,
    queue: Queue,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<ClaimedJob>> {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    let lanes = queue.lanes();
    // The text depends on the queue's lanes and the backend's lock clause.
    let variant = (queue as u64) << 1 | u64::from(backend == Backend::Postgres);
    let shape = shaped(variant, lanes.len(), || {
        // `lease_until <= $3` only matters for jobs leased before leases moved `run_at`.
        let per_lane: Vec<String> = lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| {
                format!(
                    "SELECT * FROM (SELECT id, lane, run_at FROM jobs \
                       WHERE queue = $2 AND lane = {lane} AND run_at <= $3 AND lease_until <= $3 \
                       ORDER BY run_at, id LIMIT $4{lock}) AS lane{i}"
                )
            })
            .collect();
        format!(
            "UPDATE jobs SET lease_until = $1, run_at = $1, claimed_at = $3, attempts = attempts + 1 WHERE id IN (\
               SELECT id FROM ({}) AS due ORDER BY lane, run_at, id LIMIT $4) \
             RETURNING id, ref_id, attempts",
            per_lane.join(" UNION ALL ")
        )
    });
    let rows = shape
        .query()
        .bind(lease_until)
        .bind(queue.as_str())
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&mut *conn)
        .await?;
    let mut jobs = rows
        .iter()
        .map(|row| {
            Ok(ClaimedJob {
                id: row.try_get("id")?,
                ref_id: row.try_get("ref_id")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // RETURNING gives no order guarantee; keep claim order stable for callers.
    jobs.sort_by_key(|job| job.id);
    Ok(jobs)
}

/// Enqueues one job per `(ref_id, run_at)`, created at `run_at`, in multi-row statements.
pub(crate) async fn enqueue_many(
    conn: &mut Tx,
    queue: Queue,
    lane: i64,
    jobs: &[(&str, i64)],
) -> Result<()> {
    const COLS: usize = 2;
    for chunk in statement_chunks(jobs, rows_per_statement(COLS)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "INSERT INTO jobs (queue, lane, ref_id, run_at, created_at) \
                 SELECT $1, $2, column1, column2, column2 FROM (VALUES {}) AS v WHERE true \
                 ON CONFLICT (queue, ref_id) DO NOTHING",
                values_rows_from(3, chunk.len(), COLS)
            )
        });
        let mut query = shape.query().bind(queue.as_str()).bind(lane);
        for (ref_id, run_at) in chunk {
            query = query.bind(*ref_id).bind(*run_at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) async fn delete(conn: &mut Tx, ids: &[i64]) -> Result<()> {
    for chunk in statement_chunks(ids, 500) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "DELETE FROM jobs WHERE id IN ({})",
                placeholder_list(1, chunk.len())
            )
        });
        let mut query = shape.query();
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) async fn reschedule(conn: &mut Tx, id: i64, run_at: i64) -> Result<()> {
    db::query("UPDATE jobs SET run_at = $1, lease_until = 0 WHERE id = $2")
        .bind(run_at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Releases every lease, so jobs held by a process that died are claimed again at once:
    /// each is due `now` (its `run_at` marked the end of its lease). Only valid while one node
    /// owns the queue (the single-node deployment).
    pub async fn release_all_leases(&self, now: i64) -> Result<u64> {
        self.on_writer("release_leases", move |store| async move {
            let done = db::query(
                "UPDATE jobs SET lease_until = 0, run_at = CASE WHEN run_at > $1 THEN $1 ELSE run_at END \
                 WHERE lease_until > 0",
            )
            .bind(now)
            .execute(store.write())
            .await?;
            Ok(done.rows_affected())
        })
        .await
    }

    /// Claims up to `limit` due jobs of `queue`, lanes in priority order.
    pub async fn claim_jobs(
        &self,
        queue: Queue,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>> {
        self.on_writer("claim_jobs", move |store| async move {
            let mut tx = store.write().begin().await?;
            let jobs = claim(&mut tx, store.backend(), queue, now, lease_until, limit).await?;
            tx.commit().await?;
            Ok(jobs)
        })
        .await
    }

    /// Jobs per queue and lane: ready now, delayed (scheduled or backing off), leased (being
    /// worked on), and how long the oldest ready one has waited.
    pub async fn queue_depths(&self, now: i64) -> Result<Vec<LaneDepth>> {
        let rows = db::query(
            "SELECT queue, lane, \
               COUNT(CASE WHEN lease_until <= $1 AND run_at <= $1 THEN 1 END) AS ready, \
               COUNT(CASE WHEN lease_until <= $1 AND run_at > $1 THEN 1 END) AS delayed, \
               COUNT(CASE WHEN lease_until > $1 THEN 1 END) AS leased, \
               MIN(CASE WHEN lease_until <= $1 AND run_at <= $1 THEN run_at END) AS oldest \
             FROM jobs GROUP BY queue, lane ORDER BY queue, lane",
        )
        .bind(now)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LaneDepth {
                    queue: row.try_get("queue")?,
                    lane: row.try_get("lane")?,
                    ready: row.try_get("ready")?,
                    delayed: row.try_get("delayed")?,
                    leased: row.try_get("leased")?,
                    oldest_ready_at: row.try_get("oldest")?,
                })
            })
            .collect()
    }
}
