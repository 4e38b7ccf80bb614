//! Delivery receipts: carrier ids per part, matching reports to parts, and reports that came
//! before their part was recorded.
//!
//! Receipts arrive at the message rate, so a batch of them is applied in a few multi-row
//! statements: load every part any receipt may name, decide in memory (in arrival order, so
//! two reports for one part behave as if applied one after the other), then write the part
//! updates, the message changes and the kept unmatched reports.

use std::collections::{HashMap, HashSet};

use hato_core::{MessageId, MessageStatus};

use crate::{
    Result, Store, StoreError,
    db::{self, Tx},
    sql::{placeholder_list, rows_per_statement, shaped, statement_chunks, values_rows},
    transitions::{self, Change, Outbox},
};

/// A delivery report to apply to the part it names.
#[derive(Debug, Clone)]
pub struct ReceiptUpdate {
    pub connector: String,
    /// Every form of the carrier's id that may have been stored, the form as received first
    /// (it wins over the others when two parts match).
    pub carrier_ids: Vec<String>,
    /// `Delivered`, `Undelivered` or `Expired`.
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub at: i64,
}

/// What a receipt did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiptOutcome {
    /// The part was updated; the message changed to this status (None: waiting for more parts,
    /// or the message was already final).
    Applied {
        message_id: MessageId,
        status: Option<MessageStatus>,
    },
    /// No part has this id yet; kept to apply when the part appears.
    Unmatched,
}

/// What to do with receipts that match no part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedReceipts {
    /// Keep them in `unmatched_receipts`, to apply when the part is recorded.
    Keep,
    /// Write nothing for them: the caller tries them again (their part may be about to be
    /// recorded) and keeps them then.
    Return,
}

impl Store {
    /// Applies delivery reports in one transaction; those that match no part are kept or
    /// returned as `unmatched`.
    pub async fn apply_receipts(
        &self,
        receipts: &[ReceiptUpdate],
        unmatched: UnmatchedReceipts,
    ) -> Result<Vec<ReceiptOutcome>> {
        let receipts = receipts.to_vec();
        self.on_writer("receipts", move |store| async move {
            store.apply_receipts_now(&receipts, unmatched).await
        })
        .await
    }

