//! WeChat 医保支付 1.0 (`api.weixin.qq.com/payinsurance`, yibao-pay.md §7), sans-IO, on the v2
//! machinery: the same flat XML, the same sorted-parameter MD5 `sign` with the merchant's API key
//! (the one configuration found says so, §7.1; §12 lists it as unconfirmed), `access_token` in
//! the query string, service-provider fields as in v2.
//!
//! - `unified_order.rs`: the 挂号/诊间 order (`pay_url`, `pay_appid`, `med_trans_id`).
//! - `order_query.rs`: three-part states (`med_trade_state`, cash, insurance).
//! - `close_order.rs`: closing an unpaid order.
//! - `refund.rs`, `refund_query.rs`: the cash part's refund through WeChat.
//! - `notify.rs`: the payment notification, parsed then verified against the order.

pub mod close_order;
pub mod notify;
pub mod order_query;
pub mod refund;
pub mod refund_query;
pub mod unified_order;

use crate::ids::Nonce;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::error::CallerAction;
use crate::wechat::fields::{FieldError, Fields};
use crate::wechat::merchant::MerchantContext;
use crate::wechat::sign::SignType;
use crate::wechat::xml::{self, XmlError};

/// Why a payinsurance call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayInsuranceError {
    /// The request is invalid (caught before sending).
    #[error("payinsurance request field {name}: {reason}")]
    Request {
        /// The field.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// HTTP status other than 200.
    #[error("payinsurance answered HTTP {0}")]
    Status(u16),
    /// Not the flat XML dialect.
    #[error("payinsurance reply: {0}")]
    Malformed(#[from] XmlError),
    /// `return_code` FAIL (unsigned): 签名失败, 参数格式校验错误, ...
    #[error("payinsurance protocol failure: {return_msg}")]
    Protocol {
        /// `return_msg`.
        return_msg: String,
    },
    /// The reply's sign does not verify.
    #[error("payinsurance reply sign does not verify")]
    Signature,
    /// The reply names another appid or mch_id.
    #[error("payinsurance reply names another merchant: {0}")]
    Identity(String),
    /// `result_code` FAIL with `err_code` (513 cash_fee, 556 医保 refund outage, ...).
    #[error("payinsurance refused: {err_code} {err_code_des}")]
    Business {
        /// `err_code`.
        err_code: String,
        /// `err_code_des`.
        err_code_des: String,
    },
    /// A reply field is missing or malformed.
    #[error("payinsurance reply field: {0}")]
    Field(#[from] FieldError),
    /// A validly signed notification whose split differs from the order's (forged, misrouted or
    /// NHSA re-settled without `allow_fee_change`): refused, and an alarm for the engine.
    #[error("payinsurance amounts {received:?} differ from the order's {expected:?}")]
    AmountMismatch {
        /// The order's total, cash and insurance in fen.
        expected: (u64, u64, u64),
        /// The message's.
        received: (u64, u64, u64),
    },
}

impl PayInsuranceError {
    /// What to do: 556 is a transient 医保-side outage (§7.5), retried later with the same
    /// parameters; 513 and request errors need fixing; an unreadable reply is resolved by query.
    pub fn action(&self) -> CallerAction {
        match self {
            PayInsuranceError::Business { err_code, .. } if err_code == "556" => {
                CallerAction::RetryLater { after_s: 60 }
            }
            PayInsuranceError::Business { err_code, .. } if err_code == "SYSTEMERROR" => {
                CallerAction::RetrySameParameters
            }
            PayInsuranceError::Business { .. } | PayInsuranceError::Request { .. } => {
                CallerAction::FixRequest
            }
            PayInsuranceError::Status(status) if *status >= 500 => {
                CallerAction::RetrySameParameters
            }
            PayInsuranceError::Protocol { .. } => CallerAction::FixRequest,
            _ => CallerAction::Query,
        }
    }
}

/// The identity fields every request carries, then nonce and an MD5 sign over everything.
fn sign_request(mut fields: Fields, merchant: &MerchantContext, nonce: &Nonce) -> Fields {
    fields.insert("appid", merchant.appid.as_str());
    fields.insert("mch_id", merchant.mch_id.as_str());
    fields.insert_optional(
        "sub_appid",
        merchant.sub_appid.as_ref().map(|id| id.as_str()),
    );
    fields.insert_optional(
        "sub_mch_id",
        merchant.sub_mch_id.as_ref().map(|id| id.as_str()),
    );
    fields.insert("nonce_str", nonce.as_str());
    fields.sign_in_place(SignType::Md5, &merchant.key);
    fields
}

/// The signed XML POST to `{base}/payinsurance/{operation}?access_token=…`.
pub(crate) fn build(
    base_url: &str,
    operation: &str,
    fields: Fields,
    merchant: &MerchantContext,
    nonce: &Nonce,
    access_token: &str,
) -> Result<HttpRequest, PayInsuranceError> {
    let fields = sign_request(fields, merchant, nonce);
    let body = xml::write(&fields)?;
    let path = format!("/payinsurance/{operation}?access_token={access_token}");
    Ok(HttpRequest {
        method: "POST",
        url: format!("{}{path}", base_url.trim_end_matches('/')),
        path,
        headers: vec![("Content-Type", "text/xml; charset=utf-8".into())],
        body: body.into_bytes(),
        needs_client_certificate: false,
    })
}

/// Checks a message WeChat signed for this merchant: sign (MD5 unless it says otherwise) and
/// identity.
pub(crate) fn check_signed(
    fields: &Fields,
    merchant: &MerchantContext,
) -> Result<(), PayInsuranceError> {
    fields
        .verify(SignType::Md5, &merchant.key)
        .map_err(|_| PayInsuranceError::Signature)?;
    merchant
        .check_identity(fields)
        .map_err(|error| PayInsuranceError::Identity(error.to_string()))
}

/// Reads a reply: status, XML, `return_code`, sign, identity, `result_code`.
pub(crate) fn parse(
    response: &HttpResponse,
    merchant: &MerchantContext,
) -> Result<Fields, PayInsuranceError> {
    if response.status != 200 {
        return Err(PayInsuranceError::Status(response.status));
    }
    let fields = xml::read(&response.body)?;
    if fields.get("return_code") != Some("SUCCESS") {
        let return_msg = fields.get("return_msg").unwrap_or("").to_owned();
        return Err(PayInsuranceError::Protocol { return_msg });
    }
    check_signed(&fields, merchant)?;
    if fields.get("result_code") != Some("SUCCESS") {
        return Err(PayInsuranceError::Business {
            err_code: fields.get("err_code").unwrap_or("").to_owned(),
            err_code_des: fields.get("err_code_des").unwrap_or("").to_owned(),
        });
    }
    Ok(fields)
}
