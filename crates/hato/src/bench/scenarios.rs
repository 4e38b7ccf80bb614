//! The scenarios: what is sent, what is waited for, which figures come out.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::bail;
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{
    Plan, Scenario, Transport,
    load::{self, Load, Work},
    observe::{self, DELAYED, READY},
    proc::{self, CpuMeter},
    report::{Figure, Goal},
    target::Target,
};

/// Targets from the performance issues (2-core machine, generator included).
const SINGLE_END_TO_END: f64 = 15_000.0;
const BATCH_ACCEPTED: f64 = 50_000.0;
const LATENCY_P99_MS: f64 = 10.0;
const BACKLOG_RSS_MIB: f64 = 100.0;
const SMPP_END_TO_END: f64 = 20_000.0;
const SMPP_QUEUE_TO_SMSC: f64 = 100_000.0;
const MO_STORED_AND_ACKNOWLEDGED: f64 = 20_000.0;
/// Distinct request bodies sent in turn (distinct recipients, no per-request JSON building).
const SINGLE_BODIES: usize = 1_000;
const BATCH_BODIES: usize = 4;
/// Time for the server to settle after filling the backlog, before reading its memory.
const SETTLE: Duration = Duration::from_secs(3);

pub async fn run(plan: &Plan, target: &Target) -> anyhow::Result<Vec<Figure>> {
    match plan.args.scenario {
        Scenario::Single => single(plan, target).await,
        Scenario::Batch => batch(plan, target).await,
        Scenario::Latency => latency(plan, target).await,
        Scenario::Backlog => backlog(plan, target).await,
        Scenario::Drain => drain(plan, target).await,
        Scenario::Mo => mo(plan, target).await,
    }
}

/// The recipient of message `index`: a different number for each of the first 10,000,000
/// indexes, spread over the whole range instead of in order, as real recipients are.
///
/// Numbers in send order made the index on `to_number` grow only at its end, which flattered
/// whatever favours appends: in session 11 a larger SQLite page size measured 11 % faster with
/// them and no faster with spread numbers (`BENCHMARKS.md`).
fn recipient(index: usize) -> String {
    // 7,919,993 shares no factor with 10^7 = 2^7 * 5^7, so multiplying by it modulo 10^7 is a
    // permutation of 0..10^7.
    let spread = (index as u64 % 10_000_000) * 7_919_993 % 10_000_000;
    format!("+81901{spread:07}")
}

fn message(index: usize, send_at: Option<&str>) -> Value {
    let mut message = json!({
        "to": recipient(index),
        "body": format!("Hato bench message {index}: your code is {:06}", index % 1_000_000),
    });
    if let Some(at) = send_at {
        message["send_at"] = Value::String(at.to_owned());
    }
    message
}

fn single_bodies() -> Arc<[Bytes]> {
    (0..SINGLE_BODIES)
        .map(|i| Bytes::from(message(i, None).to_string()))
        .collect()
}

fn batch_bodies(size: usize, send_at: Option<&str>) -> Arc<[Bytes]> {
    (0..BATCH_BODIES)
        .map(|b| {
            let messages: Vec<Value> = (0..size).map(|i| message(b * size + i, send_at)).collect();
            Bytes::from(json!({ "messages": messages }).to_string())
        })
        .collect()
}

fn work(target: &Target, path: &'static str, bodies: Arc<[Bytes]>) -> Work {
    Work {
        base: target.base.clone(),
        key: target.key.clone(),
        path,
        bodies,
    }
}

/// Fails the run when nothing got through; a few errors are reported as a figure instead.
fn check(load: &Load) -> anyhow::Result<()> {
    if load.accepted == 0 {
        bail!(
            "no message was accepted: {}",
            load.first_error.as_deref().unwrap_or("no error either")
        );
    }
    if let Some(error) = &load.first_error {
        eprintln!("warning: {} request(s) failed, first: {error}", load.errors);
    }
    Ok(())
}

fn latency_figures(load: &Load, prefix: &'static str) -> Vec<Figure> {
    let (p50, p90, p99, max) = match prefix {
        "batch" => (
            "batch latency p50",
            "batch latency p90",
            "batch latency p99",
            "batch latency max",
        ),
        _ => ("latency p50", "latency p90", "latency p99", "latency max"),
    };
    vec![
        Figure::info("p50_ms", p50, "ms", load.millis(0.50)),
        Figure::info("p90_ms", p90, "ms", load.millis(0.90)),
        Figure::info("p99_ms", p99, "ms", load.millis(0.99)),
        Figure::info("max_ms", max, "ms", load.max_millis()),
    ]
}

