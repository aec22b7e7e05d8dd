//! Wire enums and record types shared by several endpoints and notifications: trade types and
//! states, refund states, order references, coupons, and the payment details that orderquery
//! and the payment notification both carry (§2.3, §4).

use serde::{Deserialize, Serialize};

use crate::ids::{OutTradeNo, TransactionId};
use crate::money::AmountFen;
use crate::wechat::error::RequestError;
use crate::wechat::fields::{FieldError, Fields};

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$variant_doc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$variant_doc])* $variant,)*
            /// A value this crate does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Parses the wire text.
            pub fn parse(text: &str) -> $name {
                match text {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }

            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(text) => text,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// `trade_type`.
    TradeType {
        /// Official account and mini program payments.
        Jsapi => "JSAPI",
        /// QR code payments.
        Native => "NATIVE",
        /// In-app payments.
        App => "APP",
        /// H5 payments in a phone browser.
        Mweb => "MWEB",
        /// Payment-code (付款码) payments.
        Micropay => "MICROPAY",
    }
);

wire_enum!(
    /// `trade_state` from orderquery (§2.3).
    TradeState {
        /// Paid.
        Success => "SUCCESS",
        /// Paid, and a refund has been started.
        Refund => "REFUND",
        /// Not paid yet.
        NotPay => "NOTPAY",
        /// Closed.
        Closed => "CLOSED",
        /// Reversed (micropay).
        Revoked => "REVOKED",
        /// The payer is entering a password (micropay).
        UserPaying => "USERPAYING",
        /// Payment failed (micropay).
        PayError => "PAYERROR",
        /// Accepted, awaiting debit.
        Accept => "ACCEPT",
    }
);

impl TradeState {
    /// True when the order was paid (SUCCESS, or REFUND: paid and then refunded).
    pub fn is_paid(&self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }

    /// True when nothing can change any more except refunds.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TradeState::Success
                | TradeState::Refund
                | TradeState::Closed
                | TradeState::Revoked
                | TradeState::PayError
        )
    }
}

wire_enum!(
    /// `refund_status_$n` and the refund notification's `refund_status` (§2.6, §5).
    RefundStatus {
        /// Refunded.
        Success => "SUCCESS",
        /// Refund closed: failed for good.
        RefundClose => "REFUNDCLOSE",
        /// Still in progress.
        Processing => "PROCESSING",
        /// Abnormal: the payer's card was invalid, money returned to the merchant; manual work.
        Change => "CHANGE",
    }
);

impl RefundStatus {
    /// True when the refund will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            RefundStatus::Success | RefundStatus::RefundClose | RefundStatus::Change
        )
    }
}

/// Identifies an order in orderquery and refund: WeChat's id wins when both are known (§2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderRef {
    /// By `transaction_id`.
    TransactionId(TransactionId),
    /// By `out_trade_no`.
    OutTradeNo(OutTradeNo),
}

impl OrderRef {
    pub(crate) fn add_to(&self, fields: &mut Fields) {
        match self {
            OrderRef::TransactionId(id) => fields.insert("transaction_id", id.as_str()),
            OrderRef::OutTradeNo(number) => fields.insert("out_trade_no", number.as_str()),
        };
    }
}

/// One coupon used on a payment (`coupon_id_$n`, `coupon_type_$n`, `coupon_fee_$n`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    /// `coupon_id_$n`.
    pub coupon_id: String,
    /// `coupon_type_$n`: `CASH` (recharge) or `NO_CASH` (non-recharge), when given.
    pub coupon_type: Option<String>,
    /// `coupon_fee_$n`.
    pub coupon_fee: AmountFen,
}

/// Reads the `coupon_*_$n` family. The count is `coupon_count` when present (it must agree
/// with the family), else the number of `coupon_id_$n` fields.
pub(crate) fn read_coupons(fields: &Fields) -> Result<Vec<Coupon>, FieldError> {
    let ids = fields.indexed("coupon_id");
    let count = fields.count("coupon_count")?.unwrap_or(ids.len());
    if count != ids.len()
        || ids
            .iter()
            .enumerate()
            .any(|(position, (index, _))| position != *index)
    {
        return Err(FieldError::invalid(
            "coupon_count",
            fields.get("coupon_count").unwrap_or(""),
            "the number of coupon_id_$n fields, indexed from 0",
        ));
    }
    ids.into_iter()
        .map(|(index, coupon_id)| {
            let fee_text = fields.nth("coupon_fee", index).unwrap_or("");
            let coupon_fee = AmountFen::parse_fen(fee_text).map_err(|_| {
                FieldError::invalid("coupon_fee_$n", fee_text, "an integer number of fen")
            })?;
            Ok(Coupon {
                coupon_id: coupon_id.to_owned(),
                coupon_type: fields.nth("coupon_type", index).map(str::to_owned),
                coupon_fee,
            })
        })
        .collect()
}

