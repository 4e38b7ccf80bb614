//! Hato's workers: everything that does I/O on behalf of stored messages.
//!
//! - [`dispatcher`]: claims queued messages lane by lane and submits them through a [`Carrier`],
//!   recording each outcome (sent, retry, failed, expired) in batches.
//! - [`receipts`]: applies delivery reports and stores inbound messages coming from carriers,
//!   acknowledging each to the carrier only once it is stored.
//! - [`webhooks`]: delivers signed status callbacks with retries.
//! - [`smpp_carrier`]: the [`Carrier`] over an SMPP connector: submits, receipts, inbound.
//! - [`simulated`]: the in-process simulated carrier.
//!
//! The API never talks to a carrier: it stores and enqueues, then [`Engine::notify_dispatch`]
//! wakes the dispatcher; or, while the queue has nothing due, it reserves room with
//! [`Engine::reserve_dispatch`], stores the message claimed and hands it over ([`handoff`]).

pub mod carrier;
pub mod clock;
pub mod config;
pub mod dispatcher;
pub mod handoff;
mod inbound;
pub mod metrics_task;
pub mod receipts;
mod recorded;
pub mod retry;
pub mod router;
pub mod secrets;
pub mod simulated;
pub mod smpp_carrier;
pub mod webhooks;

pub use carrier::{
    Carrier, CarrierEvent, DeliveryOutcome, DeliveryReport, InboundReport, OutboundSms,
    SubmitOutcome,
};
pub use config::{EngineConfig, WebhookConfig};
pub use handoff::DispatchReservation;
pub use router::Router;
pub use smpp_carrier::SmppCarrier;

use std::sync::Arc;

use hato_store::Store;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The running workers. Dropping it does not stop them: cancel the shutdown token and await
/// [`Engine::stopped`].
#[derive(Clone)]
pub struct Engine {
    dispatch_wakeup: Arc<Notify>,
    intake: Arc<handoff::Intake>,
    router: Arc<Router>,
    queue_sampler: Arc<metrics_task::QueueSampler>,
    tracker: TaskTracker,
}

impl Engine {
    /// Starts the dispatcher, the receipt handler and the webhook sender.
    /// `events` is the receiving end of the channel the carriers report on.
    pub fn start(
        store: Store,
        config: EngineConfig,
        router: Router,
        events: mpsc::Receiver<CarrierEvent>,
        shutdown: CancellationToken,
    ) -> Engine {
        let tracker = TaskTracker::new();
        let dispatch_wakeup = Arc::new(Notify::new());
        let router = Arc::new(router);
        let config = Arc::new(config);
        let (handoffs, handoffs_rx) = mpsc::unbounded_channel();
        let recorded = Arc::new(recorded::Recorded::new());
        let intake = Arc::new(handoff::Intake::new(
            config.direct_dispatch,
            Arc::new(Semaphore::new(config.dispatch_in_flight)),
            router.clone(),
            i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX),
            handoffs,
        ));
        tracker.spawn(dispatcher::run(
            store.clone(),
            config.clone(),
            router.clone(),
            dispatcher::Links {
                intake: intake.clone(),
                handoffs: handoffs_rx,
                wakeup: dispatch_wakeup.clone(),
                recorded: recorded.clone(),
            },
            shutdown.clone(),
        ));
        tracker.spawn(receipts::run(
            store.clone(),
            config.clone(),
            events,
            recorded,
            shutdown.clone(),
        ));
        tracker.spawn(webhooks::run(
            store.clone(),
            config.clone(),
            shutdown.clone(),
        ));
        tracker.close();
        Engine {
            dispatch_wakeup,
            intake,
            router,
            queue_sampler: Arc::default(),
            tracker,
        }
    }

    /// Tells the dispatcher that new messages are waiting.
    pub fn notify_dispatch(&self) {
        self.dispatch_wakeup.notify_one();
    }

    /// Room in the dispatcher's window for a due message about to be stored, which is then
    /// stored claimed and handed over (see [`handoff`]); `None` when it should be queued
    /// instead (something due is waiting, no carrier is ready, the window is full, or
    /// `direct_dispatch` is off).
    pub fn reserve_dispatch(&self) -> Option<DispatchReservation> {
        self.intake.reserve()
    }

    /// Publishes the gauges only the database knows, for a `/metrics` scrape (the queue
    /// counted at most once per [`metrics_task::QUEUE_SAMPLE_INTERVAL`]).
    pub async fn sample_metrics(&self, store: &Store) {
        self.queue_sampler.sample(store).await;
    }

    /// The carrier connections, for status pages.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Resolves when every worker has finished after shutdown: in-flight submissions recorded,
    /// reports applied.
    pub async fn stopped(&self) {
        self.tracker.wait().await;
    }
}
