//! `hato serve`: assembles the store, the carriers, the engine and the API, and shuts them down
//! in order. No globals: tests start whole servers in-process on port 0.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use hato_engine::{Carrier, CarrierEvent, Engine, Router, router::Route, simulated};
use hato_store::{Store, StoreOptions};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{config::Config, telemetry};

/// A server started in the background.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub store: Store,
    /// The embedded SMSC simulator, when the configuration runs one.
    pub simulator: Option<hato_smpp::simulator::Simulator>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, finishes in-flight work and waits until everything is closed.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("server task panicked")?
    }

    /// Resolves when the server stops on its own (its shutdown token was cancelled elsewhere).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task panicked")?
    }
}

/// Runs until `shutdown` is cancelled, then drains.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(config, listener, shutdown).await?.wait().await
}

/// Starts everything and returns once the API is listening.
pub async fn start(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningServer> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    let store = Store::open(&url, StoreOptions::default())
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    // Single node: leases held by a previous process are stale, take them back now.
    let released = store.release_all_leases().await?;
    if released > 0 {
        tracing::info!(released, "took back jobs leased by a previous run");
    }

    let carrier_shutdown = CancellationToken::new();
    let (events, events_rx) = mpsc::channel::<CarrierEvent>(16_384);
    let (carriers, simulator) = carriers(&config, events, &carrier_shutdown).await?;
    let routes = config
        .routes
        .iter()
        .map(|r| Route {
            prefixes: r.prefixes.clone(),
            kinds: r.kinds.clone(),
            senders: r.senders.clone(),
            connectors: r.connectors.clone(),
        })
        .collect();
    let router = Router::new(carriers, routes);

    let engine_shutdown = CancellationToken::new();
    let engine = Engine::start(
        store.clone(),
        config.engine(),
        router,
        events_rx,
        engine_shutdown.clone(),
    );
    let state = hato_api::AppState::new(
        store.clone(),
        engine.clone(),
        config.api(),
        Some(telemetry::metrics_handle()),
    );
    let app = hato_api::app(state);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = store.backend().as_str(), "hato is listening");

    let http_shutdown = shutdown.clone();
    let task_store = store.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(http_shutdown.cancelled_owned())
            .await;
        // Order matters: no new requests, then the workers finish what they hold (the
        // carriers still up to take it), then the carriers drain their windows and unbind.
        tracing::info!("shutting down: HTTP closed, draining workers");
        engine_shutdown.cancel();
        engine.stopped().await;
        carrier_shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(10)).await;
        task_store.close().await;
        tracing::info!("stopped");
        served.context("HTTP server failed")
    });
    Ok(RunningServer {
        addr,
        store,
        simulator,
        shutdown,
        task,
    })
}

/// The configured connectors, or the built-in simulator when there are none.
async fn carriers(
    config: &Config,
    events: mpsc::Sender<CarrierEvent>,
    shutdown: &CancellationToken,
) -> anyhow::Result<(
    Vec<Arc<dyn Carrier>>,
    Option<hato_smpp::simulator::Simulator>,
)> {
    let _ = shutdown;
    if config.connectors.is_empty() {
        let simulated = simulated::SimulatedCarrier::new(
            simulated::SimulatedConfig {
                name: "simulator".into(),
                mix: config.simulator.outcomes.clone(),
                report_delay: config.simulator.report_delay.0,
            },
            events,
        );
        return Ok((vec![simulated as Arc<dyn Carrier>], None));
    }
    anyhow::bail!("SMPP connectors are not wired yet")
}
