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
//! Apart from a `202` that may show the message `sending` already, nothing changes but speed:
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

/// A job handed over, with its room in the window.
pub(crate) struct Handoff {
    pub job: DispatchJob,
    pub permit: OwnedSemaphorePermit,
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

    /// Room for one message, or `None` when it should go through the queue.
    pub(crate) fn reserve(&self) -> Option<DispatchReservation> {
        if !self.enabled
            || !self.drained.load(Ordering::Acquire)
            || !self.router.carriers().iter().any(|c| c.is_ready())
        {
            return None;
        }
        let permit = self.in_flight.clone().try_acquire_owned().ok()?;
        Some(DispatchReservation {
            permit,
            lease_until: now_ms() + self.lease_ms,
            handoffs: self.handoffs.clone(),
        })
    }
}

/// Room reserved in the dispatcher's window for a message about to be stored claimed.
/// Dropping it (the insert failed, or was an idempotent replay) gives the room back.
pub struct DispatchReservation {
    permit: OwnedSemaphorePermit,
    lease_until: i64,
    handoffs: mpsc::UnboundedSender<Handoff>,
}

impl DispatchReservation {
    /// The lease to store the claimed job with (`NewMessage::claim_on_insert`).
    pub fn lease_until(&self) -> i64 {
        self.lease_until
    }

    /// Hands the stored, claimed message to the dispatcher. If the dispatcher has stopped,
    /// the job stays leased and is sent after the next start.
    pub fn hand_over(self, job: DispatchJob) {
        let handoff = Handoff {
            job,
            permit: self.permit,
        };
        if self.handoffs.send(handoff).is_err() {
            tracing::debug!("dispatcher stopped: the handed-over job waits for its lease");
        }
    }
}
