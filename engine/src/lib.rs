//! The order engine of cashier: each business order's payment lifecycle, owned inside the host
//! process, durably.
//!
//! # Layout
//! - [`model`], [`machine`]: the typed records and the pure state machine
//!   (`step(record, event, now)`), where every order rule lives.
//! - [`order_number`]: the order number scheme and its lock-free, restart-safe generator.
//! - [`store`]: the [`store::Store`] trait, its sled implementation with group commit, and the
//!   versioned stored format with migrations.
//! - [`feed`]: the host's durable event feed, derived from transitions.
//! - [`reconcile`]: comparing WeChat's daily bill with the engine (`Engine::reconcile` runs it).
//! - [`config`], [`keys`], [`medical_config`]: per-entry-point configuration (医保 entries
//!   too); keys from a provider, with rotation.
//! - [`engine`]: the embedding API ([`Engine`]); `actor.rs` and `shell/` are its shell.
//! - [`runtime`], [`clock`], [`metrics`], [`error`]: what it runs on; time; counters; errors.

mod actor;
mod client_payment;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod failpoints;
pub mod feed;
pub mod keys;
pub mod machine;
pub mod medical_config;
pub mod metrics;
pub mod model;
pub mod order_number;
pub mod reconcile;
pub mod runtime;
mod shell;
pub mod store;

pub use crate::actor::Progress;
pub use crate::client_payment::{ClientPayment, PaymentStart};
pub use crate::engine::{
    Engine, MedicalPaymentRequest, MedicalPaymentStart, NewOrder, NotificationResponse,
    PaymentRequest, Receipt, ReconciliationReport, RefundRequest,
};
pub use crate::error::EngineError;
pub use crate::runtime::EngineRuntime;
pub use crate::shell::NotificationVerdict;
