//! What the store's single SQLite writer spends on a message's life, without HTTP or SMPP
//! around it: `cargo bench -p hato-store --bench lifecycle [-- MESSAGES [ROUNDS]]`.
//!
//! Each round opens a fresh database in a temporary directory and takes MESSAGES (default
//! 20,000) through the writes `hato bench --scenario single --transport smpp` makes for
//! each of them:
//! 1. **insert**: 256 concurrent single-message inserts, claimed on insert (group commit),
//!    recipients spread over the range as `hato bench` spreads them;
//! 2. **submit**: their submit results (`sent`, one carrier id each), in batches of 64;
//! 3. **receipt**: their `DELIVRD` receipts, in batches of 64, one group behind, so the
//!    database holds messages in every state as it does under load.
//!
//! With `--drain` the messages are queued first instead (batch inserts of 1,000: **fill**)
//! and taken from the queue 200 at a time (**claim**), as in `hato bench --scenario drain`.
//!
//! It prints, per phase and in all, the writer thread's CPU per message (`hato-writer`'s
//! `/proc` times: the SQL work itself, which end-to-end runs can only estimate) and the wall
//! time per message, as the median of ROUNDS (default 5) rounds with the fastest and slowest.
//! `--sql "DROP INDEX …"` runs statements on each fresh database first, to measure a schema
//! change before writing its migration.
//! Run under `valgrind --tool=callgrind` (one round) the instruction count is nearly the
//! same from run to run whatever else the machine does, which makes it the sharper A/B of
//! two schemas or statements on a shared machine. No figure is asserted; they go to
//! BENCHMARKS.md.

use std::time::{Duration, Instant};

use hato_core::{AccountId, MessageId, MessageKind, MessageStatus};
use hato_store::{
    ClaimedJob, InsertOutcome, NewMessage, ReceiptUpdate, Store, StoreOptions, SubmitResult,
    UnmatchedReceipts,
};

// The server's allocator (SQLite's allocations included), as in `hato`'s main.rs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const IN_FLIGHT: usize = 256;
const RESULT_BATCH: usize = 64;
/// Jobs per claim in the drain, as `[dispatch] batch`'s default.
const CLAIM_LIMIT: usize = 200;
/// Messages per batch insert filling the drain's queue, as `hato bench --batch-size 1000`.
const FILL_BATCH: usize = 1_000;
const CONNECTOR: &str = "sim";
const BODY: &str = "Your verification code is 482913. It expires in 10 minutes.";

#[derive(Default, Clone, Copy)]
struct Phase {
    writer_cpu: Duration,
    wall: Duration,
}

#[derive(Default, Clone, Copy)]
struct Round {
    insert: Phase,
    claim: Phase,
    submit: Phase,
    receipt: Phase,
}

impl Round {
    /// The phases of a round in `drain` mode or not, in order, and then their sum.
    fn phases(&self, drain: bool) -> Vec<(&'static str, Phase)> {
        let mut phases = vec![(if drain { "fill" } else { "insert" }, self.insert)];
        if drain {
            phases.push(("claim", self.claim));
        }
        phases.push(("submit result", self.submit));
        phases.push(("receipt", self.receipt));
        let all = phases
            .iter()
            .fold(Phase::default(), |sum, (_, phase)| Phase {
                writer_cpu: sum.writer_cpu + phase.writer_cpu,
                wall: sum.wall + phase.wall,
            });
        phases.push(("all", all));
        phases
    }
}

fn main() {
    let options = Options::from_args();
    let (messages, rounds) = (options.messages, options.rounds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let results: Vec<Round> = (0..rounds)
        .map(|_| runtime.block_on(round(&options)))
        .collect();
    let mode = if options.drain { "drain" } else { "single" };
    println!(
        "{mode}: {messages} messages per round, {rounds} rounds; µs per message, median (min–max)"
    );
    let phases: Vec<Vec<(&str, Phase)>> = results.iter().map(|r| r.phases(options.drain)).collect();
    for (index, (name, _)) in phases[0].iter().enumerate() {
        let per_message = |pick: fn(&Phase) -> Duration| {
            summary(
                phases
                    .iter()
                    .map(|round| pick(&round[index].1).as_secs_f64() * 1e6 / messages as f64)
                    .collect(),
            )
        };
        println!(
            "{name:<14} writer CPU {}   wall {}",
            per_message(|p| p.writer_cpu),
            per_message(|p| p.wall)
        );
    }
}

/// `[MESSAGES [ROUNDS]] [--drain] [--sql STATEMENTS]`; other `--` flags (cargo's `--bench`)
/// are ignored.
struct Options {
    messages: usize,
    rounds: usize,
    /// Queue every message first (batch inserts) and claim them from the queue, as
    /// `hato bench --scenario drain` does, instead of single inserts claimed on insert.
    drain: bool,
    /// Run on each fresh database before the round, to measure a schema change (an index
    /// dropped or added) before writing its migration.
    sql: Option<String>,
}

impl Options {
    fn from_args() -> Options {
        let mut positional = Vec::new();
        let mut sql = None;
        let mut drain = false;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--drain" {
                drain = true;
            } else if arg == "--sql" {
                sql = args.next();
            } else if !arg.starts_with("--") {
                positional.push(arg);
            }
        }
        let number = |i: usize, default| {
            positional
                .get(i)
                .map(|a| a.parse().expect("MESSAGES and ROUNDS are numbers"))
                .unwrap_or(default)
        };
        Options {
            messages: number(0, 20_000),
            rounds: number(1, 5).max(1),
            drain,
            sql,
        }
    }
}