/// The payment facts orderquery and the payment notification share. Optional fields are absent
/// for unpaid orders (§2.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDetails {
    /// `out_trade_no`.
    pub out_trade_no: OutTradeNo,
    /// `transaction_id` (paid orders).
    pub transaction_id: Option<TransactionId>,
    /// `trade_type`.
    pub trade_type: Option<TradeType>,
    /// `total_fee`: the order amount.
    pub total_fee: Option<AmountFen>,
    /// `settlement_total_fee`: total minus non-recharge coupons, when such coupons were used.
    pub settlement_total_fee: Option<AmountFen>,
    /// `cash_fee`: what the payer paid in cash.
    pub cash_fee: Option<AmountFen>,
    /// `fee_type` (CNY).
    pub fee_type: Option<String>,
    /// `coupon_fee`: the coupons' total.
    pub coupon_fee: Option<AmountFen>,
    /// The coupons.
    pub coupons: Vec<Coupon>,
    /// `openid`: the payer under `appid`.
    pub openid: Option<String>,
    /// `sub_openid`: the payer under `sub_appid` (SP mode).
    pub sub_openid: Option<String>,
    /// `is_subscribe`.
    pub is_subscribe: Option<String>,
    /// `bank_type`.
    pub bank_type: Option<String>,
    /// `attach`, echoed from unifiedorder.
    pub attach: Option<String>,
    /// `time_end`: payment time, Beijing `yyyyMMddHHmmss`.
    pub time_end: Option<String>,
}

impl PaymentDetails {
    pub(crate) fn read(fields: &Fields) -> Result<PaymentDetails, FieldError> {
        let text = |name: &str| fields.get_nonempty(name).map(str::to_owned);
        Ok(PaymentDetails {
            out_trade_no: fields.required_as("out_trade_no", OutTradeNo::new)?,
            transaction_id: fields.optional_as("transaction_id", TransactionId::new)?,
            trade_type: fields.get_nonempty("trade_type").map(TradeType::parse),
            total_fee: fields.amount("total_fee")?,
            settlement_total_fee: fields.amount("settlement_total_fee")?,
            cash_fee: fields.amount("cash_fee")?,
            fee_type: text("fee_type"),
            coupon_fee: fields.amount("coupon_fee")?,
            coupons: read_coupons(fields)?,
            openid: text("openid"),
            sub_openid: text("sub_openid"),
            is_subscribe: text("is_subscribe"),
            bank_type: text("bank_type"),
            attach: text("attach"),
            time_end: text("time_end"),
        })
    }
}

/// Checks a free-text request field: at most `max_bytes` UTF-8 bytes, no 4-byte characters
/// (§0: only 1–3-byte characters), no characters XML cannot carry, no surrounding whitespace
/// (whitespace handling is unconfirmed on WeChat's side, §1.4, so it is refused up front).
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    max_bytes: usize,
) -> Result<(), RequestError> {
    if value.len() > max_bytes {
        return Err(RequestError::invalid(
            field,
            format!("at most {max_bytes} bytes of UTF-8, got {}", value.len()),
        ));
    }
    if crate::wechat::xml::has_four_byte_characters(value) {
        return Err(RequestError::invalid(
            field,
            "4-byte characters (such as emoji) are refused by WeChat",
        ));
    }
    if !value.chars().all(crate::wechat::xml::is_xml_char) {
        return Err(RequestError::invalid(
            field,
            "control characters cannot be sent",
        ));
    }
    if value.trim() != value {
        return Err(RequestError::invalid(
            field,
            "leading or trailing whitespace",
        ));
    }
    Ok(())
}

/// Checks a `notify_url`: absolute http(s), at most 256 bytes, no query string (§2.2).
pub(crate) fn check_notify_url(field: &'static str, url: &str) -> Result<(), RequestError> {
    check_text(field, url, 256)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            RequestError::invalid(field, "must be an absolute http:// or https:// URL")
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(RequestError::invalid(field, "must name a host"));
    }
    if url.contains('?') || url.contains(char::is_whitespace) {
        return Err(RequestError::invalid(
            field,
            "must not carry a query string or spaces",
        ));
    }
    Ok(())
}
