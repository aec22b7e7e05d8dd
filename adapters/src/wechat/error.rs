//! The protocol layer's errors (wechatpay-v2.md §3): transport failure (outcome unknown),
//! protocol failure (`return_code=FAIL`, unsigned), business failure (`err_code`), signature
//! problems and malformed data, each with the action the caller must take.

use std::fmt;

use crate::ids::IdError;
use crate::transport::TransportError;
use crate::wechat::fields::{FieldError, SignCheck};
use crate::wechat::xml::XmlError;

/// The v2 operations, for error-code meanings that differ by operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// `pay/unifiedorder`.
    UnifiedOrder,
    /// `pay/orderquery`.
    OrderQuery,
    /// `pay/closeorder`.
    CloseOrder,
    /// `secapi/pay/refund`.
    Refund,
    /// `pay/refundquery`.
    RefundQuery,
    /// `pay/downloadbill`.
    DownloadBill,
    /// `sandboxnew/pay/getsignkey`.
    SandboxSignKey,
}

/// What a caller must do after a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallerAction {
    /// Send the same request again with identical parameters (same `out_trade_no`, same
    /// `out_refund_no`); query if still unsure.
    RetrySameParameters,
    /// The outcome is unknown: query the order or refund before doing anything else.
    Query,
    /// Wait, then retry with the same parameters at a lower rate.
    RetryLater {
        /// The suggested wait in seconds.
        after_s: u32,
    },
    /// The order is already paid: treat it as paid (confirm with orderquery).
    TreatAsPaid,
    /// The order is closed: nothing more can happen to this `out_trade_no`.
    TreatAsClosed,
    /// The order number was used with other parameters: resend identical parameters or use a
    /// new `out_trade_no`.
    UseIdenticalParametersOrNewNumber,
    /// The order, refund or bill does not exist for this merchant and mode.
    NotFound,
    /// Configuration is wrong (appid, mch_id, key, permissions): fix it, do not retry blindly.
    FixConfiguration,
    /// The request is malformed: fix the code, do not retry unchanged.
    FixRequest,
    /// The merchant's refundable balance is short: fund it, then retry the same `out_refund_no`.
    FundAccountThenRetry,
    /// Final failure that needs a person (abnormal payer account, refund window over).
    HandleManually,
    /// Final business refusal (payer balance short, for example); nothing to retry.
    GiveUp,
}

macro_rules! err_codes {
    ($($variant:ident => $text:literal, $doc:literal;)*) => {
        /// A v2 `err_code`. Unknown codes are kept verbatim in [`ErrCode::Other`].
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum ErrCode {
            $(#[doc = $doc] $variant,)*
            /// A code this crate does not know.
            Other(String),
        }

        impl serde::Serialize for ErrCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ErrCode, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(ErrCode::parse(&text))
    }
}

impl ErrCode {
            /// Parses the wire text.
            pub fn parse(text: &str) -> ErrCode {
                match text {
                    $($text => ErrCode::$variant,)*
                    other => ErrCode::Other(other.to_owned()),
                }
            }

            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrCode::$variant => $text,)*
                    ErrCode::Other(text) => text,
                }
            }
        }
    };
}

err_codes! {
    SystemError => "SYSTEMERROR", "WeChat timeout or internal error.";
    BizerrNeedRetry => "BIZERR_NEED_RETRY", "Refund rejected because of concurrency.";
    InvalidReqTooMuch => "INVALID_REQ_TOO_MUCH", "Too many invalid refund requests.";
    FrequencyLimited => "FREQUENCY_LIMITED", "Refund rate limit on old orders.";
    NotEnough => "NOTENOUGH", "Balance short (payer's for pay, merchant's for refund).";
    OrderPaid => "ORDERPAID", "The order is already paid.";
    OrderClosed => "ORDERCLOSED", "The order is closed.";
    OutTradeNoUsed => "OUT_TRADE_NO_USED", "The order number was used with other parameters.";
    InvalidRequest => "INVALID_REQUEST", "Invalid request, e.g. \"201 商户订单号重复\".";
    OrderNotExist => "ORDERNOTEXIST", "No such order for this merchant and mode.";
    RefundNotExist => "REFUNDNOTEXIST", "No such refund.";
    TradeOverdue => "TRADE_OVERDUE", "Paid more than a year ago: cannot refund.";
    UserAccountAbnormal => "USER_ACCOUNT_ABNORMAL", "The payer's account is closed or abnormal.";
    Error => "ERROR", "Generic business error; read err_code_des.";
    TradeStateError => "TRADE_STATE_ERROR", "The order is in the wrong state.";
    ParamError => "PARAM_ERROR", "A parameter is wrong.";
    InvalidTransactionId => "INVALID_TRANSACTIONID", "The transaction_id is invalid.";
    LackParams => "LACK_PARAMS", "A required parameter is missing.";
    AppIdNotExist => "APPID_NOT_EXIST", "The appid does not exist.";
    MchIdNotExist => "MCHID_NOT_EXIST", "The mch_id does not exist.";
    AppIdMchIdNotMatch => "APPID_MCHID_NOT_MATCH", "The appid is not bound to the mch_id.";
    SignError => "SIGNERROR", "The signature is wrong.";
    XmlFormatError => "XML_FORMAT_ERROR", "The XML is malformed.";
    RequirePostMethod => "REQUIRE_POST_METHOD", "Not a POST.";
    PostDataEmpty => "POST_DATA_EMPTY", "Empty body.";
    NotUtf8 => "NOT_UTF8", "Not UTF-8.";
    NoAuth => "NOAUTH", "The merchant lacks permission for this product.";
}