/// CPU over the measured stretch, and per message of the `messages` it handled: the
/// server's, its store writer thread's (on SQLite, SQLite's own work) and the generator's.
/// The writer's CPU, unlike its write time, leaves out the time it waited for a core, so it
/// tells the writer's own work apart from the contention for the two cores.
fn cpu_figures(cpu: &proc::CpuUsed, target: &Target, messages: u64) -> Vec<Figure> {
    let per_message = |seconds: f64| seconds * 1e6 / (messages.max(1) as f64);
    let mut figures = Vec::new();
    if let Some(server) = cpu.server {
        figures.push(Figure::info(
            "server_cpu",
            "server CPU",
            "% of 1 core",
            cpu.percent(server),
        ));
        figures.push(Figure::info(
            "server_cpu_us_per_message",
            "server CPU per message",
            "µs",
            per_message(server),
        ));
    }
    if let Some(writer) = cpu.writer {
        figures.push(Figure::info(
            "writer_cpu_us_per_message",
            "writer thread CPU per message",
            "µs",
            per_message(writer),
        ));
    }
    if let Some(generator) = cpu.generator {
        figures.push(Figure::info(
            "generator_cpu",
            "generator CPU",
            "% of 1 core",
            cpu.percent(generator),
        ));
    }
    if let Some((_, peak)) = target.pid().and_then(proc::memory_mib) {
        figures.push(Figure::info(
            "server_peak_rss",
            "server peak RSS",
            "MiB",
            peak,
        ));
    }
    figures
}

/// The store's write time over a stretch of a run, as figures: per message, and as a share of
/// the wall time (on SQLite, how busy the single writer was: near 100 % it is the limit).
fn store_write_figures(write_seconds: f64, wall_seconds: f64, messages: u64) -> Vec<Figure> {
    vec![
        Figure::info(
            "store_write_us_per_message",
            "store writes per message",
            "µs",
            write_seconds * 1e6 / messages.max(1) as f64,
        ),
        Figure::info(
            "store_write_busy",
            "store writes, share of wall time",
            "%",
            write_seconds * 100.0 / wall_seconds.max(1e-9),
        ),
    ]
}

/// The store's write seconds since `before` (a `/metrics` text), read now.
async fn store_writes_since(target: &Target, before: &str) -> anyhow::Result<f64> {
    let now = observe::scrape(&target.control, &target.base).await?;
    Ok(observe::store_write_seconds(&now) - observe::store_write_seconds(before))
}

/// Closed-loop load, then waits until everything accepted is delivered; also the figures of
/// the store's writes over that time.
async fn end_to_end(
    plan: &Plan,
    target: &Target,
    work: Work,
    requests: u64,
) -> anyhow::Result<(Load, f64, proc::CpuUsed, Vec<Figure>)> {
    let args = &plan.args;
    let before = observe::scrape(&target.control, &target.base).await?;
    let baseline = observe::delivered(&before);
    let cpu = CpuMeter::start(target.pid());
    let load = load::closed_loop(&work, requests, args.concurrency).await?;
    check(&load)?;
    let goal = baseline + load.accepted as f64;
    let done = observe::wait_until(
        &target.control,
        &target.base,
        ("delivered", observe::delivered),
        goal,
        plan.timeout,
    )
    .await?;
    let cpu = cpu.stop();
    let seconds = done.duration_since(load.started).as_secs_f64();
    let rate = load_rate(load.accepted, seconds);
    let writes = store_writes_since(target, &before).await?;
    let writes = store_write_figures(writes, seconds, load.accepted);
    Ok((load, rate, cpu, writes))
}

fn load_rate(messages: u64, seconds: f64) -> f64 {
    messages as f64 / seconds.max(1e-9)
}

