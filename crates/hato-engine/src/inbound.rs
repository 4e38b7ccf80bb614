//! Storing inbound (mobile-originated) messages for the receipt handler.
//!
//! Every inbound message belongs to one account, configured by name
//! (`EngineConfig::inbound_account`) and resolved to an id on first use, creating the
//! account if it does not exist. A simple rule for a single-tenant deployment; routing by
//! the `to` number (each account owning its numbers and short codes) is the natural next
//! step for several tenants.
//!
//! Nothing is acknowledged to the carrier before it is stored. When no account is configured,
//! or the store fails, the carrier is told "not now" and delivers the message again later.

use hato_core::AccountId;
use hato_store::{InboundOptions, InboundOutcome, NewInbound, Store};
use tokio::sync::OnceCell;

use crate::{EngineConfig, InboundReport, clock::now_ms, secrets::generate_webhook_secret};

pub(crate) struct InboundStore {
    store: Store,
    account_name: Option<String>,
    account: OnceCell<AccountId>,
    options: InboundOptions,
}

impl InboundStore {
    pub(crate) fn new(store: Store, config: &EngineConfig) -> Self {
        Self {
            store,
            account_name: config.inbound_account.clone(),
            account: OnceCell::new(),
            options: InboundOptions {
                default_region: config.default_region.clone(),
                dedup_window: config.inbound_dedup_window,
            },
        }
    }

    /// The account inbound messages go to; `None` when none is configured or it cannot be
    /// resolved right now (both logged).
    async fn account(&self) -> Option<&AccountId> {
        let Some(name) = self.account_name.as_deref() else {
            tracing::warn!(
                "an inbound message arrived but no inbound account is configured; refused"
            );
            return None;
        };
        let resolved = self
            .account
            .get_or_try_init(|| async {
                self.store
                    .ensure_account(name, &generate_webhook_secret(), now_ms())
                    .await
                    .map(|account| account.id)
            })
            .await;
        match resolved {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::error!(error = ?error, account = name, "resolving the inbound account failed");
                None
            }
        }
    }

    /// Stores `reports` in one transaction, then acknowledges each to its carrier.
    pub(crate) async fn store(&self, reports: Vec<InboundReport>, now: i64) {
        let (messages, acks): (Vec<NewInbound>, Vec<_>) = match self.account().await {
            Some(account) => reports
                .into_iter()
                .map(|report| {
                    let message = NewInbound {
                        account_id: account.clone(),
                        connector: report.connector,
                        from: report.from,
                        to: report.to,
                        body: report.body,
                        received_at: now,
                    };
                    (message, report.ack)
                })
                .unzip(),
            None => {
                for report in reports {
                    if let Some(ack) = report.ack {
                        let _ = ack.send(false);
                    }
                }
                return;
            }
        };
        let stored = match self.store.insert_inbound(&messages, &self.options).await {
            Ok(outcomes) => {
                for (message, outcome) in messages.iter().zip(&outcomes) {
                    let result = match outcome {
                        InboundOutcome::Stored(id) => {
                            tracing::info!(message_id = %id, connector = %message.connector, "inbound message stored");
                            "stored"
                        }
                        InboundOutcome::Duplicate(id) => {
                            tracing::info!(message_id = %id, connector = %message.connector, "inbound message delivered again; kept once");
                            "duplicate"
                        }
                    };
                    metrics::counter!("hato_inbound_total", "result" => result, "connector" => message.connector.clone())
                        .increment(1);
                }
                true
            }
            Err(error) => {
                tracing::error!(error = ?error, count = messages.len(), "storing inbound messages failed");
                false
            }
        };
        for ack in acks.into_iter().flatten() {
            let _ = ack.send(stored);
        }
    }
}
