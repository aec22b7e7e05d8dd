//! cashier's WeChat Pay v2 simulator: a stateful, deterministic stand-in for
//! `api.mch.weixin.qq.com` with fault injection, for end-to-end tests, the demo and load runs.
//!
//! # Layout
//! - [`config`]: the simulated world (merchants, service providers, apps, payers).
//! - [`simulator`]: the core: ledger, clock, fault hooks, payer actions, notification driver.
//! - [`exchange`]: the front door, in WeChat's validation order.
//! - `endpoints/`: one file per endpoint's business rules.
//! - [`ledger`], [`notifications`], [`faults`]: the books, the notification outbox and retry
//!   ladder, the seeded fault plan.
//! - [`transport`]: in-process use ([`SimTransport`], notification sinks).
//! - [`server`], [`tls`]: the loopback HTTP(S) server and its JSON control API.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use cashier_harness::{SimConfig, SimOptions, Simulator, SimTransport};
//! let simulator = Arc::new(Simulator::new(SimConfig::embedded_default().unwrap(), SimOptions::deterministic(7)));
//! let transport = SimTransport::new(simulator.clone()); // hand it to cashier_adapters::WechatPayClient
//! assert_eq!(simulator.seed(), 7);
//! ```

pub mod config;
mod endpoints;
pub mod exchange;
pub mod faults;
pub mod ledger;
mod login;
pub mod medical;
pub mod notifications;
pub mod server;
pub mod simulator;
mod state;
pub mod tls;
pub mod transport;

pub use config::{ConfigError, SimConfig};
pub use faults::{Fault, FaultPlan, FaultRule};
pub use ledger::{Ledger, SimOrder, SimRefund};
pub use notifications::{DeliveryRecord, RETRY_INTERVALS_S};
pub use simulator::{
    ClientCertificate, ClockMode, ControlError, NotificationSink, PayCommand, SimOptions,
    SimRequest, SimResponse, Simulator, DEFAULT_EPOCH_MS,
};
pub use transport::{HttpSink, ScriptedSink, SimTransport};