async fn single(plan: &Plan, target: &Target) -> anyhow::Result<Vec<Figure>> {
    let work = work(target, "/v1/messages", single_bodies());
    let (load, e2e, cpu, writes) = end_to_end(plan, target, work, plan.args.messages).await?;
    // Issue 2's target is the core's (the in-process carrier); issue 3's is the same sends
    // over SMPP with receipts.
    let goal = match plan.transport {
        Transport::Inline => SINGLE_END_TO_END,
        Transport::Smpp => SMPP_END_TO_END,
    };
    let mut figures = vec![
        Figure::info("accepted_rate", "accepted", "msg/s", load.rate()),
        Figure::info("e2e_rate", "end to end (all delivered)", "msg/s", e2e)
            .goal(Goal::AtLeast(goal)),
    ];
    figures.extend(latency_figures(&load, "single"));
    figures.push(Figure::info(
        "errors",
        "failed requests",
        "",
        load.errors as f64,
    ));
    figures.extend(writes);
    figures.extend(cpu_figures(&cpu, target, load.accepted));
    Ok(figures)
}

async fn batch(plan: &Plan, target: &Target) -> anyhow::Result<Vec<Figure>> {
    let args = &plan.args;
    let size = args.batch_size;
    let requests = args.messages.div_ceil(size as u64);
    let work = work(target, "/v1/messages/batch", batch_bodies(size, None));
    let (load, e2e, cpu, writes) = end_to_end(plan, target, work, requests).await?;
    let mut figures = vec![
        Figure::info("accepted_rate", "accepted", "msg/s", load.rate())
            .goal(Goal::AtLeast(BATCH_ACCEPTED)),
        Figure::info("e2e_rate", "end to end (all delivered)", "msg/s", e2e),
    ];
    figures.extend(latency_figures(&load, "batch"));
    figures.push(Figure::info(
        "errors",
        "failed requests",
        "",
        load.errors as f64,
    ));
    figures.extend(writes);
    figures.extend(cpu_figures(&cpu, target, load.accepted));
    Ok(figures)
}

async fn latency(plan: &Plan, target: &Target) -> anyhow::Result<Vec<Figure>> {
    let args = &plan.args;
    let work = work(target, "/v1/messages", single_bodies());
    let http = load::client(args.concurrency)?;
    if !plan.warmup.is_zero() {
        // Same client and rate, so the measured part starts with the connections warm too.
        let warmup = load::open_loop(&http, &work, args.rate, plan.warmup).await;
        check(&warmup)?;
    }
    let cpu = CpuMeter::start(target.pid());
    let load = load::open_loop(&http, &work, args.rate, plan.duration).await;
    let cpu = cpu.stop();
    check(&load)?;
    let mut figures = vec![
        Figure::info("offered_rate", "offered", "req/s", args.rate as f64),
        Figure::info("accepted_rate", "accepted", "msg/s", load.rate()),
        Figure::info("p50_ms", "latency p50", "ms", load.millis(0.50)),
        Figure::info("p90_ms", "latency p90", "ms", load.millis(0.90)),
        Figure::info("p99_ms", "latency p99", "ms", load.millis(0.99))
            .goal(Goal::AtMost(LATENCY_P99_MS)),
        Figure::info("p999_ms", "latency p99.9", "ms", load.millis(0.999)),
        Figure::info("max_ms", "latency max", "ms", load.max_millis()),
        Figure::info("errors", "failed requests", "", load.errors as f64),
    ];
    figures.extend(cpu_figures(&cpu, target, load.accepted));
    Ok(figures)
}

/// An RFC 3339 time this far from now.
fn from_now(ahead: SignedDuration) -> anyhow::Result<String> {
    Ok(Timestamp::now().checked_add(ahead)?.to_string())
}

/// Sends the run's messages in batches, each due at `send_at` (now when `None`).
async fn fill(plan: &Plan, target: &Target, send_at: Option<&str>) -> anyhow::Result<Load> {
    let args = &plan.args;
    let size = args.batch_size;
    let work = work(target, "/v1/messages/batch", batch_bodies(size, send_at));
    let load =
        load::closed_loop(&work, args.messages.div_ceil(size as u64), args.concurrency).await?;
    check(&load)?;
    Ok(load)
}

