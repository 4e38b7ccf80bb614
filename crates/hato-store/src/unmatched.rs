//! Reading the delivery receipts that matched no message part, for operators.
//!
//! A receipt whose carrier id matches no recorded part is kept in `unmatched_receipts` (see
//! `apply_receipts`): usually for a moment, until its submit response is recorded, but for
//! good when the carrier reports an id Hato never got back (another system's message, a
//! carrier that changes ids between response and receipt, a receipt for a message sent before
//! the database was reset). Each receipt is stored once per form of its id (hex, decimal…),
//! tied together by `receipt_key`, the form the carrier wrote; this lists each receipt once,
//! under that form, with the other forms beside it.

use hato_core::MessageStatus;

use crate::{
    Result, Store, StoreError,
    db::{self, Row},
    sql::placeholder_list,
};

/// One kept receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedReceipt {
    /// The row id of the receipt as written (increasing in arrival order).
    pub id: i64,
    pub connector: String,
    /// The carrier's message id as the receipt gave it.
    pub carrier_message_id: String,
    /// Other forms of the id it is also looked up by (e.g. hex for a decimal id).
    pub other_forms: Vec<String>,
    /// What the receipt reported: `delivered`, `undelivered` or `expired`.
    pub status: MessageStatus,
    /// The carrier's error code, if it gave one.
    pub error_code: Option<String>,
    /// When Hato received it, unix milliseconds.
    pub received_at: i64,
}

/// What [`Store::unmatched_receipts`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedFilter {
    /// Only receipts of this connector.
    pub connector: Option<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

impl Default for UnmatchedFilter {
    fn default() -> Self {
        Self {
            connector: None,
            limit: 50,
        }
    }
}

/// Ids looked up per statement for their other forms.
const KEYS_PER_QUERY: usize = 500;

fn receipt_from_row(row: &Row) -> Result<UnmatchedReceipt> {
    let status: String = row.try_get("status")?;
    Ok(UnmatchedReceipt {
        id: row.try_get("id")?,
        connector: row.try_get("connector")?,
        carrier_message_id: row.try_get("carrier_message_id")?,
        other_forms: Vec::new(),
        status: MessageStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt(format!("unmatched receipt status {status}")))?,
        error_code: row.try_get("error_code")?,
        received_at: row.try_get("received_at")?,
    })
}

impl Store {
    /// Receipts still waiting for a part to match, newest first. Rows written before ids were
    /// kept in several forms (no `receipt_key`) are listed one by one.
    pub async fn unmatched_receipts(
        &self,
        filter: &UnmatchedFilter,
    ) -> Result<Vec<UnmatchedReceipt>> {
        let rows = db::query(
            "SELECT id, connector, carrier_message_id, status, error_code, received_at \
             FROM unmatched_receipts \
             WHERE (receipt_key IS NULL OR carrier_message_id = receipt_key) \
             AND ($1 IS NULL OR connector = $1) \
             ORDER BY received_at DESC, id DESC LIMIT $2",
        )
        .bind(filter.connector.as_deref())
        .bind(i64::from(filter.limit))
        .fetch_all(self.read())
        .await?;
        let mut receipts = rows
            .iter()
            .map(receipt_from_row)
            .collect::<Result<Vec<_>>>()?;
        if receipts.is_empty() {
            return Ok(receipts);
        }
        // The other forms of those ids, in a few more queries (statements of at most
        // KEYS_PER_QUERY parameters: see `sql::rows_per_statement`).
        let keys: Vec<String> = receipts
            .iter()
            .map(|r| r.carrier_message_id.clone())
            .collect();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let sql = format!(
                "SELECT connector, receipt_key, carrier_message_id FROM unmatched_receipts \
                 WHERE receipt_key IN ({}) AND carrier_message_id <> receipt_key ORDER BY id",
                placeholder_list(1, chunk.len())
            );
            let mut query = db::query(sql);
            for key in chunk {
                query = query.bind(key.as_str());
            }
            for row in &query.fetch_all(self.read()).await? {
                let connector: String = row.try_get("connector")?;
                let key: String = row.try_get("receipt_key")?;
                let form: String = row.try_get("carrier_message_id")?;
                for receipt in receipts
                    .iter_mut()
                    .filter(|r| r.connector == connector && r.carrier_message_id == key)
                {
                    if !receipt.other_forms.contains(&form) {
                        receipt.other_forms.push(form.clone());
                    }
                }
            }
        }
        Ok(receipts)
    }

    /// How many receipts [`Store::unmatched_receipts`] would list without a limit.
    pub async fn count_unmatched_receipts(&self, connector: Option<&str>) -> Result<i64> {
        let row = db::query(
            "SELECT COUNT(*) AS n FROM unmatched_receipts \
             WHERE (receipt_key IS NULL OR carrier_message_id = receipt_key) \
             AND ($1 IS NULL OR connector = $1)",
        )
        .bind(connector)
        .fetch_one(self.read())
        .await?;
        row.try_get("n")
    }
}