    async fn apply_receipts_now(
        &self,
        receipts: &[ReceiptUpdate],
        unmatched: UnmatchedReceipts,
    ) -> Result<Vec<ReceiptOutcome>> {
        let mut tx = self.write().begin().await?;
        let mut outbox = Outbox::default();
        let outcomes = apply_batch(&mut tx, &mut outbox, receipts).await?;
        if unmatched == UnmatchedReceipts::Keep {
            let unmatched: Vec<&ReceiptUpdate> = receipts
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| **outcome == ReceiptOutcome::Unmatched)
                .map(|(receipt, _)| receipt)
                .collect();
            keep_unmatched(&mut tx, &unmatched).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Applies kept receipts whose part exists by now; returns how many were applied.
    ///
    /// A receipt can race its own submit response: on PostgreSQL the transaction recording
    /// the part and the one keeping the receipt as unmatched may run at once, neither seeing
    /// the other's row. Calling this periodically settles such receipts shortly after.
    pub async fn reconcile_unmatched_receipts(&self, limit: usize) -> Result<usize> {
        self.on_writer("reconcile_receipts", move |store| async move {
            store.reconcile_unmatched_now(limit).await
        })
        .await
    }

    async fn reconcile_unmatched_now(&self, limit: usize) -> Result<usize> {
        let mut tx = self.write().begin().await?;
        let rows = db::query(
            "SELECT DISTINCT u.connector, u.carrier_message_id FROM unmatched_receipts u \
             JOIN message_parts p ON p.connector = u.connector AND p.carrier_message_id = u.carrier_message_id \
             LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut tx)
        .await?;
        let mut by_connector: HashMap<String, Vec<String>> = HashMap::new();
        for row in &rows {
            by_connector
                .entry(row.try_get("connector")?)
                .or_default()
                .push(row.try_get("carrier_message_id")?);
        }
        let mut outbox = Outbox::default();
        for (connector, ids) in &by_connector {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            apply_early_receipts(&mut tx, &mut outbox, connector, &ids).await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Receipts still waiting for a part to match.
    pub async fn unmatched_receipt_count(&self) -> Result<i64> {
        let row = db::query(
            "SELECT COUNT(DISTINCT connector || ' ' || COALESCE(receipt_key, carrier_message_id)) AS n FROM unmatched_receipts",
        )
            .fetch_one(self.read())
            .await?;
        row.try_get("n")
    }
}

/// Records the carrier id of every part of sent messages: `(message, connector, carrier ids
/// in part order, at)`. A retried submit may have stored parts already: the newest ids win.
pub(crate) async fn insert_parts(
    conn: &mut Tx,
    sent: &[(&MessageId, &str, &[String], i64)],
) -> Result<()> {
    // One row per (message, part): an upsert may not touch a row twice in one statement.
    let mut rows: Vec<(&str, i64, &str, &str, i64, i64)> = Vec::with_capacity(sent.len());
    let mut seen: HashMap<(&str, i64), usize> = HashMap::with_capacity(sent.len());
    for (message_id, connector, carrier_ids, at) in sent {
        for (index, carrier_id) in carrier_ids.iter().enumerate() {
            let row = (
                message_id.as_str(),
                index as i64 + 1,
                *connector,
                carrier_id.as_str(),
                *at,
                carrier_ids.len() as i64,
            );
            match seen.get(&(row.0, row.1)) {
                Some(&i) => rows[i] = row,
                None => {
                    seen.insert((row.0, row.1), rows.len());
                    rows.push(row);
                }
            }
        }
    }
    const COLS: usize = 6;
    for chunk in statement_chunks(&rows, rows_per_statement(COLS)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "INSERT INTO message_parts (message_id, part, connector, carrier_message_id, updated_at, part_count, status) \
                 SELECT column1, column2, column3, column4, column5, column6, 'sent' FROM (VALUES {}) AS v WHERE true \
                 ON CONFLICT (message_id, part) DO UPDATE SET connector = excluded.connector, \
                   carrier_message_id = excluded.carrier_message_id, status = 'sent', updated_at = excluded.updated_at, \
                   part_count = excluded.part_count",
                values_rows(chunk.len(), COLS)
            )
        });
        let mut query = shape.query();
        for (message_id, part, connector, carrier_id, at, part_count) in chunk {
            query = query
                .bind(*message_id)
                .bind(*part)
                .bind(*connector)
                .bind(*carrier_id)
                .bind(*at)
                .bind(*part_count);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Receipts that arrived before the submit response carrying their id: apply them now.
pub(crate) async fn apply_early_receipts(
    conn: &mut Tx,
    outbox: &mut Outbox,
    connector: &str,
    carrier_ids: &[&str],
) -> Result<()> {
    let mut receipts = Vec::new();
    let mut keys = Vec::new();
    for chunk in statement_chunks(carrier_ids, ID_LIST_CHUNK) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "DELETE FROM unmatched_receipts WHERE connector = $1 AND carrier_message_id IN ({}) \
                 RETURNING carrier_message_id, receipt_key, status, error_code, received_at",
                placeholder_list(2, chunk.len())
            )
        });
        let mut query = shape.query().bind(connector);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let key: Option<String> = row.try_get("receipt_key")?;
            if let Some(key) = key {
                // One receipt kept as rows for several id forms is applied once.
                if keys.contains(&key) {
                    continue;
                }
                keys.push(key);
            }
            let status: String = row.try_get("status")?;
            receipts.push(ReceiptUpdate {
                connector: connector.to_owned(),
                carrier_ids: vec![row.try_get("carrier_message_id")?],
                status: MessageStatus::parse(&status)
                    .ok_or_else(|| StoreError::corrupt(format!("receipt status {status}")))?,
                error_code: row.try_get("error_code")?,
                at: row.try_get("received_at")?,
            });
        }
    }
    if receipts.is_empty() {
        return Ok(());
    }
    // The receipt's rows for its other id forms are spent too.
    for chunk in statement_chunks(&keys, ID_LIST_CHUNK) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "DELETE FROM unmatched_receipts WHERE connector = $1 AND receipt_key IN ({})",
                placeholder_list(2, chunk.len())
            )
        });
        let mut query = shape.query().bind(connector);
        for key in chunk {
            query = query.bind(key.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    receipts.sort_by_key(|receipt| receipt.at);
    apply_batch(conn, outbox, &receipts).await?;
    Ok(())
}

/// Ids per `IN (…)` list.
const ID_LIST_CHUNK: usize = 900;

/// A stored part as a batch of receipts sees it.
struct Part {
    message_id: String,
    part: i64,
    status: String,
    updated_at: i64,
    /// The parts its message was submitted in; `None` on rows stored before it was kept.
    part_count: Option<i64>,
}

/// A part update decided in memory, to write.
struct PartUpdate<'a> {
    message_id: &'a str,
    part: i64,
    status: MessageStatus,
    error_code: Option<&'a str>,
    at: i64,
    /// The message has this part alone: its status is the message's.
    only_part: bool,
}