impl ErrCode {
    /// What the caller must do when `api` answers with this code (§3 table).
    pub fn action(&self, api: Api) -> CallerAction {
        use CallerAction as Action;
        match self {
            ErrCode::SystemError | ErrCode::BizerrNeedRetry => Action::RetrySameParameters,
            ErrCode::InvalidReqTooMuch => Action::RetryLater { after_s: 60 },
            ErrCode::FrequencyLimited => Action::RetryLater { after_s: 60 },
            ErrCode::NotEnough if api == Api::Refund => Action::FundAccountThenRetry,
            ErrCode::NotEnough => Action::GiveUp,
            ErrCode::OrderPaid => Action::TreatAsPaid,
            ErrCode::OrderClosed => Action::TreatAsClosed,
            ErrCode::OutTradeNoUsed => Action::UseIdenticalParametersOrNewNumber,
            ErrCode::InvalidRequest if api == Api::UnifiedOrder => {
                Action::UseIdenticalParametersOrNewNumber
            }
            ErrCode::InvalidRequest => Action::FixRequest,
            ErrCode::OrderNotExist | ErrCode::RefundNotExist => Action::NotFound,
            ErrCode::TradeOverdue | ErrCode::UserAccountAbnormal | ErrCode::Error => {
                Action::HandleManually
            }
            ErrCode::TradeStateError => Action::Query,
            ErrCode::ParamError
            | ErrCode::InvalidTransactionId
            | ErrCode::LackParams
            | ErrCode::XmlFormatError
            | ErrCode::RequirePostMethod
            | ErrCode::PostDataEmpty
            | ErrCode::NotUtf8 => Action::FixRequest,
            ErrCode::AppIdNotExist
            | ErrCode::MchIdNotExist
            | ErrCode::AppIdMchIdNotMatch
            | ErrCode::SignError
            | ErrCode::NoAuth => Action::FixConfiguration,
            // An unknown code may be new and transient or new and final; querying is the only
            // action that is safe either way.
            ErrCode::Other(_) => Action::Query,
        }
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A request failed validation before anything was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A field breaks a documented rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule broken.
        reason: String,
    },
    /// An identifier is malformed.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A value cannot be written as XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
}

impl RequestError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> RequestError {
        RequestError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Everything that can go wrong calling a v2 endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WechatError {
    /// The request broke a rule and was not sent.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] RequestError),
    /// No response: the outcome is unknown (unless the transport says nothing was sent).
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// A status other than 200: WeChat answers every processed request with 200, so the outcome
    /// is unknown.
    #[error("HTTP status {status}")]
    HttpStatus {
        /// The status code.
        status: u16,
    },
    /// The reply is not a valid v2 message: the outcome is unknown.
    #[error("malformed reply: {0}")]
    MalformedReply(XmlError),
    /// A reply field is missing or malformed.
    #[error("reply field: {0}")]
    ReplyField(#[from] FieldError),
    /// The reply's signature is missing or wrong: it may be forged, so it is not believed.
    #[error("reply signature: {0}")]
    Signature(SignCheck),
    /// The reply names another appid or mch_id than the request.
    #[error("reply {field} is {received:?}, expected {expected:?}")]
    IdentityMismatch {
        /// The field.
        field: &'static str,
        /// What was sent.
        expected: String,
        /// What came back.
        received: String,
    },
    /// `return_code=FAIL`: refused at the protocol level (bad sign, parameters, permissions).
    #[error("protocol failure: {return_msg}")]
    Protocol {
        /// WeChat's `return_msg` (or sandbox `retmsg`).
        return_msg: String,
    },
    /// `result_code=FAIL`: a business refusal with an `err_code`.
    #[error("{api:?} failed: {err_code} ({err_code_des})")]
    Business {
        /// The operation.
        api: Api,
        /// The code.
        err_code: ErrCode,
        /// WeChat's description.
        err_code_des: String,
    },
}

impl WechatError {
    /// True when the request may have taken effect at WeChat without us knowing the result.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            WechatError::Transport(error) => error.outcome_unknown(),
            WechatError::HttpStatus { .. }
            | WechatError::MalformedReply(_)
            | WechatError::ReplyField(_)
            | WechatError::Signature(_)
            | WechatError::IdentityMismatch { .. } => true,
            WechatError::Business { err_code, .. } => *err_code == ErrCode::SystemError,
            WechatError::InvalidRequest(_) | WechatError::Protocol { .. } => false,
        }
    }

