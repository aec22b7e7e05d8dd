//! `secapi/pay/refund` (wechatpay-v2.md §2.5; https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4):
//! requests a refund; needs the client certificate. `result_code=SUCCESS` means *accepted*: the
//! final state comes from the refund notification or refundquery. A retry after any failure must
//! reuse the same `out_refund_no`, and the refund must be made with the paying order's appid,
//! mch_id and mode (the [`MerchantContext`] the payment was made with).

use crate::ids::{OutRefundNo, OutTradeNo, RefundId, TransactionId};
use crate::money::AmountFen;
use crate::wechat::endpoints::Endpoint;
use crate::wechat::error::{Api, RequestError, WechatError};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;
use crate::wechat::types::{check_notify_url, check_text, OrderRef};

/// Which funds a refund is paid from (old fund-flow merchants only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundAccount {
    /// `REFUND_SOURCE_UNSETTLED_FUNDS` (the default).
    UnsettledFunds,
    /// `REFUND_SOURCE_RECHARGE_FUNDS`: the available balance.
    RechargeFunds,
}

impl RefundAccount {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundAccount::UnsettledFunds => "REFUND_SOURCE_UNSETTLED_FUNDS",
            RefundAccount::RechargeFunds => "REFUND_SOURCE_RECHARGE_FUNDS",
        }
    }
}

/// A refund request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    /// The paid order.
    pub order: OrderRef,
    /// `out_refund_no`: the idempotency key of this refund.
    pub out_refund_no: OutRefundNo,
    /// `total_fee`: the order's total.
    pub total_fee: AmountFen,
    /// `refund_fee`: this refund's amount.
    pub refund_fee: AmountFen,
    /// `refund_desc`: shown to the payer (at most 80 bytes).
    pub refund_desc: Option<String>,
    /// `refund_account`.
    pub refund_account: Option<RefundAccount>,
    /// `notify_url`: overrides the refund notification URL set in the merchant platform.
    pub notify_url: Option<String>,
}

/// An accepted refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundReply {
    /// `refund_id`.
    pub refund_id: RefundId,
    /// `out_refund_no`.
    pub out_refund_no: OutRefundNo,
    /// `transaction_id`.
    pub transaction_id: Option<TransactionId>,
    /// `out_trade_no`.
    pub out_trade_no: Option<OutTradeNo>,
    /// `refund_fee`.
    pub refund_fee: AmountFen,
    /// `total_fee`.
    pub total_fee: Option<AmountFen>,
    /// `cash_refund_fee`.
    pub cash_refund_fee: Option<AmountFen>,
    /// Every field received (coupon refund families included).
    pub fields: Fields,
}

impl Endpoint for RefundRequest {
    const API: Api = Api::Refund;
    const PATH: &'static str = "/secapi/pay/refund";
    const NEEDS_CLIENT_CERTIFICATE: bool = true;
    type Reply = RefundReply;

    fn business_fields(&self, _merchant: &MerchantContext) -> Result<Fields, RequestError> {
        if self.refund_fee.is_zero() {
            return Err(RequestError::invalid(
                "refund_fee",
                "must be at least 1 fen",
            ));
        }
        if self.refund_fee > self.total_fee {
            return Err(RequestError::invalid("refund_fee", "exceeds total_fee"));
        }
        if let Some(description) = &self.refund_desc {
            check_text("refund_desc", description, 80)?;
        }
        if let Some(url) = &self.notify_url {
            check_notify_url("notify_url", url)?;
        }
        let mut fields = Fields::with_capacity(16);
        self.order.add_to(&mut fields);
        fields.insert("out_refund_no", self.out_refund_no.as_str());
        fields.insert("total_fee", self.total_fee.to_string());
        fields.insert("refund_fee", self.refund_fee.to_string());
        fields.insert_optional("refund_desc", self.refund_desc.as_deref());
        fields.insert_optional(
            "refund_account",
            self.refund_account.map(RefundAccount::as_str),
        );
        fields.insert_optional("notify_url", self.notify_url.as_deref());
        Ok(fields)
    }

    fn decode(fields: Fields) -> Result<RefundReply, WechatError> {
        Ok(RefundReply {
            refund_id: fields.required_as("refund_id", RefundId::new)?,
            out_refund_no: fields.required_as("out_refund_no", OutRefundNo::new)?,
            transaction_id: fields.optional_as("transaction_id", TransactionId::new)?,
            out_trade_no: fields.optional_as("out_trade_no", OutTradeNo::new)?,
            refund_fee: fields.required_amount("refund_fee")?,
            total_fee: fields.amount("total_fee")?,
            cash_refund_fee: fields.amount("cash_refund_fee")?,
            fields,
        })
    }
}