async fn apply_batch(
    conn: &mut Tx,
    outbox: &mut Outbox,
    receipts: &[ReceiptUpdate],
) -> Result<Vec<ReceiptOutcome>> {
    let (mut parts, by_carrier_id) = load_parts(conn, receipts).await?;
    // Decide each receipt in arrival order against the parts as earlier receipts left them.
    let mut outcomes = Vec::with_capacity(receipts.len());
    // (part index, receipt, index of its outcome) for each receipt that moved a part.
    let mut applied: Vec<(usize, &ReceiptUpdate, usize)> = Vec::new();
    for receipt in receipts {
        let best = receipt
            .carrier_ids
            .iter()
            .enumerate()
            .flat_map(|(form, id)| {
                by_carrier_id
                    .get(&(receipt.connector.as_str(), id.as_str()))
                    .into_iter()
                    .flatten()
                    .map(move |&index| (form, index))
            })
            // The id in the form received first (another reading of it may be another
            // message's id), then a part still waiting (an old message may share the id),
            // then the newest.
            .min_by_key(|&(form, index)| {
                let part = &parts[index];
                (
                    form,
                    part.status != "sent",
                    std::cmp::Reverse(part.updated_at),
                )
            });
        let Some((_, index)) = best else {
            outcomes.push(ReceiptOutcome::Unmatched);
            continue;
        };
        let part = &mut parts[index];
        outcomes.push(ReceiptOutcome::Applied {
            message_id: MessageId::from_trusted(part.message_id.clone()),
            status: None,
        });
        if part.status != "sent" {
            // A duplicate report for a part already final: nothing moves.
            continue;
        }
        part.status = receipt.status.as_str().to_owned();
        part.updated_at = receipt.at;
        applied.push((index, receipt, outcomes.len() - 1));
    }
    let updates: Vec<PartUpdate<'_>> = applied
        .iter()
        .map(|&(index, receipt, _)| PartUpdate {
            message_id: &parts[index].message_id,
            part: parts[index].part,
            status: receipt.status,
            error_code: receipt.error_code.as_deref(),
            at: receipt.at,
            only_part: parts[index].part_count == Some(1),
        })
        .collect();
    write_part_updates(conn, &updates).await?;
    let parts_now = part_states(conn, &updates).await?;
    let changes = message_changes(&parts_now, &updates);
    let changed = transitions::advance_many(conn, outbox, &changes).await?;
    // The message's change is reported by the last receipt of the batch that moved one of its
    // parts, as if the receipts had been applied one at a time.
    let mut changed: HashMap<&str, MessageStatus> = changed
        .iter()
        .map(|moved| (moved.message_id.as_str(), moved.status))
        .collect();
    for &(_, _, outcome) in applied.iter().rev() {
        if let ReceiptOutcome::Applied { message_id, status } = &mut outcomes[outcome]
            && let Some(changed) = changed.remove(message_id.as_str())
        {
            *status = Some(changed);
        }
    }
    Ok(outcomes)
}