    /// What the caller must do next.
    pub fn action(&self) -> CallerAction {
        match self {
            WechatError::InvalidRequest(_) => CallerAction::FixRequest,
            WechatError::Transport(TransportError::NotSent { .. }) => {
                CallerAction::FixConfiguration
            }
            WechatError::Transport(_) | WechatError::HttpStatus { .. } => {
                CallerAction::RetrySameParameters
            }
            WechatError::MalformedReply(_)
            | WechatError::ReplyField(_)
            | WechatError::Signature(_)
            | WechatError::IdentityMismatch { .. } => CallerAction::Query,
            WechatError::Protocol { return_msg } => {
                if return_msg.contains("签名") || return_msg.contains("SIGN") {
                    CallerAction::FixConfiguration
                } else {
                    CallerAction::FixRequest
                }
            }
            WechatError::Business { api, err_code, .. } => err_code.action(*api),
        }
    }

    /// True when sending the identical request again is the right move.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.action(),
            CallerAction::RetrySameParameters | CallerAction::RetryLater { .. }
        )
    }

    /// The business error code, when this is a business failure.
    pub fn err_code(&self) -> Option<&ErrCode> {
        match self {
            WechatError::Business { err_code, .. } => Some(err_code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_through_its_wire_text() {
        for text in [
            "SYSTEMERROR",
            "ORDERPAID",
            "ORDERCLOSED",
            "INVALID_REQUEST",
            "REFUNDNOTEXIST",
            "NOAUTH",
        ] {
            let code = ErrCode::parse(text);
            assert!(!matches!(code, ErrCode::Other(_)), "{text} is known");
            assert_eq!(code.as_str(), text);
        }
        assert_eq!(
            ErrCode::parse("NEW_CODE"),
            ErrCode::Other("NEW_CODE".into())
        );
    }

    #[test]
    fn retry_policy_follows_the_section_3_table() {
        assert_eq!(
            ErrCode::SystemError.action(Api::UnifiedOrder),
            CallerAction::RetrySameParameters
        );
        assert_eq!(
            ErrCode::BizerrNeedRetry.action(Api::Refund),
            CallerAction::RetrySameParameters
        );
        assert_eq!(
            ErrCode::OrderPaid.action(Api::CloseOrder),
            CallerAction::TreatAsPaid
        );
        assert_eq!(
            ErrCode::NotEnough.action(Api::Refund),
            CallerAction::FundAccountThenRetry
        );
        assert_eq!(
            ErrCode::NotEnough.action(Api::UnifiedOrder),
            CallerAction::GiveUp
        );
        assert_eq!(
            ErrCode::InvalidRequest.action(Api::UnifiedOrder),
            CallerAction::UseIdenticalParametersOrNewNumber
        );
        assert_eq!(
            ErrCode::SignError.action(Api::OrderQuery),
            CallerAction::FixConfiguration
        );
    }

    #[test]
    fn transport_failures_leave_the_outcome_unknown() {
        let timeout = WechatError::Transport(TransportError::Timeout { timeout_ms: 5 });
        assert!(timeout.outcome_unknown());
        assert!(timeout.is_retryable());
        let not_sent = WechatError::Transport(TransportError::NotSent {
            detail: "no certificate".into(),
        });
        assert!(!not_sent.outcome_unknown());
        let protocol = WechatError::Protocol {
            return_msg: "签名错误".into(),
        };
        assert!(!protocol.outcome_unknown());
        assert_eq!(protocol.action(), CallerAction::FixConfiguration);
    }
}
