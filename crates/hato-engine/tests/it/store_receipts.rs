//! `Store::record_submit_results` and `Store::apply_receipts` on both backends: a batch of
//! receipts is decided in memory, so these pin down that it behaves as if each receipt were
//! applied alone, in arrival order.

use hato_core::{MessageId, MessageStatus};
use hato_store::{ReceiptOutcome, ReceiptUpdate, Store, SubmitResult, UnmatchedReceipts};

use crate::support::{ACCOUNT, TestDb, new_message, on_both_backends, stored_message};

const CONNECTOR: &str = "smsc";

/// A stored message, claimed and recorded as sent with `carrier_ids` (one per part).
async fn sent(store: &Store, body: &str, carrier_ids: &[&str]) -> MessageId {
    let account = store
        .ensure_account(ACCOUNT, "whsec_x", 0)
        .await
        .expect("account");
    let message = new_message(&account.id, body);
    let id = message.id.clone();
    store.insert_message(message).await.expect("insert");
    let now = jiff::Timestamp::now().as_millisecond();
    let jobs = store
        .claim_dispatch(now + 1, now + 60_000, 10)
        .await
        .expect("claim");
    let job = jobs
        .iter()
        .find(|j| j.message.id == id)
        .expect("claimed its job");
    store
        .record_submit_results(&[SubmitResult::Sent {
            job_id: job.job.id,
            message_id: id.clone(),
            connector: CONNECTOR.into(),
            carrier_ids: carrier_ids.iter().map(|c| c.to_string()).collect(),
            at: now,
        }])
        .await
        .expect("record");
    id
}

fn receipt(ids: &[&str], status: MessageStatus) -> ReceiptUpdate {
    ReceiptUpdate {
        connector: CONNECTOR.into(),
        carrier_ids: ids.iter().map(|c| c.to_string()).collect(),
        status,
        error_code: (status != MessageStatus::Delivered).then(|| "001".to_owned()),
        at: jiff::Timestamp::now().as_millisecond(),
    }
}

fn applied(id: &MessageId, status: Option<MessageStatus>) -> ReceiptOutcome {
    ReceiptOutcome::Applied {
        message_id: id.clone(),
        status,
    }
}

async fn apply(
    store: &Store,
    receipts: &[ReceiptUpdate],
    unmatched: UnmatchedReceipts,
) -> Vec<ReceiptOutcome> {
    store
        .apply_receipts(receipts, unmatched)
        .await
        .expect("apply")
}

async fn status(store: &Store, id: &MessageId) -> MessageStatus {
    stored_message(store, id).await.status
}

async fn the_form_received_wins_over_another_reading(db: &TestDb) {
    let store = db.open().await;
    // Decimal "12" and hexadecimal "c" are the same number: a receipt for "12" (candidates
    // "12", then "c") names the first message, even though the second is newer.
    let decimal = sent(&store, "decimal", &["12"]).await;
    let hex = sent(&store, "hex", &["c"]).await;
    let outcomes = apply(
        &store,
        &[receipt(&["12", "c"], MessageStatus::Delivered)],
        UnmatchedReceipts::Keep,
    )
    .await;
    assert_eq!(
        outcomes,
        vec![applied(&decimal, Some(MessageStatus::Delivered))]
    );
    assert_eq!(status(&store, &decimal).await, MessageStatus::Delivered);
    assert_eq!(status(&store, &hex).await, MessageStatus::Sent);
    store.close().await;
}
on_both_backends!(the_form_received_wins_over_another_reading);

async fn a_batch_applies_receipts_in_arrival_order(db: &TestDb) {
    let store = db.open().await;
    let single = sent(&store, "one part", &["a1"]).await;
    let multipart = sent(&store, "two parts", &["b1", "b2"]).await;
    let outcomes = apply(
        &store,
        &[
            receipt(&["a1"], MessageStatus::Delivered),
            // A second report for a part already final changes nothing.
            receipt(&["a1"], MessageStatus::Undelivered),
            receipt(&["b1"], MessageStatus::Delivered),
            receipt(&["b2"], MessageStatus::Delivered),
            receipt(&["zz"], MessageStatus::Delivered),
        ],
        UnmatchedReceipts::Keep,
    )
    .await;
    assert_eq!(
        outcomes,
        vec![
            applied(&single, Some(MessageStatus::Delivered)),
            applied(&single, None),
            // The multipart message changes once, reported by the receipt that completed it.
            applied(&multipart, None),
            applied(&multipart, Some(MessageStatus::Delivered)),
            ReceiptOutcome::Unmatched,
        ]
    );
    assert_eq!(status(&store, &single).await, MessageStatus::Delivered);
    assert_eq!(status(&store, &multipart).await, MessageStatus::Delivered);
    assert_eq!(store.unmatched_receipt_count().await.expect("count"), 1);
    store.close().await;
}
on_both_backends!(a_batch_applies_receipts_in_arrival_order);