async fn round(options: &Options) -> Round {
    let messages = options.messages;
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("hato.db").display());
    let store = Store::open(&url, StoreOptions::default())
        .await
        .expect("open the store");
    if let Some(sql) = &options.sql {
        // The store's writer sees the new schema at its next statement.
        rusqlite::Connection::open(dir.path().join("hato.db"))
            .and_then(|conn| conn.execute_batch(sql))
            .expect("the --sql statements");
    }
    let account = store
        .ensure_account("bench", "whsec_bench", now())
        .await
        .expect("account")
        .id;
    let mut timings = Round::default();
    let mut carrier_number = 0x1_0000_u64;
    let mut delivered_behind: Vec<String> = Vec::new();
    if options.drain {
        timed(&mut timings.insert, fill_queue(&store, &account, messages)).await;
    }
    let mut sent = 0;
    while sent < messages {
        let jobs = if options.drain {
            let claimed = timed(&mut timings.claim, async {
                store
                    .claim_dispatch(now(), now() + 60_000, CLAIM_LIMIT)
                    .await
                    .expect("claim")
            })
            .await;
            assert!(!claimed.is_empty(), "every queued message is due");
            claimed.into_iter().map(|claimed| claimed.job).collect()
        } else {
            let group = IN_FLIGHT.min(messages - sent);
            timed(
                &mut timings.insert,
                insert_group(&store, &account, sent, group),
            )
            .await
        };
        let group = jobs.len();
        let mut carrier_ids = Vec::with_capacity(jobs.len());
        let results: Vec<SubmitResult> = jobs
            .into_iter()
            .map(|job| {
                carrier_number += 1;
                let carrier_id = format!("{carrier_number:x}");
                carrier_ids.push(carrier_id.clone());
                SubmitResult::Sent {
                    job_id: job.id,
                    message_id: MessageId::from_trusted(job.ref_id),
                    connector: CONNECTOR.to_owned(),
                    carrier_ids: vec![carrier_id],
                    at: now(),
                }
            })
            .collect();
        timed(&mut timings.submit, async {
            for batch in results.chunks(RESULT_BATCH) {
                store.record_submit_results(batch).await.expect("submit");
            }
        })
        .await;
        timed(
            &mut timings.receipt,
            apply_receipts(&store, &delivered_behind),
        )
        .await;
        delivered_behind = carrier_ids;
        sent += group;
    }
    timed(
        &mut timings.receipt,
        apply_receipts(&store, &delivered_behind),
    )
    .await;
    store.close().await;
    timings
}

/// Queues `messages` due messages in batch inserts of [`FILL_BATCH`], as the drain's fill.
async fn fill_queue(store: &Store, account: &AccountId, messages: usize) {
    for first in (0..messages).step_by(FILL_BATCH) {
        let batch = (first..messages.min(first + FILL_BATCH))
            .map(|index| new_message(account, index))
            .collect();
        store.insert_batch(batch, None).await.expect("batch insert");
    }
}

async fn insert_group(
    store: &Store,
    account: &AccountId,
    first: usize,
    count: usize,
) -> Vec<ClaimedJob> {
    let inserts = (first..first + count).map(|index| {
        let mut message = new_message(account, index);
        message.claim_on_insert(now() + 60_000);
        let store = store.clone();
        tokio::spawn(async move { store.insert_message(message).await })
    });
    let mut jobs = Vec::with_capacity(count);
    for insert in futures::future::join_all(inserts).await {
        match insert.expect("insert task").expect("insert") {
            InsertOutcome::Inserted { claimed: Some(job) } => jobs.push(job),
            other => panic!("a claimed insert gave {other:?}"),
        }
    }
    jobs
}

async fn apply_receipts(store: &Store, carrier_ids: &[String]) {
    let receipts: Vec<ReceiptUpdate> = carrier_ids
        .iter()
        .map(|id| ReceiptUpdate {
            connector: CONNECTOR.to_owned(),
            carrier_ids: vec![id.clone()],
            status: MessageStatus::Delivered,
            error_code: None,
            at: now(),
        })
        .collect();
    for batch in receipts.chunks(RESULT_BATCH) {
        store
            .apply_receipts(batch, UnmatchedReceipts::Keep)
            .await
            .expect("receipts");
    }
}

fn new_message(account: &AccountId, index: usize) -> NewMessage {
    // Recipients spread over the range, as `hato bench` spreads them.
    let subscriber = index as u64 * 7_919_993 % 10_000_000;
    NewMessage::queued(
        account.clone(),
        MessageKind::Transactional,
        format!("+81901{subscriber:07}"),
        BODY.to_owned(),
        now(),
    )
}

/// Runs `work`, adding its wall time and the writer thread's CPU time to `phase`.
async fn timed<T>(phase: &mut Phase, work: impl Future<Output = T>) -> T {
    let (cpu, started) = (writer_cpu(), Instant::now());
    let out = work.await;
    phase.wall += started.elapsed();
    phase.writer_cpu += writer_cpu().saturating_sub(cpu);
    out
}

/// User + system time of the `hato-writer` thread(s) of this process, from `/proc`.
fn writer_cpu() -> Duration {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces, the fields follow the last ')'.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        if !head.ends_with("(hato-writer") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line: 11 and 12 counting `state` as 0.
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second)
}

fn summary(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    format!(
        "{median:6.1} ({:.1}–{:.1})",
        values[0],
        values[values.len() - 1]
    )
}

fn now() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
