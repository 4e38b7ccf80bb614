//! `Store::insert_inbound` on both backends: normalisation, the webhook in the same
//! transaction, and de-duplication of redelivered messages.

use std::time::Duration;

use hato_core::MessageStatus;
use hato_store::{InboundOptions, InboundOutcome, MessageFilter, NewInbound, Store};

use crate::support::{ACCOUNT, TestDb, on_both_backends};

const WINDOW: Duration = Duration::from_secs(600);

fn mo(store_account: &hato_core::AccountId, body: &str, at: i64) -> NewInbound {
    NewInbound {
        account_id: store_account.clone(),
        connector: "smsc".into(),
        from: "090-1111-2222".into(),
        to: "12345".into(),
        body: body.into(),
        received_at: at,
    }
}

async fn setup(db: &TestDb) -> (Store, hato_store::Account) {
    let store = db.open().await;
    let account = store
        .ensure_account(ACCOUNT, "whsec_x", 0)
        .await
        .expect("account");
    let account = store
        .set_webhook_url(&account.id, Some("https://example.test/hooks"), 0)
        .await
        .expect("url");
    (store, account)
}

async fn inbound_is_stored_and_announced(db: &TestDb) {
    let (store, account) = setup(db).await;
    let options = InboundOptions::default();
    let at = 1_700_000_000_000;
    let outcomes = store
        .insert_inbound(
            &[mo(&account.id, "YES", at), mo(&account.id, "NO", at)],
            &options,
        )
        .await
        .expect("insert");
    assert!(matches!(
        outcomes[..],
        [InboundOutcome::Stored(_), InboundOutcome::Stored(_)]
    ));
    let message = store
        .message(&account.id, outcomes[0].message_id())
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(message.status, MessageStatus::Received);
    assert_eq!(message.from.as_deref(), Some("+819011112222"));
    assert_eq!(message.to, "12345");
    assert_eq!(message.segments, 1);
    assert_eq!(message.created_at.as_millisecond(), at);
    let listed = store
        .messages(
            &account.id,
            &MessageFilter {
                direction: Some("inbound".into()),
                from: Some("+819011112222".into()),
                limit: 10,
                ..MessageFilter::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    let outbound = store
        .messages(
            &account.id,
            &MessageFilter {
                direction: Some("outbound".into()),
                limit: 10,
                ..MessageFilter::default()
            },
        )
        .await
        .expect("list");
    assert!(outbound.is_empty());
    let deliveries = store
        .message_webhook_deliveries(&account.id, &message.id)
        .await
        .expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event_type, "message.received");
    assert_eq!(deliveries[0].url, "https://example.test/hooks");
    store.close().await;
}
on_both_backends!(inbound_is_stored_and_announced);

async fn redelivered_inbound_is_stored_once(db: &TestDb) {
    let (store, account) = setup(db).await;
    let options = InboundOptions {
        dedup_window: WINDOW,
        ..InboundOptions::default()
    };
    let window = WINDOW.as_millis() as i64;
    // Just before a bucket boundary, so the redelivery falls in the next bucket.
    let at = 1_700_000_000_000 / window * window + window - 1;
    let first = store
        .insert_inbound(&[mo(&account.id, "YES", at)], &options)
        .await
        .expect("insert");
    let InboundOutcome::Stored(id) = first[0].clone() else {
        panic!("first copy stored: {first:?}");
    };
    // Again in the same batch, and again a little later across the boundary.
    let again = store
        .insert_inbound(
            &[
                mo(&account.id, "YES", at + 5),
                mo(&account.id, "YES", at + 2_000),
            ],
            &options,
        )
        .await
        .expect("insert");
    assert_eq!(
        again,
        vec![
            InboundOutcome::Duplicate(id.clone()),
            InboundOutcome::Duplicate(id.clone())
        ]
    );
    // A different text, or the same much later, is a new message.
    let other = store
        .insert_inbound(
            &[
                mo(&account.id, "NO", at),
                mo(&account.id, "YES", at + 3 * window),
            ],
            &options,
        )
        .await
        .expect("insert");
    assert!(other.iter().all(|o| matches!(o, InboundOutcome::Stored(_))));
    let deliveries = store
        .message_webhook_deliveries(&account.id, &id)
        .await
        .expect("deliveries");
    assert_eq!(
        deliveries.len(),
        1,
        "one webhook for the redelivered message"
    );
    store.close().await;
}
on_both_backends!(redelivered_inbound_is_stored_once);
