//! Integration tests: the connector against the simulator over real TCP on 127.0.0.1.

mod bind;
mod data_sm;
mod inbound;
mod receipts;
mod resilience;
mod submit;
mod support;
