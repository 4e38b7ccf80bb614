//! Command-line interface: the server, operator commands and an API client.

mod client;
mod keys;
mod preview;
mod receipts;
mod serve;
mod smsc;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use hato_store::{Store, StoreOptions};

use crate::config::{Config, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "hato",
    version,
    about = "Hato (鳩): a self-hosted SMS platform"
)]
pub struct Cli {
    /// Configuration file (default: ./hato.toml when it exists).
    #[arg(long, global = true, env = "HATO_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the database is, for commands that open it directly.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Data directory (SQLite database).
    #[arg(long, env = "HATO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://…` or `postgres://…`), instead of the data directory.
    #[arg(long, env = "HATO_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DataArgs {
    /// Opens the store these arguments (or the configuration) point at, with a small pool:
    /// operator commands work beside a running server.
    pub async fn open(&self, config_path: Option<&Path>) -> anyhow::Result<Store> {
        let config = Config::load(
            config_path,
            Overrides {
                data_dir: self.data_dir.clone(),
                database_url: self.database_url.clone(),
                ..Overrides::default()
            },
        )?;
        crate::server::open_store(
            &config,
            StoreOptions {
                max_connections: 2,
                ..config.store_options()
            },
        )
        .await
    }
}

/// How to reach a running server.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Base URL of the Hato API.
    #[arg(long, env = "HATO_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key (create one with `hato keys create`).
    #[arg(long, env = "HATO_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: API, dispatcher, webhooks and carriers (the SMSC simulator unless
    /// connectors are configured).
    Serve(serve::ServeArgs),
    /// Create, list and revoke API keys (works with the server stopped or running).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Inspect delivery receipts (works with the server stopped or running).
    #[command(subcommand)]
    Receipts(receipts::ReceiptsCommand),
    /// Send one message through a running server.
    Send(client::SendArgs),
    /// Encoding, segments and cost of a text, without sending it.
    Preview(preview::PreviewArgs),
    /// Run the SMSC simulator on its own (real SMPP 3.4).
    Smsc(smsc::SmscArgs),
    /// Read messages from a running server.
    #[command(subcommand)]
    Messages(client::MessagesCommand),
    /// Measure throughput, latency and memory of a server (spawned here by default).
    Bench(crate::bench::BenchArgs),
}

pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::serve(cli.config.as_deref(), args).await,
        Command::Keys(command) => keys::run(cli.config.as_deref(), command).await,
        Command::Receipts(command) => receipts::run(cli.config.as_deref(), command).await,
        Command::Send(args) => client::send(args).await,
        Command::Preview(args) => preview::run(cli.config.as_deref(), args),
        Command::Messages(command) => client::messages(command).await,
        Command::Bench(args) => crate::bench::run(cli.config.as_deref(), args).await,
        Command::Smsc(args) => smsc::run(args).await,
    }
}
