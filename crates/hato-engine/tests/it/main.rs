//! Engine integration tests: the real engine over a real database (SQLite, and PostgreSQL
//! when `HATO_TEST_DATABASE_URL` is set) and SMPP carriers talking to SMSC simulators over
//! TCP. Every wait polls the store against a deadline; no sleep is an assertion.

mod support;

mod delivery;
mod inbound;
mod resilience;
mod store_inbound;
mod store_queue;
mod store_receipts;
