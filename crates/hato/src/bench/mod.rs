//! `hato bench`: drives a Hato server over its HTTP API and reports throughput, latency and
//! memory against the performance targets.
//!
//! By default each run starts a fresh server as a child process of this same binary (its own
//! temporary data directory, a free loopback port, a fresh API key), so the load generator and
//! the server are separate processes: the server's RSS and CPU are its own, read from
//! `/proc/<pid>`. With `--url` and `--api-key` it drives a server that is already running.
//!
//! Scenarios:
//! - `single`: closed loop, N single sends with C in flight; accepted msg/s, latency
//!   percentiles, and end-to-end msg/s (first request → all N `delivered` in the store).
//! - `batch`: the same with M batches of B messages.
//! - `latency`: open loop at a fixed rate; latency measured from each request's scheduled start,
//!   so a stalled server is charged for the requests it delayed (no coordinated omission).
//! - `backlog`: K messages waiting in the queue (scheduled far ahead, or with an unreachable
//!   carrier), then the server's RSS.
//! - `drain`: K messages scheduled for one instant K/1,000 s (at least 5 s) ahead, so they become due
//!   together; queue → carrier msg/s and queue → delivered msg/s.
//! - `mo`: the embedded SMSC simulator sends N mobile-originated messages (`deliver_sm`) to
//!   the server over SMPP, all at once (`POST /v1/simulator/mo` with `count`); msg/s stored
//!   (`hato_inbound_total{result="stored"}` on `/metrics`) and acknowledged (`deliver_sm_resp`
//!   OK, the simulator's `deliver_ok` on `GET /v1/simulator`).
//!
//! "Delivered" is observed on `/metrics`: the counter
//! `hato_receipts_total{result="applied",status="delivered"}` is incremented once per message
//! after its delivery report is committed, so it is one cheap request per poll, whereas the
//! message list is paginated and costs a query per page.

mod connection;
mod load;
mod observe;
mod proc;
mod report;
mod scenarios;
mod target;

use std::{path::Path, time::Duration};

use anyhow::bail;
use hato_api::routes::simulator::MAX_MO_COUNT;

use report::{Figure, Summary};

/// Arguments of `hato bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Scenario::Single)]
    pub scenario: Scenario,
    /// Drive this running server (http://HOST:PORT) instead of spawning one (needs --api-key).
    #[arg(long)]
    pub url: Option<String>,
    /// API key for --url.
    #[arg(long, env = "HATO_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The spawned server's carrier: the SMSC simulator over SMPP, or the in-process one
    /// (default: inline, except smpp for the mo scenario, which needs it).
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// The spawned server's database (e.g. postgres://postgres@127.0.0.1:5432/bench);
    /// default: SQLite in a fresh temporary directory.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Delay of the simulator's delivery reports, for the spawned server.
    #[arg(long, default_value = "10ms")]
    pub report_delay: String,
    /// Messages per run (single, batch, backlog, drain, mo; latency: derived from rate ×
    /// duration).
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Messages per batch request (batch, backlog, drain).
    #[arg(long, default_value_t = 1_000)]
    pub batch_size: usize,
    /// Offered rate of the latency scenario, requests per second.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Duration of the latency scenario.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Latency scenario: send at the same rate for this long first, unmeasured, so a fresh
    /// server's first requests (connections opened, caches cold, statements prepared) are
    /// not counted as its steady state ("0s" measures from the first request).
    #[arg(long, default_value = "1s")]
    pub warmup: String,
    /// How the backlog scenario keeps messages waiting.
    #[arg(long, value_enum, default_value_t = Hold::Scheduled)]
    pub hold: Hold,
    /// Repeat the whole measurement (a fresh server each time when spawning) and report the
    /// median and the min–max spread of each figure.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Longest wait for all messages to be delivered, per run.
    #[arg(long, default_value = "300s")]
    pub timeout: String,
    /// Keep the spawned servers' data directories and logs.
    #[arg(long)]
    pub keep: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Single,
    Batch,
    Latency,
    Backlog,
    Drain,
    /// Mobile-originated messages from the simulator to the server.
    Mo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Inline,
    Smpp,
}

/// How the backlog scenario keeps messages in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Hold {
    /// `send_at` 300 days ahead: scheduled messages wait in the dispatch queue.
    Scheduled,
    /// A `[[connectors]]` entry on a closed loopback port: nothing binds, messages wait.
    Unbound,
}

impl Scenario {
    fn as_str(self) -> &'static str {
        match self {
            Scenario::Single => "single",
            Scenario::Batch => "batch",
            Scenario::Latency => "latency",
            Scenario::Backlog => "backlog",
            Scenario::Drain => "drain",
            Scenario::Mo => "mo",
        }
    }
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Inline => "inline",
            Transport::Smpp => "smpp",
        }
    }
}

