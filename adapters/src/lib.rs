//! The protocol layer of cashier: WeChat Pay API v2 as pure functions over bytes, plus one
//! production [`Transport`] (reqwest + rustls).
//!
//! # Layout
//! - [`money`], [`ids`], [`secret`]: amounts in fen, validated identifiers, the API key.
//! - [`wechat::sign`], [`wechat::xml`], [`wechat::fields`]: the signature, the flat XML dialect,
//!   and the message type both work on.
//! - [`wechat::endpoints`]: one file per endpoint, all the same shape ([`Endpoint`]).
//! - [`wechat::notify`]: payment and refund notifications and their acknowledgements.
//! - [`medical`]: 医保支付 1.0: the payer's authorisation, the NHSA centre (SM4/SM2), and
//!   WeChat's payinsurance endpoints.
//! - [`wechat::client_params`], [`wechat::bridge`]: what the H5 page, mini program or APP needs
//!   to pay, and the mini program web-view bridge URL.
//! - [`transport`], [`reqwest_transport`], [`failover`], [`wechat::client`]: moving bytes (with
//!   failover to WeChat's backup domain when the primary cannot be reached).
//!
//! # Example: sign and verify
//! ```
//! use cashier_adapters::{ApiKey, Fields, SignType};
//! let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap();
//! let mut fields: Fields = [("appid", "wxd930ea5d5a258f4f"), ("mch_id", "10000100"),
//!     ("device_info", "1000"), ("body", "test"), ("nonce_str", "ibuaiVcKdpRxkhJA")]
//!     .into_iter().collect();
//! fields.sign_in_place(SignType::Md5, &key);
//! assert_eq!(fields.get("sign"), Some("9A0A8659F005D6984697E2CA0A9CF3B7"));
//! assert_eq!(fields.verify(SignType::Md5, &key), Ok(SignType::Md5));
//! ```

pub mod failover;
pub mod ids;
pub mod medical;
pub mod money;
#[cfg(feature = "reqwest")]
pub mod reqwest_transport;
pub mod secret;
pub mod transport;
pub mod wechat;

pub use failover::FailoverTransport;
pub use ids::{
    AppId, IdError, MchId, Nonce, OpenId, OutRefundNo, OutTradeNo, PrepayId, RefundId,
    TransactionId,
};
pub use money::{AmountFen, MoneyError};
#[cfg(feature = "reqwest")]
pub use reqwest_transport::{ClientIdentity, ReqwestTransport, ReqwestTransportConfig};
pub use secret::{ApiKey, KeyError};
pub use transport::{HttpRequest, HttpResponse, Transport, TransportError, TransportFuture};
pub use wechat::bridge;
pub use wechat::client::WechatPayClient;
pub use wechat::client_params;
pub use wechat::endpoints::{self, Endpoint};
pub use wechat::error::{Api, CallerAction, ErrCode, RequestError, WechatError};
pub use wechat::fields::{FieldError, Fields, SignCheck};
pub use wechat::merchant::{ApiBase, MerchantContext};
pub use wechat::nonce::{ChaChaNonceSource, NonceSource};
pub use wechat::notify;
pub use wechat::sign::{sign_canonical_text, sign_pairs, sign_sorted, SignType, Signature};
pub use wechat::types::{Coupon, OrderRef, PaymentDetails, RefundStatus, TradeState, TradeType};
pub use wechat::xml;
