//! `hato serve`.

use std::{net::SocketAddr, path::Path};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::{
    config::{Config, Overrides},
    server, telemetry,
};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: super::DataArgs,
    /// Address of the HTTP API.
    #[arg(long, env = "HATO_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// A real SMSC instead of the simulator: smpp://SYSTEM_ID:PASSWORD@HOST:PORT (repeatable).
    #[arg(long, env = "HATO_SMSC", value_delimiter = ',')]
    pub smsc: Vec<String>,
}

pub async fn serve(config_path: Option<&Path>, args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(
        config_path,
        Overrides {
            data_dir: args.data.data_dir,
            listen: args.listen,
            database_url: args.data.database_url,
            smsc: args.smsc,
        },
    )?;
    telemetry::init_logging(config.log_format == "json");
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let shutdown = CancellationToken::new();
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received, shutting down");
        signal_token.cancel();
    });
    server::run(config, listener, shutdown).await
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
