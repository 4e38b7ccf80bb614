//! The dispatch queue on both backends: lanes claimed in priority order past jobs that are not
//! due, leases that keep a job from a second claim until they run out, the depth counts, and
//! the start-up release of stale leases.

use hato_core::{MessageId, MessageKind, MessageStatus};
use hato_store::{DispatchJob, LaneDepth, Queue, Store};

use crate::support::{ACCOUNT, TestDb, account_id, new_message, on_both_backends, stored_message};

const LEASE_MS: i64 = 60_000;

/// Stores a message of `kind`, due at once or (with `send_at`) later.
async fn enqueue(store: &Store, kind: MessageKind, send_at: Option<i64>) -> MessageId {
    let account = store
        .ensure_account(ACCOUNT, "whsec_x", 0)
        .await
        .expect("account");
    let mut message = new_message(&account.id, kind.as_str());
    message.kind = kind;
    if let Some(at) = send_at {
        message.status = MessageStatus::Scheduled;
        message.send_at = Some(at);
    }
    let id = message.id.clone();
    store.insert_message(message).await.expect("insert");
    id
}

async fn claim(store: &Store, now: i64, limit: usize) -> Vec<DispatchJob> {
    store
        .claim_dispatch(now, now + LEASE_MS, limit)
        .await
        .expect("claim")
}

fn ids(jobs: &[DispatchJob]) -> Vec<&MessageId> {
    jobs.iter().map(|job| &job.message.id).collect()
}

fn lane(depths: &[LaneDepth], kind: MessageKind) -> Option<&LaneDepth> {
    depths
        .iter()
        .find(|d| d.queue == Queue::Dispatch.as_str() && d.lane == kind.lane())
}

async fn lanes_are_claimed_in_priority_order_past_jobs_not_due(db: &TestDb) {
    let store = db.open().await;
    let now = jiff::Timestamp::now().as_millisecond() + 1_000;
    // Scheduled jobs lead every lane's index range: a claim must reach past them.
    for kind in MessageKind::ALL {
        for _ in 0..3 {
            enqueue(&store, kind, Some(now + 3_600_000)).await;
        }
    }
    let promotional = enqueue(&store, MessageKind::Promotional, None).await;
    let transactional = enqueue(&store, MessageKind::Transactional, None).await;
    let otp = enqueue(&store, MessageKind::Otp, None).await;

    let first = claim(&store, now, 2).await;
    let mut got = ids(&first);
    got.sort();
    let mut want = vec![&otp, &transactional];
    want.sort();
    assert_eq!(got, want, "OTP and transactional before promotional");
    assert!(
        first
            .iter()
            .all(|job| job.message.status == MessageStatus::Sending)
    );
    let second = claim(&store, now, 10).await;
    assert_eq!(
        ids(&second),
        [&promotional],
        "then promotional; nothing scheduled"
    );
    assert!(claim(&store, now, 10).await.is_empty());

    let depths = store.queue_depths(now).await.expect("depths");
    for kind in MessageKind::ALL {
        let depth = lane(&depths, kind).expect("a lane with jobs");
        assert_eq!(
            (depth.ready, depth.delayed, depth.leased),
            (0, 3, 1),
            "{kind:?}"
        );
        assert_eq!(depth.oldest_ready_at, None);
    }
    store.close().await;
}
on_both_backends!(lanes_are_claimed_in_priority_order_past_jobs_not_due);

async fn a_lease_keeps_a_job_until_it_runs_out(db: &TestDb) {
    let store = db.open().await;
    let now = jiff::Timestamp::now().as_millisecond() + 1_000;
    let id = enqueue(&store, MessageKind::Transactional, None).await;
    let depths = store.queue_depths(now).await.expect("depths");
    let depth = lane(&depths, MessageKind::Transactional).expect("lane");
    assert_eq!((depth.ready, depth.delayed, depth.leased), (1, 0, 0));
    assert!(depth.oldest_ready_at.is_some());

    let first = claim(&store, now, 10).await;
    assert_eq!(ids(&first), [&id]);
    assert_eq!(first[0].job.attempts, 1);
    // Held: not claimed again while the lease runs, however often the dispatcher asks.
    assert!(claim(&store, now + 1, 10).await.is_empty());
    assert!(claim(&store, now + LEASE_MS - 1, 10).await.is_empty());
    // A worker that died never recorded an outcome: once the lease is over the job is due.
    let again = claim(&store, now + LEASE_MS, 10).await;
    assert_eq!(ids(&again), [&id]);
    assert_eq!(again[0].job.attempts, 2);
    store.close().await;
}
on_both_backends!(a_lease_keeps_a_job_until_it_runs_out);

