//! Integration tests of the WeChat Pay v2 protocol layer, compiled as one binary
//! (style-anchors L11). Each module names the reference section it checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod bill;
mod bridge_js;
mod medical;
mod notifications;
mod properties;
mod replies;
mod requests;
mod support;
mod transport;
mod vectors;
