//! `hato serve`: assembles the store, the carriers, the engine and the API, and shuts them down
//! in order. No globals: tests start whole servers in-process on port 0.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use hato_engine::{
    Carrier, CarrierEvent, Engine, Router, router::Route, simulated, smpp_carrier::SmppCarrier,
};
use hato_smpp::simulator::{Simulator, SimulatorConfig};
use hato_store::{Store, StoreOptions};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{Config, ReplySettings},
    simulator_control::SmppSimulatorControl,
    telemetry,
};

/// A server started in the background.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub store: Store,
    /// The embedded SMSC simulator, when the configuration runs one.
    pub simulator: Option<Simulator>,
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

/// Opens the configured database, creating the SQLite data directory when it is missing.
pub async fn open_store(config: &Config, options: StoreOptions) -> anyhow::Result<Store> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    Store::open(&url, options)
        .await
        .with_context(|| format!("cannot open the database {url}"))
}

/// Starts everything and returns once the API is listening.
pub async fn start(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningServer> {
    // Beside opening the store, before the first request (see `PhoneNumber::warm_up`).
    let region = config.default_region.clone();
    let phone_numbers_ready =
        tokio::task::spawn_blocking(move || hato_core::phone::PhoneNumber::warm_up(&region));
    let store = open_store(&config, config.store_options()).await?;
    // Single node: leases held by a previous process are stale, take them back now.
    let released = store
        .release_all_leases(jiff::Timestamp::now().as_millisecond())
        .await?;
    if released > 0 {
        tracing::info!(released, "took back jobs leased by a previous run");
    }

    let carrier_shutdown = CancellationToken::new();
    let (events, events_rx) = mpsc::channel::<CarrierEvent>(16_384);
    let Carriers {
        carriers,
        connectors,
        simulator,
        simulator_shutdown,
    } = carriers(&config, events, &carrier_shutdown).await?;
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
    let control = simulator
        .clone()
        .map(|s| Arc::new(SmppSimulatorControl(s)) as hato_api::routes::simulator::SharedSimulator);
    let state = hato_api::AppState::new(
        store.clone(),
        engine.clone(),
        config.api(),
        Some(telemetry::metrics_handle()),
        control,
    );
    let app = hato_api::app(state);
    phone_numbers_ready.await?;
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
        for connector in &connectors {
            connector.stopped().await;
        }
        simulator_shutdown.cancel();
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

/// The carriers, plus what must be stopped (in order) after the engine.
struct Carriers {
    carriers: Vec<Arc<dyn Carrier>>,
    connectors: Vec<Arc<SmppCarrier>>,
    simulator: Option<Simulator>,
    simulator_shutdown: CancellationToken,
}

/// The configured connectors, or the built-in simulator when there are none.
async fn carriers(
    config: &Config,
    events: mpsc::Sender<CarrierEvent>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Carriers> {
    let mut built = Carriers {
        carriers: Vec::new(),
        connectors: Vec::new(),
        simulator: None,
        simulator_shutdown: CancellationToken::new(),
    };
    if config.connectors.is_empty() && config.simulator.transport == "inline" {
        let simulated = simulated::SimulatedCarrier::new(
            simulated::SimulatedConfig {
                name: "simulator".into(),
                mix: config.simulator.outcomes.clone(),
                report_delay: config.simulator.report_delay.0,
            },
            events,
        );
        built.carriers.push(simulated);
        return Ok(built);
    }
    let mut connectors = Vec::new();
    if config.connectors.is_empty() {
        // The embedded SMSC simulator on a free loopback port, bound over real SMPP.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot start the SMSC simulator")?;
        let simulator_config = SimulatorConfig {
            receipt_delay: config.simulator.report_delay.0,
            outcomes: config.simulator.outcomes.clone(),
            // A long-running server must not keep every PDU it ever received.
            record: false,
            replies: config
                .simulator
                .replies
                .iter()
                .map(ReplySettings::rule)
                .collect(),
            ..SimulatorConfig::default()
        };
        let simulator =
            Simulator::start(simulator_config, listener, built.simulator_shutdown.clone()).await;
        let addr = simulator.local_addr();
        tracing::info!(%addr, "SMSC simulator listening");
        let mut connector = hato_smpp::ConnectorConfig::new(
            "simulator",
            addr.ip().to_string(),
            addr.port(),
            "hato",
            "hato",
        );
        connector.window = 500;
        connector.binds = 2;
        connectors.push((connector, None));
        built.simulator = Some(simulator);
    } else {
        for settings in &config.connectors {
            let sender = settings
                .default_sender
                .as_deref()
                .map(|s| hato_core::Sender::parse(s, &config.default_region))
                .transpose()
                .map_err(|e| {
                    anyhow::anyhow!("connector `{}`: default_sender: {e}", settings.name)
                })?;
            connectors.push((config.smpp_connector(settings)?, sender));
        }
    }
    for (connector, sender) in connectors {
        let name = connector.name.clone();
        let carrier = SmppCarrier::start(connector, sender, events.clone(), shutdown.clone())
            .map_err(|e| anyhow::anyhow!("connector `{name}`: {e}"))?;
        built.connectors.push(carrier.clone());
        built.carriers.push(carrier);
    }
    Ok(built)
}
