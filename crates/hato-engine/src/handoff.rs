//! Direct dispatch: a due message handed to the dispatcher by the request that stores it.
//!
//! A message accepted while the queue has nothing due would otherwise be written `queued`,
//! claimed by the dispatcher in a transaction of its own (lease the job, mark it `sending`,
//! read it back) and only then submitted. Instead the API reserves room in the dispatcher's
//! window first ([`crate::Engine::reserve_dispatch`]), stores the message already claimed
//! (`hato_store::NewMessage::claim_on_insert`: `sending`, its job leased) and, after the commit,
//! hands it over in memory. That is one transaction less per message on the single writer,
//! and no wait for the next claim.
//!
//! Single sends only. A batch is bulk work whose acceptance rate is what its sender waits
//! for; handing thousands over at once made the dispatcher compete with the batch's own
//! acceptance on the writer (measured: 56,000 → 43,000 msg/s accepted, while end to end went
//! 17,000 → 20,000), so batches are queued and claimed in lane order as before.
//!
//! It changes nothing that can be observed except speed:
//! - Durability: the message and its leased job commit before `202`, as a claim leaves them.
//!   A process that dies before recording the outcome leaves a lease, taken back at start-up
//!   (or when it runs out), so the message is sent again: at-least-once, as for claims.
//! - Priority by lane: a reservation is granted only while the dispatcher's last claim came
//!   back short (nothing due waits in the queue for a handed-over message to overtake), and
//!   the window's semaphore is fair, so a claim waiting for room is served before any new
//!   reservation.
//! - A message being sent cannot be cancelled, whichever way it was claimed.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use hato_store::DispatchJob;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::{Router, clock::now_ms};

/// Jobs handed over, with their room in the window (one permit each).
pub(crate) struct Handoff {
    pub jobs: Vec<DispatchJob>,
    pub permits: OwnedSemaphorePermit,
}

/// The dispatcher's side of direct dispatch, shared with the API through the engine.
pub(crate) struct Intake {
    enabled: bool,
    /// Room in the dispatcher's window, shared with its claims.
    pub in_flight: Arc<Semaphore>,
    /// Whether the last claim found the queue empty of due jobs.
    drained: AtomicBool,
    router: Arc<Router>,
    lease_ms: i64,
    handoffs: mpsc::UnboundedSender<Handoff>,
}

impl Intake {
    pub(crate) fn new(
        enabled: bool,
        in_flight: Arc<Semaphore>,
        router: Arc<Router>,
        lease_ms: i64,
        handoffs: mpsc::UnboundedSender<Handoff>,
    ) -> Self {
        Self {
            enabled,
            in_flight,
            drained: AtomicBool::new(false),
            router,
            lease_ms,
            handoffs,
        }
    }

    /// Called after every claim: whether it left due jobs behind.
    pub(crate) fn set_drained(&self, drained: bool) {
        self.drained.store(drained, Ordering::Release);
    }

    /// Room for up to `count` messages, or `None` when they should go through the queue.
    pub(crate) fn reserve(&self, count: usize) -> Option<DispatchReservation> {
        if !self.enabled
            || !self.drained.load(Ordering::Acquire)
            || !self.router.carriers().iter().any(|c| c.is_ready())
        {
            return None;
        }
        let count = count.min(self.in_flight.available_permits());
        if count == 0 {
            return None;
        }
        let permits = self
            .in_flight
            .clone()
            .try_acquire_many_owned(u32::try_from(count).ok()?)
            .ok()?;
        Some(DispatchReservation {
            permits,
            lease_until: now_ms() + self.lease_ms,
            handoffs: self.handoffs.clone(),
        })
    }
}

/// Room reserved in the dispatcher's window for messages about to be stored claimed.
/// Dropping it (the insert failed, or was an idempotent replay) gives the room back.
pub struct DispatchReservation {
    permits: OwnedSemaphorePermit,
    lease_until: i64,
    handoffs: mpsc::UnboundedSender<Handoff>,
}

impl DispatchReservation {
    /// How many messages it has room for.
    pub fn count(&self) -> usize {
        self.permits.num_permits()
    }

    /// The lease to store the claimed jobs with (`NewMessage::claim_on_insert`).
    pub fn lease_until(&self) -> i64 {
        self.lease_until
    }

    /// Hands the stored, claimed messages to the dispatcher; room for any not stored is
    /// given back. If the dispatcher has stopped, the jobs stay leased and are sent after
    /// the next start.
    pub fn hand_over(mut self, mut jobs: Vec<DispatchJob>) {
        jobs.truncate(self.count());
        if jobs.is_empty() {
            return;
        }
        let Some(permits) = self.permits.split(jobs.len()) else {
            return;
        };
        if self.handoffs.send(Handoff { jobs, permits }).is_err() {
            tracing::debug!("dispatcher stopped: handed-over jobs wait for their lease");
        }
    }
}
