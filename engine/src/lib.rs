//! The order engine of cashier: each business order's payment lifecycle, owned inside the host
//! process, durably.
//!
//! # Layout
//! - [`model`], [`machine`]: the records and the pure state machine (`step(record, event, now)`).
//! - [`order_number`]: the order number scheme and its lock-free, restart-safe generator.
//! - [`store`]: the [`store::Store`] trait and its sled implementation with group commit.
//! - [`config`]: per-entry-point configuration, secrets from environment or files.
//! - [`engine`]: the embedding API ([`Engine`]); `actor.rs` and `core.rs` are its shell.
//! - [`clock`], [`metrics`]: injected time; counters.

mod actor;
pub mod clock;
pub mod config;
pub(crate) mod core;
pub mod engine;
pub mod machine;
pub mod metrics;
pub mod model;
pub mod order_number;
pub mod store;

pub use crate::core::{EngineError, NotificationVerdict};
pub use crate::engine::{
    ClientPayment, Engine, EngineRuntime, NewOrder, NotificationResponse, PaymentRequest,
    PaymentStart,
};
