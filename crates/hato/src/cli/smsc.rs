//! `hato smsc`: the SMSC simulator on its own, for development, demos, load tests and other
//! ESMEs. It speaks real SMPP 3.4; an optional HTTP control port makes handsets reply and
//! injects faults, and `--reply` rules make them answer what they are sent.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use hato_api::routes::simulator::{MAX_MO_COUNT, SimulatedFault, SimulatedMo, SimulatorControl};
use hato_core::simulation::OutcomeMix;
use hato_smpp::simulator::{HandsetReply, IdFormat, Simulator, SimulatorConfig};
use tokio_util::sync::CancellationToken;

use crate::{config::HumanDuration, simulator_control::SmppSimulatorControl, telemetry};

#[derive(Debug, clap::Args)]
pub struct SmscArgs {
    /// SMPP address to listen on.
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub listen: SocketAddr,
    /// Require this system_id (and --password) to bind; any is accepted when absent.
    #[arg(long, requires = "password")]
    pub system_id: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
    /// Delay between a submit_sm and its delivery receipt.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub receipt_delay: HumanDuration,
    /// Relative weight of delivered outcomes.
    #[arg(long, default_value_t = 100)]
    pub delivered: u32,
    /// Relative weight of undelivered outcomes.
    #[arg(long, default_value_t = 0)]
    pub undelivered: u32,
    /// Relative weight of expired outcomes.
    #[arg(long, default_value_t = 0)]
    pub expired: u32,
    /// Relative weight of submissions refused outright.
    #[arg(long, default_value_t = 0)]
    pub rejected: u32,
    /// Form of message ids in submit_sm_resp: hex or decimal.
    #[arg(long, default_value = "hex")]
    pub submit_ids: String,
    /// Form of message ids in receipts: hex or decimal.
    #[arg(long, default_value = "decimal")]
    pub receipt_ids: String,
    /// HTTP control address: POST /mo, POST /faults, GET /stats (same bodies as /v1/simulator).
    #[arg(long)]
    pub control: Option<SocketAddr>,
    /// Most deliver_sm (receipts, MO) a session has unanswered; the rest wait their turn.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub deliver_window: u32,
    /// A handset answer, TEXT=REPLY: a message containing TEXT (any case; empty for every
    /// message) is answered REPLY, from its number, after --reply-delay. Repeatable; the first
    /// match answers.
    #[arg(long = "reply", value_name = "TEXT=REPLY", value_parser = parse_reply)]
    pub replies: Vec<(String, String)>,
    /// How long a handset takes to answer (see --reply).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub reply_delay: HumanDuration,
}

fn parse_reply(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((contains, reply)) if !reply.is_empty() => Ok((contains.into(), reply.into())),
        _ => Err("expected TEXT=REPLY, e.g. \"confirm=1\" (TEXT may be empty)".into()),
    }
}

fn parse_duration(text: &str) -> Result<HumanDuration, String> {
    humantime::parse_duration(text)
        .map(HumanDuration)
        .map_err(|e| format!("not a duration like 100ms or 2s: {e}"))
}

fn id_format(text: &str) -> anyhow::Result<IdFormat> {
    match text {
        "hex" => Ok(IdFormat::Hex),
        "decimal" => Ok(IdFormat::Decimal),
        other => anyhow::bail!("`{other}` is not hex or decimal"),
    }
}

pub async fn run(args: SmscArgs) -> anyhow::Result<()> {
    telemetry::init_logging(false);
    let config = SimulatorConfig {
        credentials: args.system_id.clone().zip(args.password.clone()),
        submit_ids: id_format(&args.submit_ids).context("--submit-ids")?,
        receipt_ids: id_format(&args.receipt_ids).context("--receipt-ids")?,
        receipt_delay: args.receipt_delay.0,
        outcomes: OutcomeMix {
            delivered: args.delivered,
            undelivered: args.undelivered,
            expired: args.expired,
            rejected: args.rejected,
        },
        record: false,
        deliver_window: args.deliver_window as usize,
        replies: args
            .replies
            .iter()
            .map(|(contains, reply)| HandsetReply {
                to_prefix: String::new(),
                contains: contains.clone(),
                reply: reply.clone(),
                delay: args.reply_delay.0,
            })
            .collect(),
        ..SimulatorConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let shutdown = CancellationToken::new();
    let simulator = Simulator::start(config, listener, shutdown.clone()).await;
    eprintln!(
        "SMSC simulator listening on smpp://{}",
        simulator.local_addr()
    );
    let control = Arc::new(SmppSimulatorControl(simulator.clone()));
    if let Some(address) = args.control {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        eprintln!("control API on http://{address} (POST /mo, POST /faults, GET /stats)");
        let app = Router::new()
            .route("/stats", get(stats))
            .route("/mo", post(mo))
            .route("/faults", post(fault))
            .with_state(control.clone());
        let token = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await;
        });
    }
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = report.tick() => eprintln!("{}", control.stats()),
        }
    }
    shutdown.cancel();
    simulator.stopped().await;
    Ok(())
}

type Control = State<Arc<SmppSimulatorControl>>;

async fn stats(State(control): Control) -> Json<serde_json::Value> {
    Json(control.stats())
}

async fn mo(
    State(control): Control,
    Json(mo): Json<SimulatedMo>,
) -> (StatusCode, Json<serde_json::Value>) {
    let refused = |message: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": message })),
        )
    };
    if !(1..=MAX_MO_COUNT).contains(&mo.count()) {
        return refused(format!("`count` must be 1 to {MAX_MO_COUNT}"));
    }
    let messages = mo.count();
    // Many messages take a while to build and queue: off the async workers.
    match tokio::task::spawn_blocking(move || control.send_mo(&mo)).await {
        Ok(Ok(pdus)) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "messages": messages, "pdus": pdus })),
        ),
        Ok(Err(message)) => refused(message),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": error.to_string() })),
        ),
    }
}

async fn fault(
    State(control): Control,
    Json(fault): Json<SimulatedFault>,
) -> (StatusCode, Json<serde_json::Value>) {
    match control.inject(&fault) {
        Ok(()) => (StatusCode::NO_CONTENT, Json(serde_json::Value::Null)),
        Err(message) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": message })),
        ),
    }
}
