//! The `hato` binary's library: configuration, the server assembly, the CLI commands and the
//! benchmark. `main.rs` only parses arguments and calls in here, so integration tests can
//! start whole servers in-process.

pub mod bench;
pub mod cli;
pub mod config;
pub mod server;
pub mod simulator_control;
pub mod telemetry;
