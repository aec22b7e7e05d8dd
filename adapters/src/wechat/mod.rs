//! WeChat Pay API v2: signing, XML, the endpoints, notifications, client pay parameters and the
//! web-view bridge. Everything here is sans-IO except [`client`], which moves bytes only
//! through [`crate::Transport`].

pub mod bridge;
pub mod client;
pub mod client_params;
pub mod endpoints;
pub mod envelope;
pub mod error;
pub mod fields;
pub mod merchant;
pub mod nonce;
pub mod notify;
pub mod sign;
pub mod time;
pub mod types;
pub mod xml;