/// Settings parsed once from the arguments.
#[derive(Debug, Clone)]
struct Plan {
    args: BenchArgs,
    /// The spawned server's carrier, `--transport` or the scenario's default.
    transport: Transport,
    duration: Duration,
    warmup: Duration,
    timeout: Duration,
}

pub async fn run(config_path: Option<&Path>, args: BenchArgs) -> anyhow::Result<()> {
    let _ = config_path; // the spawned server gets its own configuration file
    let plan = validate(args)?;
    let args = &plan.args;
    let mut summary = Summary::new(args.scenario.as_str(), describe(&plan));
    for run in 1..=args.runs {
        let load = proc::loadavg();
        let target = target::Target::start(&plan, run).await?;
        let measured = scenarios::run(&plan, &target).await;
        let stopped = target.stop().await;
        let mut figures: Vec<Figure> = measured?;
        stopped?;
        figures.push(Figure::info(
            "load_before",
            "load average (1 min) before",
            "",
            load,
        ));
        if !args.json {
            eprintln!("run {run}/{}: {}", args.runs, report::one_line(&figures));
        }
        summary.push(figures);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary.json())?);
    } else {
        print!("{}", summary.table());
    }
    Ok(())
}

fn validate(args: BenchArgs) -> anyhow::Result<Plan> {
    let parse = |name: &str, text: &str| {
        humantime::parse_duration(text.trim())
            .map_err(|e| anyhow::anyhow!("--{name} `{text}` is not a duration like \"10s\": {e}"))
    };
    let duration = parse("duration", &args.duration)?;
    let warmup = parse("warmup", &args.warmup)?;
    let timeout = parse("timeout", &args.timeout)?;
    parse("report-delay", &args.report_delay)?;
    if args.url.is_some() && args.api_key.is_none() {
        bail!("--url needs --api-key (or HATO_API_KEY)");
    }
    if let Some(url) = &args.url {
        connection::address_of(url)?;
    }
    if args.runs == 0 || args.runs > 100 {
        bail!("--runs must be 1 to 100");
    }
    if args.concurrency == 0 || args.concurrency > 10_000 {
        bail!("--concurrency must be 1 to 10,000");
    }
    if args.batch_size == 0 || args.batch_size > 10_000 {
        bail!("--batch-size must be 1 to 10,000 (the API's batch limit)");
    }
    if args.messages == 0 || args.messages > 100_000_000 {
        bail!("--messages must be 1 to 100,000,000");
    }
    if args.rate == 0 || args.rate > 1_000_000 || duration.is_zero() {
        bail!("--rate must be 1 to 1,000,000 and --duration more than zero");
    }
    if args.url.is_some() && matches!(args.scenario, Scenario::Backlog) {
        eprintln!("note: with --url the server's pid is unknown; RSS is not reported");
    }
    if args.url.is_some() && args.hold == Hold::Unbound {
        bail!("--hold unbound configures the spawned server; it cannot apply to --url");
    }
    let transport = match (args.scenario, args.transport) {
        (Scenario::Mo, Some(Transport::Inline)) => bail!(
            "--scenario mo needs the SMSC simulator over SMPP: leave out --transport or use smpp"
        ),
        (Scenario::Mo, _) => Transport::Smpp,
        (_, transport) => transport.unwrap_or(Transport::Inline),
    };
    if args.scenario == Scenario::Mo && args.messages > MAX_MO_COUNT as u64 {
        bail!("--messages must be at most {MAX_MO_COUNT} for --scenario mo");
    }
    Ok(Plan {
        args,
        transport,
        duration,
        warmup,
        timeout,
    })
}

fn describe(plan: &Plan) -> String {
    let a = &plan.args;
    let server = match &a.url {
        Some(url) => format!("server {url}"),
        None => format!(
            "spawned server, {} transport, report delay {}, {}",
            plan.transport.as_str(),
            a.report_delay,
            if a.database_url.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        ),
    };
    let work = match a.scenario {
        Scenario::Single => format!("{} messages, concurrency {}", a.messages, a.concurrency),
        Scenario::Batch | Scenario::Backlog | Scenario::Drain => format!(
            "{} messages in batches of {}, concurrency {}",
            a.messages, a.batch_size, a.concurrency
        ),
        Scenario::Latency => format!(
            "{}/s for {} after {} of warm-up",
            a.rate, a.duration, a.warmup
        ),
        Scenario::Mo => format!("{} MO messages from the simulator at once", a.messages),
    };
    format!("{server}; {work}; {} run(s)", a.runs)
}
