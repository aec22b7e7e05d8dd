//! Incoming notifications (wechatpay-v2.md §4, §5): payment results (signed) and refund results
//! (unsigned outer XML with an AES-encrypted `req_info`), and the exact acknowledgement bytes.
//!
//! Each notification is read in two steps: `parse` reads the body without trusting it and
//! exposes the fields needed to find the order (its `out_trade_no`, `mch_id`), then `verify`
//! (or `decrypt`) checks it against the [`crate::MerchantContext`] the order was made with.

pub mod ack;
pub mod payment;
pub mod refund;

use crate::money::AmountFen;
use crate::wechat::fields::{FieldError, SignCheck};
use crate::wechat::xml::XmlError;

/// Why a notification was refused. Every variant is answered with a FAIL acknowledgement and
/// changes no state; the host logs it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The body is not a valid v2 message.
    #[error("malformed notification: {0}")]
    Malformed(#[from] XmlError),
    /// `return_code` is not SUCCESS.
    #[error("notification return_code is not SUCCESS: {return_msg}")]
    ProtocolFailure {
        /// `return_msg`.
        return_msg: String,
    },
    /// The signature is missing or wrong (forged or for another key).
    #[error("notification signature: {0}")]
    Signature(SignCheck),
    /// It names another appid or mch_id than the order's.
    #[error("notification {field} is {received:?}, the order's is {expected:?}")]
    IdentityMismatch {
        /// The field.
        field: &'static str,
        /// The order's value.
        expected: String,
        /// The notification's value.
        received: String,
    },
    /// Its amount differs from the order's (a forged or misrouted notification).
    #[error("notification total_fee {received} differs from the order's {expected}")]
    AmountMismatch {
        /// The order's amount.
        expected: AmountFen,
        /// The notification's amount.
        received: AmountFen,
    },
    /// A required field is missing or malformed.
    #[error("notification field: {0}")]
    Field(#[from] FieldError),
    /// `req_info` could not be decrypted with the merchant's key.
    #[error("req_info: {0}")]
    Decrypt(#[from] refund::ReqInfoError),
}

impl From<crate::wechat::error::WechatError> for NotifyError {
    fn from(error: crate::wechat::error::WechatError) -> NotifyError {
        use crate::wechat::error::WechatError;
        match error {
            WechatError::IdentityMismatch {
                field,
                expected,
                received,
            } => NotifyError::IdentityMismatch {
                field,
                expected,
                received,
            },
            WechatError::Signature(check) => NotifyError::Signature(check),
            WechatError::ReplyField(field) => NotifyError::Field(field),
            WechatError::MalformedReply(xml) => NotifyError::Malformed(xml),
            other => NotifyError::ProtocolFailure {
                return_msg: other.to_string(),
            },
        }
    }
}
