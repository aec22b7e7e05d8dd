//! The engine end to end against the in-process simulator (issue #4 tests), through the
//! facade's `cashier::simulation` wiring: every entry point, duplicate and lost notifications,
//! lost replies, forged notifications, refunds with the paying identity, expiry, races.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod end_to_end;
mod host_model;
mod medical;
mod money_path;
mod reconciliation;
mod support;
