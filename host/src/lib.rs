//! The host layer of cashier: what a hospital's or shop's web service needs around the engine,
//! written once, framework-free ([`HostCore::handle`]), and served by thin adapters for axum
//! (`feature = "axum"`) and actix-web (`feature = "actix"`), so the two cannot diverge.
//!
//! - [`http`]: the request and response the core speaks, and the body limits.
//! - [`api`]: the routes: WeChat's notifications, the H5 pages' JSON API, logins.
//! - [`identity`]: sessions, WeChat logins, the openid ↔ unionid bindings, web-view tickets.
//! - [`error`]: the one error type, JSON with a stable code and a message in 中文 and English.

pub mod api;
pub mod error;
pub mod http;
pub mod identity;

#[cfg(feature = "axum")]
pub mod axum_adapter;

#[cfg(feature = "actix")]
pub mod actix_adapter;

pub use api::{HostConfig, HostCore, SESSION_COOKIE};
pub use error::ApiError;
pub use http::{HostRequest, HostResponse};
pub use identity::LoginApp;
