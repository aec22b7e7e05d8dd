//! The NHSA mobile-payment centre (国家医保局 移动支付中心), sans-IO: each endpoint is a typed
//! request with its code and path, sealed in the SM4/SM2 envelope (`envelope.rs`), and a typed
//! reply opened from the centre's envelope. Amounts travel as yuan strings with exactly two
//! decimals and are `AmountFen` everywhere else (yibao-pay.md §4).
//!
//! - `fee_upload.rs`: 6201 费用明细上传 (pre-settlement: `payOrdId`, `payToken`, the split).
//! - `refund.rs`: 6203 医保退费 (`refdType` ALL / CASH / HI).
//! - `settlement_query.rs`: 6301 医保订单结算结果查询 (`ordStas`).
//! - `revoke.rs`: 6401 费用明细上传撤销.

pub mod envelope;
pub mod fee_upload;
pub mod refund;
pub mod revoke;
pub mod settlement_query;

use serde_json::Value;

use crate::medical::amount::{format_yuan, parse_yuan};
use crate::money::AmountFen;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::error::CallerAction;
use envelope::NhsaCredentials;

/// Why a centre call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NhsaError {
    /// The request is invalid (caught before sending).
    #[error("NHSA request field {name}: {reason}")]
    Request {
        /// The field.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The centre answered with an HTTP status other than 200.
    #[error("NHSA answered HTTP {0}")]
    Status(u16),
    /// The reply is not JSON of the expected shape.
    #[error("NHSA reply malformed: {0}")]
    Malformed(String),
    /// A reply field is missing or malformed.
    #[error("NHSA envelope field {name}: {reason}")]
    Field {
        /// The field.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The reply does not decrypt with the application's key.
    #[error("NHSA reply does not decrypt")]
    Decrypt,
    /// The reply's SM2 signature does not verify with the centre's key.
    #[error("NHSA reply signature does not verify")]
    Signature,
    /// The centre refused (`code` ≠ 0).
    #[error("NHSA refused: {code} {message}")]
    Refused {
        /// `code`.
        code: i64,
        /// `message`.
        message: String,
    },
    /// An amount is not a yuan string with two decimals.
    #[error("NHSA amount {name}: {text:?} is not yuan with two decimals")]
    Amount {
        /// The field.
        name: &'static str,
        /// The text.
        text: String,
    },
    /// The split does not add up (fund + account + cash ≠ total).
    #[error(
        "NHSA split does not add up: fund {fund} + account {account} + cash {cash} ≠ total {total}"
    )]
    SplitMismatch {
        /// Total.
        total: AmountFen,
        /// Fund.
        fund: AmountFen,
        /// Personal account.
        account: AmountFen,
        /// Cash.
        cash: AmountFen,
    },
}

/// The centre's "系统繁忙，请稍后再试": nothing was done, try again (the code the national
/// platform's gateways answer when overloaded; cashier's choice where §4 lists no codes).
pub const SYSTEM_BUSY: i64 = 9999;

impl NhsaError {
    /// What the caller should do: a 5xx or the centre's "system busy" (code 9999, nothing
    /// done) is retried; a refused call, a bad signature or a malformed reply needs a person
    /// or a query; a bad request needs fixing.
    pub fn action(&self) -> CallerAction {
        match self {
            NhsaError::Status(status) if *status >= 500 => CallerAction::RetrySameParameters,
            NhsaError::Refused { code, .. } if *code == SYSTEM_BUSY => {
                CallerAction::RetryLater { after_s: 5 }
            }
            NhsaError::Request { .. } => CallerAction::FixRequest,
            NhsaError::Refused { .. } => CallerAction::GiveUp,
            _ => CallerAction::Query,
        }
    }
}

/// How an insured payment is split (yibao-pay.md §9): 统筹基金, 个人账户, 现金.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// `feeSumamt`: the total.
    pub total: AmountFen,
    /// `fundPay`: the pooled fund.
    pub fund: AmountFen,
    /// `psnAcctPay`: the patient's personal account.
    pub account: AmountFen,
    /// `ownPayAmt`: self-pay, charged through WeChat Pay.
    pub cash: AmountFen,
}