async fn leases_released_at_start_up_are_due_at_once(db: &TestDb) {
    let store = db.open().await;
    let now = jiff::Timestamp::now().as_millisecond() + 1_000;
    let held = enqueue(&store, MessageKind::Transactional, None).await;
    let scheduled = enqueue(&store, MessageKind::Transactional, Some(now + 3_600_000)).await;
    assert_eq!(ids(&claim(&store, now, 10).await), [&held]);

    let released = store.release_all_leases(now).await.expect("release");
    assert_eq!(released, 1, "only the leased job");
    let again = claim(&store, now, 10).await;
    assert_eq!(
        ids(&again),
        [&held],
        "due now, not when its lease would have ended"
    );
    assert!(
        claim(&store, now + 1, 10).await.is_empty(),
        "a scheduled job keeps its time"
    );
    let depths = store.queue_depths(now).await.expect("depths");
    let depth = lane(&depths, MessageKind::Transactional).expect("lane");
    assert_eq!((depth.ready, depth.delayed, depth.leased), (0, 1, 1));
    let mut later = ids(&claim(&store, now + 3_600_000, 10).await)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    later.sort();
    let mut want = vec![held, scheduled];
    want.sort();
    assert_eq!(
        later, want,
        "the scheduled job at its time, the other after its lease"
    );
    store.close().await;
}
on_both_backends!(leases_released_at_start_up_are_due_at_once);

async fn listed(store: &Store, status: MessageStatus) -> Vec<MessageId> {
    let account = account_id(store).await;
    let filter = hato_store::MessageFilter {
        status: Some(status),
        limit: 100,
        ..Default::default()
    };
    let messages = store.messages(&account, &filter).await.expect("list");
    messages.into_iter().map(|m| m.id).collect()
}

async fn a_claimed_message_reads_as_sending_since_its_claim(db: &TestDb) {
    // A claim leaves the message row as it was; its lease is what says `sending`, in reads,
    // filters and cancel, and its outcome stores the claim's time.
    let store = db.open().await;
    // Claims run a little ahead, so the messages stored below are due.
    let now = jiff::Timestamp::now().as_millisecond() + 1_000;
    let waiting = enqueue(&store, MessageKind::Transactional, None).await;
    let claimed = enqueue(&store, MessageKind::Otp, None).await;
    let jobs = claim(&store, now, 1).await;
    assert_eq!(ids(&jobs), vec![&claimed], "the OTP lane goes first");
    assert_eq!(jobs[0].message.status, MessageStatus::Sending);

    let message = stored_message(&store, &claimed).await;
    assert_eq!(message.status, MessageStatus::Sending);
    assert_eq!(
        message.timestamps.sending.map(|t| t.as_millisecond()),
        Some(now)
    );
    assert_eq!(
        stored_message(&store, &waiting).await.status,
        MessageStatus::Queued
    );
    assert_eq!(
        listed(&store, MessageStatus::Sending).await,
        vec![claimed.clone()]
    );
    assert_eq!(
        listed(&store, MessageStatus::Queued).await,
        vec![waiting.clone()]
    );

    let (after, cancelled) = store
        .cancel_message(&account_id(&store).await, &claimed, now + 1)
        .await
        .expect("cancel")
        .expect("exists");
    assert!(!cancelled, "a message being sent cannot be cancelled");
    assert_eq!(after.status, MessageStatus::Sending);

    store
        .record_submit_results(&[hato_store::SubmitResult::Sent {
            job_id: jobs[0].job.id,
            message_id: claimed.clone(),
            connector: "smsc".into(),
            carrier_ids: vec!["c1".into()],
            at: now + 5,
        }])
        .await
        .expect("record");
    let sent = stored_message(&store, &claimed).await;
    assert_eq!(sent.status, MessageStatus::Sent);
    assert_eq!(
        sent.timestamps.sending.map(|t| t.as_millisecond()),
        Some(now)
    );
    assert_eq!(
        sent.timestamps.sent.map(|t| t.as_millisecond()),
        Some(now + 5)
    );
    store.close().await;
}
on_both_backends!(a_claimed_message_reads_as_sending_since_its_claim);

async fn a_lease_that_ran_out_reads_as_the_stored_status(db: &TestDb) {
    // Its process died: the message waits to be claimed again, and may be cancelled.
    let store = db.open().await;
    let now = jiff::Timestamp::now().as_millisecond();
    let id = enqueue(&store, MessageKind::Transactional, None).await;
    let jobs = store
        .claim_dispatch(now + 1_000, now - 1, 1)
        .await
        .expect("claim");
    assert_eq!(ids(&jobs), vec![&id]);
    let message = stored_message(&store, &id).await;
    assert_eq!(message.status, MessageStatus::Queued);
    assert_eq!(message.timestamps.sending, None);
    assert_eq!(
        listed(&store, MessageStatus::Sending).await,
        Vec::<MessageId>::new()
    );
    let (after, cancelled) = store
        .cancel_message(&account_id(&store).await, &id, now + 1_000)
        .await
        .expect("cancel")
        .expect("exists");
    assert!(cancelled);
    assert_eq!(after.status, MessageStatus::Cancelled);
    store.close().await;
}
on_both_backends!(a_lease_that_ran_out_reads_as_the_stored_status);
