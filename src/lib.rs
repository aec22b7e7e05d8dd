//! cashier: an embeddable, actor-based payment engine for WeChat Pay v2, with a simulator of
//! WeChat's servers. This facade re-exports the workspace's public API and holds the command
//! line tool's logic ([`cli`]).
//!
//! - [`adapters`]: the WeChat Pay v2 protocol layer (signing, XML, endpoints, notifications,
//!   client pay parameters, web-view bridge, reqwest transport).
//! - [`engine`]: the order engine.
//! - [`harness`]: the WeChat simulator.
//! - [`host`]: the host layer (notifications, the pages' JSON API, payer identity) for axum and
//!   actix-web.

pub use cashier_adapters as adapters;
pub use cashier_engine as engine;
pub use cashier_harness as harness;
pub use cashier_host as host;

pub mod cli;
pub mod medical_checks;
pub mod simulation;

/// The README's code examples, compiled as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
