//! Simulator tests, compiled as one binary. Conformance tests talk to the simulator over real
//! HTTP on loopback through the adapters' client, one test per protocol rule
//! (wechatpay-v2.md section named in each test).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod bad_input;
mod conformance;
mod control_api;
mod determinism;
mod hostile_http;
mod ladder;
mod login;
mod medical;
mod merchant;
mod notification_faults;
mod refunds;
mod support;
mod tls;