async fn a_receipt_before_its_submit_result_is_applied_with_it(db: &TestDb) {
    let store = db.open().await;
    // The report comes first (in both id forms) and is kept.
    let outcomes = apply(
        &store,
        &[receipt(&["255", "ff"], MessageStatus::Undelivered)],
        UnmatchedReceipts::Keep,
    )
    .await;
    assert_eq!(outcomes, vec![ReceiptOutcome::Unmatched]);
    assert_eq!(store.unmatched_receipt_count().await.expect("count"), 1);
    // The submit result names the id in the other form: the kept report applies at once.
    let id = sent(&store, "early", &["ff"]).await;
    assert_eq!(status(&store, &id).await, MessageStatus::Undelivered);
    assert_eq!(store.unmatched_receipt_count().await.expect("count"), 0);
    store.close().await;
}
on_both_backends!(a_receipt_before_its_submit_result_is_applied_with_it);

async fn a_receipt_returned_unmatched_leaves_nothing_behind(db: &TestDb) {
    // The receipt writer first applies what matches and gets the rest back, to try again once
    // the submit results ahead of them are stored: nothing is kept for those yet.
    let store = db.open().await;
    let id = sent(&store, "known", &["a1"]).await;
    let outcomes = apply(
        &store,
        &[
            receipt(&["a1"], MessageStatus::Delivered),
            receipt(&["b1"], MessageStatus::Delivered),
        ],
        UnmatchedReceipts::Return,
    )
    .await;
    assert_eq!(
        outcomes,
        vec![
            applied(&id, Some(MessageStatus::Delivered)),
            ReceiptOutcome::Unmatched,
        ]
    );
    assert_eq!(status(&store, &id).await, MessageStatus::Delivered);
    assert_eq!(store.unmatched_receipt_count().await.expect("count"), 0);
    // Its part recorded meanwhile, the second try applies it.
    let late = sent(&store, "late", &["b1"]).await;
    let outcomes = apply(
        &store,
        &[receipt(&["b1"], MessageStatus::Delivered)],
        UnmatchedReceipts::Keep,
    )
    .await;
    assert_eq!(
        outcomes,
        vec![applied(&late, Some(MessageStatus::Delivered))]
    );
    assert_eq!(store.unmatched_receipt_count().await.expect("count"), 0);
    store.close().await;
}
on_both_backends!(a_receipt_returned_unmatched_leaves_nothing_behind);

async fn parts_stored_before_their_count_was_kept_are_read_again(db: &TestDb) {
    // A receipt for a message of one part decides it alone; rows from before migration 0004
    // have no count, so the message's parts are read again, and a multipart message still
    // waits for all of them.
    let store = db.open().await;
    let single = sent(&store, "one part", &["a1"]).await;
    let multipart = sent(&store, "two parts", &["b1", "b2"]).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.expect("connect");
    // Each part carries its message's count.
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT carrier_message_id, CAST(part_count AS BIGINT) FROM message_parts ORDER BY carrier_message_id",
    )
    .fetch_all(&pool)
    .await
    .expect("read the counts");
    assert_eq!(
        counts,
        vec![("a1".into(), 1), ("b1".into(), 2), ("b2".into(), 2)]
    );
    sqlx::query("UPDATE message_parts SET part_count = NULL")
        .execute(&pool)
        .await
        .expect("forget the counts");
    pool.close().await;
    let outcomes = apply(
        &store,
        &[
            receipt(&["a1"], MessageStatus::Undelivered),
            receipt(&["b1"], MessageStatus::Delivered),
        ],
        UnmatchedReceipts::Keep,
    )
    .await;
    assert_eq!(
        outcomes,
        vec![
            applied(&single, Some(MessageStatus::Undelivered)),
            applied(&multipart, None),
        ]
    );
    assert_eq!(status(&store, &multipart).await, MessageStatus::Sent);
    let outcomes = apply(
        &store,
        &[receipt(&["b2"], MessageStatus::Expired)],
        UnmatchedReceipts::Keep,
    )
    .await;
    assert_eq!(
        outcomes,
        vec![applied(&multipart, Some(MessageStatus::Expired))]
    );
    let message = stored_message(&store, &single).await;
    assert_eq!(message.status, MessageStatus::Undelivered);
    assert_eq!(message.error.map(|e| e.code).as_deref(), Some("001"));
    store.close().await;
}
on_both_backends!(parts_stored_before_their_count_was_kept_are_read_again);

async fn a_single_part_receipt_carries_its_error_to_the_message(db: &TestDb) {
    // The message of one part takes its status and error from the receipt itself.
    let store = db.open().await;
    let id = sent(&store, "one part", &["c1"]).await;
    let outcomes = apply(
        &store,
        &[receipt(&["c1"], MessageStatus::Expired)],
        UnmatchedReceipts::Keep,
    )
    .await;
    assert_eq!(outcomes, vec![applied(&id, Some(MessageStatus::Expired))]);
    let message = stored_message(&store, &id).await;
    assert_eq!(message.status, MessageStatus::Expired);
    assert_eq!(message.error.map(|e| e.code).as_deref(), Some("001"));
    store.close().await;
}
on_both_backends!(a_single_part_receipt_carries_its_error_to_the_message);