/// Every part any of the receipts may name, and an index by `(connector, carrier id)`.
async fn load_parts<'r>(
    conn: &mut Tx,
    receipts: &'r [ReceiptUpdate],
) -> Result<(Vec<Part>, HashMap<(&'r str, &'r str), Vec<usize>>)> {
    let mut ids_by_connector: Vec<(&str, Vec<&str>)> = Vec::new();
    for receipt in receipts {
        let ids = match ids_by_connector
            .iter_mut()
            .find(|(connector, _)| *connector == receipt.connector)
        {
            Some((_, ids)) => ids,
            None => {
                ids_by_connector.push((&receipt.connector, Vec::new()));
                &mut ids_by_connector.last_mut().expect("just pushed").1
            }
        };
        ids.extend(receipt.carrier_ids.iter().map(String::as_str));
    }
    let mut parts = Vec::new();
    let mut index: HashMap<(&str, &str), Vec<usize>> = HashMap::with_capacity(receipts.len());
    for (connector, mut ids) in ids_by_connector {
        ids.sort_unstable();
        ids.dedup();
        // Rows are keyed by the receipt's own string, which outlives this function's rows.
        let own: HashSet<&'r str> = ids.iter().copied().collect();
        for chunk in statement_chunks(&ids, ID_LIST_CHUNK) {
            let shape = shaped(0, chunk.len(), || {
                format!(
                    "SELECT message_id, part, carrier_message_id, status, updated_at, part_count FROM message_parts \
                     WHERE connector = $1 AND carrier_message_id IN ({})",
                    placeholder_list(2, chunk.len())
                )
            });
            let mut query = shape.query().bind(connector);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                let carrier_id: String = row.try_get("carrier_message_id")?;
                let Some(&id) = own.get(carrier_id.as_str()) else {
                    continue;
                };
                index.entry((connector, id)).or_default().push(parts.len());
                parts.push(Part {
                    message_id: row.try_get("message_id")?,
                    part: row.try_get("part")?,
                    status: row.try_get("status")?,
                    updated_at: row.try_get("updated_at")?,
                    part_count: row.try_get("part_count")?,
                });
            }
        }
    }
    Ok((parts, index))
}

async fn write_part_updates(conn: &mut Tx, updates: &[PartUpdate<'_>]) -> Result<()> {
    const COLS: usize = 5;
    for chunk in statement_chunks(updates, rows_per_statement(COLS)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "UPDATE message_parts SET status = v.column3, error_code = v.column4, updated_at = v.column5 \
                 FROM (VALUES {}) AS v \
                 WHERE message_parts.message_id = v.column1 AND message_parts.part = v.column2 \
                   AND message_parts.status = 'sent'",
                values_rows(chunk.len(), COLS)
            )
        });
        let mut query = shape.query();
        for update in chunk {
            query = query
                .bind(update.message_id)
                .bind(update.part)
                .bind(update.status.as_str())
                .bind(update.error_code)
                .bind(update.at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Each updated message's parts as they are now: `(status, error_code)`. A message of one
/// part is what its update made it; only messages of several parts (or of parts stored
/// before their count was kept) are read again, for their other parts.
async fn part_states(
    conn: &mut Tx,
    updates: &[PartUpdate<'_>],
) -> Result<HashMap<String, Vec<(String, Option<String>)>>> {
    let mut parts: HashMap<String, Vec<(String, Option<String>)>> =
        HashMap::with_capacity(updates.len());
    let mut ids: Vec<&str> = Vec::new();
    for update in updates {
        if update.only_part {
            // The only part has one update per batch (a second receipt finds it final).
            parts.insert(
                update.message_id.to_owned(),
                vec![(
                    update.status.as_str().to_owned(),
                    update.error_code.map(str::to_owned),
                )],
            );
        } else {
            ids.push(update.message_id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    for chunk in statement_chunks(&ids, ID_LIST_CHUNK) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "SELECT message_id, status, error_code FROM message_parts WHERE message_id IN ({})",
                placeholder_list(1, chunk.len())
            )
        });
        let mut query = shape.query();
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            parts
                .entry(row.try_get("message_id")?)
                .or_default()
                .push((row.try_get("status")?, row.try_get("error_code")?));
        }
    }
    Ok(parts)
}

/// The status change each updated message's parts add up to, if they are all final. The
/// latest update of a message decides its time; the error code is that of a part in the
/// message's final status (an undelivered message shows why its undelivered part failed,
/// whichever part's receipt came last).
fn message_changes<'a>(
    parts: &'a HashMap<String, Vec<(String, Option<String>)>>,
    updates: &[PartUpdate<'a>],
) -> Vec<Change<'a>> {
    let mut latest: HashMap<&str, &PartUpdate<'a>> = HashMap::with_capacity(updates.len());
    for update in updates {
        latest.insert(update.message_id, update);
    }
    let mut changes = Vec::new();
    for (message_id, update) in latest {
        let Some(parts) = parts.get(message_id) else {
            continue;
        };
        let statuses: Vec<String> = parts.iter().map(|(status, _)| status.clone()).collect();
        let Some(status) = aggregate_part_statuses(&statuses) else {
            continue;
        };
        let error = (status != MessageStatus::Delivered)
            .then(|| {
                parts
                    .iter()
                    .filter(|(part_status, _)| part_status.as_str() == status.as_str())
                    .find_map(|(_, code)| code.as_deref())
                    .or(update.error_code)
            })
            .flatten();
        changes.push(Change {
            message_id: update.message_id,
            status,
            at: update.at,
            connector: None,
            error: error.map(|code| (code, "reported by the carrier")),
        });
    }
    changes
}