async fn backlog(plan: &Plan, target: &Target) -> anyhow::Result<Vec<Figure>> {
    let pid = target.pid();
    let idle = pid.and_then(proc::memory_mib).map(|(rss, _)| rss);
    // Scheduled far ahead (the default), or due now with a carrier that never binds.
    let send_at = match plan.args.hold {
        super::Hold::Scheduled => Some(from_now(SignedDuration::from_hours(300 * 24))?),
        super::Hold::Unbound => None,
    };
    let load = fill(plan, target, send_at.as_deref()).await?;
    tokio::time::sleep(SETTLE).await;
    let memory = pid.and_then(proc::memory_mib);
    let metrics = observe::scrape(&target.control, &target.base).await?;
    let waiting = DELAYED.sum(&metrics) + READY.sum(&metrics);
    let mut figures = vec![
        Figure::info("fill_rate", "queue filled at", "msg/s", load.rate()),
        Figure::info("waiting", "messages waiting (queue gauges)", "", waiting),
    ];
    if let Some((rss, peak)) = memory {
        figures.push(
            Figure::info("rss", "server RSS with the backlog", "MiB", rss)
                .goal(Goal::AtMost(BACKLOG_RSS_MIB)),
        );
        figures.push(Figure::info("peak_rss", "server peak RSS", "MiB", peak));
    }
    if let Some(idle) = idle {
        figures.push(Figure::info("idle_rss", "server RSS before", "MiB", idle));
    }
    figures.push(Figure::info(
        "errors",
        "failed requests",
        "",
        load.errors as f64,
    ));
    Ok(figures)
}

/// Fills the queue with messages all due at one instant, then times the dispatch of the lot.
async fn drain(plan: &Plan, target: &Target) -> anyhow::Result<Vec<Figure>> {
    let args = &plan.args;
    let metrics = observe::scrape(&target.control, &target.base).await?;
    let (submitted0, delivered0) = (observe::submitted(&metrics), observe::delivered(&metrics));
    // Enough time to fill at 5,000 msg/s, at least 5 s: batches are accepted at 45,000–70,000
    // msg/s on SQLite (session 9), and a fill that overruns fails the run rather than skew it.
    let lead = Duration::from_secs_f64((args.messages as f64 / 5_000.0).max(5.0));
    let due = Instant::now() + lead;
    let send_at = from_now(SignedDuration::try_from(lead)?)?;
    let load = fill(plan, target, Some(&send_at)).await?;
    if Instant::now() >= due {
        bail!(
            "filling took {:?}, past the {lead:?} lead: the queue was not full when it became due",
            load.elapsed
        );
    }
    tokio::time::sleep_until(due.into()).await;
    let cpu = CpuMeter::start(target.pid());
    let at_due = observe::scrape(&target.control, &target.base).await?;
    let expected = load.accepted as f64;
    let submitted = observe::wait_until(
        &target.control,
        &target.base,
        ("sent", observe::submitted),
        submitted0 + expected,
        plan.timeout,
    )
    .await?;
    let delivered = observe::wait_until(
        &target.control,
        &target.base,
        ("delivered", observe::delivered),
        delivered0 + expected,
        plan.timeout,
    )
    .await?;
    let cpu = cpu.stop();
    let mut to_carrier = Figure::info(
        "queue_to_carrier",
        "queue -> carrier",
        "msg/s",
        load_rate(load.accepted, submitted.duration_since(due).as_secs_f64()),
    );
    if plan.transport == Transport::Smpp && args.url.is_none() {
        to_carrier = to_carrier.goal(Goal::AtLeast(SMPP_QUEUE_TO_SMSC));
    }
    let mut figures = vec![
        Figure::info("fill_rate", "queue filled at", "msg/s", load.rate()),
        to_carrier,
        Figure::info(
            "queue_to_delivered",
            "queue -> delivered",
            "msg/s",
            load_rate(load.accepted, delivered.duration_since(due).as_secs_f64()),
        ),
    ];
    let writes = store_writes_since(target, &at_due).await?;
    figures.extend(store_write_figures(
        writes,
        delivered.duration_since(due).as_secs_f64(),
        load.accepted,
    ));
    figures.extend(cpu_figures(&cpu, target, load.accepted));
    Ok(figures)
}

