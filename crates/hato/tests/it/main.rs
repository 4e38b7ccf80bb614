//! Hato end to end: the whole server started in-process on port 0 (or the real binary, for
//! the CLI and crash tests) over real HTTP, against SQLite and, when
//! `HATO_TEST_DATABASE_URL` is set, PostgreSQL. Every asynchronous outcome is awaited by
//! polling against a deadline; no sleep is an assertion.

mod support;

mod bad_input;
mod batch;
mod bench_load;
mod cli;
mod direct_dispatch;
mod durability;
mod env_config;
mod keys;
mod list;
mod mo_load;
mod operations;
mod oversized_body;
mod preview;
mod receipts;
mod send;
mod smpp;
mod webhooks;