/// Keeps receipts that matched no part: one row per form of the id, so the part matches
/// whichever form its submit response used; `receipt_key` ties the rows of one receipt.
async fn keep_unmatched(conn: &mut Tx, receipts: &[&ReceiptUpdate]) -> Result<()> {
    // One row per form of each receipt's id: (receipt, form).
    let mut rows: Vec<(&ReceiptUpdate, &str)> = Vec::new();
    for receipt in receipts {
        for candidate in receipt
            .carrier_ids
            .iter()
            .map(String::as_str)
            .chain(receipt.carrier_ids.is_empty().then_some(""))
        {
            rows.push((receipt, candidate));
        }
    }
    const COLS: usize = 6;
    for chunk in statement_chunks(&rows, rows_per_statement(COLS)) {
        let shape = shaped(0, chunk.len(), || {
            format!(
                "INSERT INTO unmatched_receipts (connector, carrier_message_id, receipt_key, status, error_code, received_at) \
                 VALUES {}",
                values_rows(chunk.len(), COLS)
            )
        });
        let mut query = shape.query();
        for (receipt, carrier_id) in chunk {
            let key = receipt
                .carrier_ids
                .first()
                .map(String::as_str)
                .unwrap_or_default();
            query = query
                .bind(receipt.connector.as_str())
                .bind(*carrier_id)
                .bind(key)
                .bind(receipt.status.as_str())
                .bind(receipt.error_code.as_deref())
                .bind(receipt.at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The message status its parts add up to, once every part has a final report: delivered
/// only if all parts were; otherwise the first non-delivered outcome.
fn aggregate_part_statuses(statuses: &[String]) -> Option<MessageStatus> {
    if statuses.iter().any(|s| s == "sent") {
        return None;
    }
    statuses
        .iter()
        .find(|s| *s != "delivered")
        .map_or(Some(MessageStatus::Delivered), |s| {
            MessageStatus::parse(s).or(Some(MessageStatus::Undelivered))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_is_delivered_only_when_every_part_is() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(aggregate_part_statuses(&s(&["delivered", "sent"])), None);
        assert_eq!(
            aggregate_part_statuses(&s(&["delivered", "delivered"])),
            Some(MessageStatus::Delivered)
        );
        assert_eq!(
            aggregate_part_statuses(&s(&["delivered", "expired"])),
            Some(MessageStatus::Expired)
        );
        assert_eq!(
            aggregate_part_statuses(&s(&["undelivered", "delivered"])),
            Some(MessageStatus::Undelivered)
        );
    }
}
