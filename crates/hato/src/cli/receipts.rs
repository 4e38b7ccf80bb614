//! `hato receipts unmatched`: the delivery receipts that matched no message, read straight
//! from the database, so it works whether or not the server runs.
//!
//! A receipt stays unmatched for a moment when it overtakes its submit response; one that
//! stays for good names a carrier id Hato never got back (another system's message on the
//! same account, a carrier changing ids, a database reset). The count is also on `/metrics`
//! as `hato_receipts_unmatched`.

use std::path::Path;

use anyhow::bail;
use hato_store::{UnmatchedFilter, UnmatchedReceipt};
use jiff::Timestamp;
use serde_json::{Value, json};

#[derive(Debug, clap::Subcommand)]
pub enum ReceiptsCommand {
    /// List receipts that matched no message part, newest first.
    Unmatched {
        /// At most this many (1 to 10,000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only this connector's receipts (its `[[connectors]]` name; `simulator` for the
        /// built-in one).
        #[arg(long)]
        connector: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: super::DataArgs,
    },
}

pub async fn run(config_path: Option<&Path>, command: ReceiptsCommand) -> anyhow::Result<()> {
    match command {
        ReceiptsCommand::Unmatched {
            limit,
            connector,
            json,
            data,
        } => {
            if !(1..=10_000).contains(&limit) {
                bail!("--limit must be 1 to 10,000");
            }
            let store = data.open(config_path).await?;
            let filter = UnmatchedFilter {
                connector: connector.clone(),
                limit,
            };
            let listed = store.unmatched_receipts(&filter).await;
            let total = store.count_unmatched_receipts(connector.as_deref()).await;
            store.close().await;
            let (listed, total) = (listed?, total?);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&as_json(&listed, total))?
                );
            } else {
                print!("{}", table(&listed));
                eprintln!(
                    "{} of {total} unmatched receipt(s){}, newest first",
                    listed.len(),
                    connector
                        .map(|c| format!(" of connector {c}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

fn time(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

fn as_json(receipts: &[UnmatchedReceipt], total: i64) -> Value {
    let data: Vec<Value> = receipts
        .iter()
        .map(|r| {
            json!({
                "connector": r.connector,
                "carrier_message_id": r.carrier_message_id,
                "other_forms": r.other_forms,
                "status": r.status.as_str(),
                "error_code": r.error_code,
                "received_at": time(r.received_at),
            })
        })
        .collect();
    json!({ "data": data, "total": total })
}

fn table(receipts: &[UnmatchedReceipt]) -> String {
    let mut out = format!(
        "{:<24}  {:<16}  {:<24}  {:<11}  {:<5}  ALSO\n",
        "RECEIVED", "CONNECTOR", "CARRIER ID", "STATUS", "ERROR"
    );
    for r in receipts {
        let received = Timestamp::from_millisecond(r.received_at)
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<24}  {:<16}  {:<24}  {:<11}  {:<5}  {}\n",
            received,
            r.connector,
            r.carrier_message_id,
            r.status.as_str(),
            r.error_code.as_deref().unwrap_or("-"),
            if r.other_forms.is_empty() {
                "-".to_owned()
            } else {
                r.other_forms.join(",")
            }
        ));
    }
    out
}
