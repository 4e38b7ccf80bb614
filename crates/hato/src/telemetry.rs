//! Logs and the metrics recorder.

use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Structured logs to stderr; `RUST_LOG` filters (default `info`).
///
/// Text logs are coloured only for a person at a terminal: written to a file, a pipe or the
/// journal, escape codes would land in the text as `[2m…[0m`. `NO_COLOR` turns colours off
/// at a terminal too (no-color.org).
pub fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        let colour = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        registry
            .with(fmt::layer().with_ansi(colour).with_writer(std::io::stderr))
            .try_init()
    };
}

/// The process-wide Prometheus recorder (metrics are global by nature; several servers in one
/// test process share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ];
            PrometheusBuilder::new()
                .set_buckets(&latency)
                .expect("non-empty buckets")
                .install_recorder()
                .expect("the metrics recorder is installed only here")
        })
        .clone()
}