impl Split {
    /// A split whose parts add up to its total.
    pub fn new(
        total: AmountFen,
        fund: AmountFen,
        account: AmountFen,
        cash: AmountFen,
    ) -> Result<Split, NhsaError> {
        let sum = fund
            .fen()
            .checked_add(account.fen())
            .and_then(|sum| sum.checked_add(cash.fen()));
        if sum != Some(total.fen()) {
            return Err(NhsaError::SplitMismatch {
                total,
                fund,
                account,
                cash,
            });
        }
        Ok(Split {
            total,
            fund,
            account,
            cash,
        })
    }

    /// The insurance part (fund + account).
    pub fn insurance(&self) -> AmountFen {
        AmountFen::from_fen(self.fund.fen() + self.account.fen())
    }

    /// Reads the four yuan fields under the given names.
    pub(crate) fn read(data: &Value, names: [&'static str; 4]) -> Result<Split, NhsaError> {
        let [total, fund, account, cash] = names.map(|name| yuan_field(data, name));
        Split::new(total?, fund?, account?, cash?)
    }
}

/// A required yuan field of a reply.
pub(crate) fn yuan_field(data: &Value, name: &'static str) -> Result<AmountFen, NhsaError> {
    let text = data
        .get(name)
        .and_then(Value::as_str)
        .ok_or(NhsaError::Field {
            name,
            reason: "missing or not a string",
        })?;
    parse_yuan(text).map_err(|_| NhsaError::Amount {
        name,
        text: text.to_owned(),
    })
}

/// A required string field of a reply.
pub(crate) fn text_field(data: &Value, name: &'static str) -> Result<String, NhsaError> {
    data.get(name)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
        .ok_or(NhsaError::Field {
            name,
            reason: "missing or empty",
        })
}

/// An amount as the centre writes it.
pub(crate) fn yuan(amount: AmountFen) -> Value {
    Value::String(format_yuan(amount))
}

/// One centre endpoint: its code and path, its business JSON, its decoded reply.
pub trait NhsaEndpoint {
    /// The transaction code (`6201`, ...).
    const CODE: &'static str;
    /// The path below the centre's base URL.
    const PATH: &'static str;
    /// The decoded reply.
    type Reply;
    /// The business JSON (validated).
    fn data(&self) -> Result<Value, NhsaError>;
    /// Decodes the opened reply data.
    fn decode(data: &Value) -> Result<Self::Reply, NhsaError>;
}

/// Builds the sealed HTTP request of an endpoint.
pub fn build<E: NhsaEndpoint>(
    endpoint: &E,
    credentials: &NhsaCredentials,
    base_url: &str,
    timestamp_ms: i64,
) -> Result<HttpRequest, NhsaError> {
    let sealed = envelope::seal(
        credentials,
        &credentials.private_key,
        &endpoint.data()?,
        timestamp_ms,
        None,
    );
    let path = format!("/org/local/api/hos{}", E::PATH);
    Ok(HttpRequest {
        method: "POST",
        url: format!("{}{path}", base_url.trim_end_matches('/')),
        path,
        headers: vec![("Content-Type", "application/json".into())],
        body: sealed.to_string().into_bytes(),
        needs_client_certificate: false,
    })
}

/// Parses the centre's reply: status, `code`, signature, decryption, then the endpoint's fields.
pub fn parse<E: NhsaEndpoint>(
    response: &HttpResponse,
    credentials: &NhsaCredentials,
) -> Result<E::Reply, NhsaError> {
    if response.status != 200 {
        return Err(NhsaError::Status(response.status));
    }
    let reply: Value = serde_json::from_slice(&response.body)
        .map_err(|error| NhsaError::Malformed(error.to_string()))?;
    let code = reply
        .get("code")
        .and_then(Value::as_i64)
        .ok_or(NhsaError::Field {
            name: "code",
            reason: "missing or not a number",
        })?;
    if code != 0 {
        let message = reply
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Err(NhsaError::Refused { code, message });
    }
    let data = envelope::open(credentials, &credentials.platform_key, &reply)?;
    E::decode(&data)
}