/// Has the simulator send N MO messages at once, then times their storing and acknowledgement.
///
/// The messages differ only by their number (` #i`), and the text carries the run's start time,
/// so the server's de-duplication keeps every one even against a server used before.
async fn mo(plan: &Plan, target: &Target) -> anyhow::Result<Vec<Figure>> {
    let args = &plan.args;
    let http = &target.control;
    let stats = observe::simulator(http, &target.base, &target.key).await?;
    let metrics = observe::scrape(http, &target.base).await?;
    let (acked0, refused0) = (
        observe::counter(&stats, "deliver_ok"),
        observe::counter(&stats, "deliver_failed"),
    );
    let (stored0, duplicates0) = (
        observe::inbound_stored(&metrics),
        observe::inbound_duplicates(&metrics),
    );
    let expected = args.messages as f64;
    let request = json!({
        "from": "+819012345678",
        "to": "12345",
        "body": format!("Hato bench MO {}: YES", Timestamp::now().as_millisecond()),
        "count": args.messages,
    });
    let cpu = CpuMeter::start(target.pid());
    let started = Instant::now();
    let response = http
        .post(format!("{}/v1/simulator/mo", target.base))
        .bearer_auth(&target.key)
        .json(&request)
        .send()
        .await?;
    let queued = started.elapsed();
    if response.status() != reqwest::StatusCode::ACCEPTED {
        bail!(
            "POST /v1/simulator/mo answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    // Both counters, polled together; each finish time is kept when first seen.
    let deadline = started + plan.timeout;
    let (mut stored_at, mut acked_at) = (None, None);
    let (stored, acked, refused, duplicates) = loop {
        let metrics = observe::scrape(http, &target.base).await?;
        let stats = observe::simulator(http, &target.base, &target.key).await?;
        let now = Instant::now();
        let stored = observe::inbound_stored(&metrics) - stored0;
        let duplicates = observe::inbound_duplicates(&metrics) - duplicates0;
        let acked = observe::counter(&stats, "deliver_ok") - acked0;
        let refused = observe::counter(&stats, "deliver_failed") - refused0;
        if stored >= expected {
            stored_at.get_or_insert(now);
        }
        if acked >= expected {
            acked_at.get_or_insert(now);
        }
        if stored_at.is_some() && acked_at.is_some() {
            break (stored, acked, refused, duplicates);
        }
        if now >= deadline {
            bail!(
                "after {:?}: {stored} of {expected} MO stored, {acked} acknowledged, {refused} \
                 refused, {duplicates} taken for duplicates",
                plan.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let cpu = cpu.stop();
    let seconds = |at: Option<Instant>| at.map_or(f64::NAN, |at| (at - started).as_secs_f64());
    let (stored_secs, acked_secs) = (seconds(stored_at), seconds(acked_at));
    let mut figures = vec![
        Figure::info(
            "queued_ms",
            "simulator queued all MO",
            "ms",
            queued.as_secs_f64() * 1_000.0,
        ),
        Figure::info(
            "stored_rate",
            "stored",
            "msg/s",
            load_rate(args.messages, stored_secs),
        ),
        Figure::info(
            "mo_rate",
            "stored and acknowledged",
            "msg/s",
            load_rate(args.messages, stored_secs.max(acked_secs)),
        )
        .goal(Goal::AtLeast(MO_STORED_AND_ACKNOWLEDGED)),
        Figure::info("stored", "messages stored", "", stored),
        Figure::info("acknowledged", "messages acknowledged", "", acked),
        Figure::info("refused", "messages refused", "", refused),
        Figure::info(
            "duplicates",
            "messages taken for redeliveries",
            "",
            duplicates,
        ),
    ];
    let writes = store_writes_since(target, &metrics).await?;
    figures.extend(store_write_figures(
        writes,
        stored_secs.max(acked_secs),
        args.messages,
    ));
    figures.extend(cpu_figures(&cpu, target, args.messages));
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use hato_core::PhoneNumber;

    use super::recipient;

    #[test]
    fn recipients_are_distinct_valid_and_out_of_order() {
        let numbers: Vec<String> = (0..100_000).map(recipient).collect();
        let distinct: HashSet<&String> = numbers.iter().collect();
        assert_eq!(distinct.len(), numbers.len());
        for number in numbers.iter().step_by(997) {
            let parsed = PhoneNumber::parse(number, "JP").expect("a valid Japanese mobile");
            assert_eq!(parsed.as_str(), number);
        }
        // Spread: consecutive messages go to numbers far apart, not one after the other.
        let ascending = numbers.windows(2).filter(|w| w[0] < w[1]).count();
        assert!(
            ascending < numbers.len() * 3 / 4,
            "{ascending} ascending pairs"
        );
        let far = numbers
            .windows(2)
            .filter(|w| {
                w[0][6..]
                    .parse::<i64>()
                    .unwrap()
                    .abs_diff(w[1][6..].parse::<i64>().unwrap())
                    > 1_000
            })
            .count();
        assert!(far > numbers.len() * 9 / 10, "{far} pairs far apart");
    }
}
