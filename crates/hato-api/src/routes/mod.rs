//! One module per resource: its DTOs, handlers and router.

pub mod account;
pub mod connectors;
pub mod health;
pub mod messages;
pub mod preview;
pub mod simulator;

pub(crate) fn now_ms() -> i64 {
    hato_engine::clock::now_ms()
}
