//! `hato keys create|list|revoke`: straight on the database, so they work whether or not the
//! server runs. The new key alone goes to stdout, so scripts can capture it.

use std::path::Path;

use anyhow::bail;
use jiff::Timestamp;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (shown only this once).
    Create {
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// The account the key acts for; created if new.
        #[arg(long, default_value = "default")]
        account: String,
        #[command(flatten)]
        data: super::DataArgs,
    },
    /// List keys (never their secrets).
    List {
        /// Only this account's keys.
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        data: super::DataArgs,
    },
    /// Revoke a key by its id (`key_…`) or printed prefix.
    Revoke {
        key: String,
        #[command(flatten)]
        data: super::DataArgs,
    },
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

pub async fn run(config_path: Option<&Path>, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            name,
            account,
            data,
        } => {
            if name.trim().is_empty() || name.len() > 100 {
                bail!("--name must be 1 to 100 characters");
            }
            if account.trim().is_empty() || account.len() > 100 {
                bail!("--account must be 1 to 100 characters");
            }
            let store = data.open(config_path).await?;
            let account = store
                .ensure_account(
                    &account,
                    &hato_api::keys::generate_webhook_secret(),
                    now_ms(),
                )
                .await?;
            let key = hato_api::keys::generate_key();
            let record = store
                .create_api_key(&account.id, &name, &key.hash, &key.prefix, now_ms())
                .await?;
            store.close().await;
            eprintln!(
                "created {} ({}) for account {}; it is shown only now:",
                record.id, record.name, account.name
            );
            println!("{}", key.secret);
        }
        KeysCommand::List { account, data } => {
            let store = data.open(config_path).await?;
            let keys = store.api_keys(account.as_deref()).await?;
            store.close().await;
            println!(
                "{:<36}  {:<16}  {:<16}  {:<14}  {:<20}  REVOKED",
                "ID", "NAME", "ACCOUNT", "PREFIX", "CREATED"
            );
            for key in keys {
                let when = |ms: i64| {
                    Timestamp::from_millisecond(ms)
                        .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
                };
                println!(
                    "{:<36}  {:<16}  {:<16}  {:<14}  {:<20}  {}",
                    key.id,
                    key.name,
                    key.account_name,
                    key.prefix,
                    when(key.created_at).unwrap_or_default(),
                    key.revoked_at
                        .and_then(|t| when(t).ok())
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
        KeysCommand::Revoke { key, data } => {
            let store = data.open(config_path).await?;
            let revoked = store.revoke_api_key(&key, now_ms()).await;
            store.close().await;
            match revoked? {
                Some(record) => eprintln!("revoked {} ({})", record.id, record.name),
                None => bail!("no key has the id or prefix `{key}`"),
            }
        }
    }
    Ok(())
}
