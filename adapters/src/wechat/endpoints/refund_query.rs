//! `pay/refundquery` (wechatpay-v2.md §2.6; https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5):
//! the state of one refund or of all refunds of an order, ten per page (`offset`).

use crate::ids::{OutRefundNo, OutTradeNo, RefundId, TransactionId};
use crate::money::AmountFen;
use crate::wechat::endpoints::Endpoint;
use crate::wechat::error::{Api, RequestError, WechatError};
use crate::wechat::fields::{FieldError, Fields};
use crate::wechat::merchant::MerchantContext;
use crate::wechat::types::RefundStatus;

/// What to query; WeChat's priority when several are sent is
/// `refund_id > out_refund_no > transaction_id > out_trade_no`, so exactly one is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundRef {
    /// One refund by WeChat's id.
    RefundId(RefundId),
    /// One refund by the merchant's number.
    OutRefundNo(OutRefundNo),
    /// All refunds of an order by WeChat's id.
    TransactionId(TransactionId),
    /// All refunds of an order by the merchant's number.
    OutTradeNo(OutTradeNo),
}

/// A refund query, optionally from `offset` (pages of ten).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundQueryRequest {
    /// What to query.
    pub refund: RefundRef,
    /// The first record to return, for orders with more than ten refunds.
    pub offset: Option<u32>,
}

/// One coupon's share of a refund (`coupon_*_$n_$m`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CouponRefund {
    /// `coupon_refund_id_$n_$m`.
    pub coupon_refund_id: String,
    /// `coupon_type_$n_$m`.
    pub coupon_type: Option<String>,
    /// `coupon_refund_fee_$n_$m`.
    pub coupon_refund_fee: AmountFen,
}

/// One refund of the order (`*_$n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRecord {
    /// `out_refund_no_$n`.
    pub out_refund_no: OutRefundNo,
    /// `refund_id_$n`.
    pub refund_id: RefundId,
    /// `refund_status_$n`.
    pub refund_status: RefundStatus,
    /// `refund_fee_$n`.
    pub refund_fee: AmountFen,
    /// `settlement_refund_fee_$n`.
    pub settlement_refund_fee: Option<AmountFen>,
    /// `refund_channel_$n` (`ORIGINAL`, `BALANCE`).
    pub refund_channel: Option<String>,
    /// `refund_account_$n`.
    pub refund_account: Option<String>,
    /// `refund_recv_accout_$n` (sic).
    pub refund_recv_accout: Option<String>,
    /// `refund_success_time_$n`, Beijing `yyyy-MM-dd HH:mm:ss`, when SUCCESS.
    pub refund_success_time: Option<String>,
    /// The coupons' shares.
    pub coupon_refunds: Vec<CouponRefund>,
}

/// The refunds found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundQueryReply {
    /// `total_refund_count`: all refunds of the order (present when paging applies).
    pub total_refund_count: Option<usize>,
    /// `transaction_id`.
    pub transaction_id: Option<TransactionId>,
    /// `out_trade_no`.
    pub out_trade_no: Option<OutTradeNo>,
    /// `total_fee`.
    pub total_fee: Option<AmountFen>,
    /// `cash_fee`.
    pub cash_fee: Option<AmountFen>,
    /// The refunds on this page, in index order.
    pub refunds: Vec<RefundRecord>,
    /// Every field received.
    pub fields: Fields,
}

impl RefundQueryReply {
    /// The offset of the next page, when `total_refund_count` says there are more records after
    /// this page (which was requested at `offset`).
    pub fn next_offset(&self, offset: u32) -> Option<u32> {
        let total = self.total_refund_count?;
        let seen = offset as usize + self.refunds.len();
        (seen < total && !self.refunds.is_empty())
            .then(|| u32::try_from(seen).ok())
            .flatten()
    }
}

fn nth_amount(
    fields: &Fields,
    prefix: &'static str,
    index: usize,
) -> Result<Option<AmountFen>, FieldError> {
    match fields.nth(prefix, index) {
        None => Ok(None),
        Some(text) => AmountFen::parse_fen(text)
            .map(Some)
            .map_err(|_| FieldError::invalid(prefix, text, "an integer number of fen")),
    }
}

fn read_record(
    fields: &Fields,
    index: usize,
    out_refund_no: &str,
) -> Result<RefundRecord, FieldError> {
    let text = |prefix: &str| fields.nth(prefix, index).map(str::to_owned);
    let refund_id = fields.nth("refund_id", index).unwrap_or("");
    let coupon_refunds = fields
        .indexed(&format!("coupon_refund_id_{index}"))
        .into_iter()
        .map(|(inner, coupon_refund_id)| {
            let fee_text = fields
                .nth_nth("coupon_refund_fee", index, inner)
                .unwrap_or("");
            Ok(CouponRefund {
                coupon_refund_id: coupon_refund_id.to_owned(),
                coupon_type: fields
                    .nth_nth("coupon_type", index, inner)
                    .map(str::to_owned),
                coupon_refund_fee: AmountFen::parse_fen(fee_text).map_err(|_| {
                    FieldError::invalid(
                        "coupon_refund_fee_$n_$m",
                        fee_text,
                        "an integer number of fen",
                    )
                })?,
            })
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    Ok(RefundRecord {
        out_refund_no: OutRefundNo::new(out_refund_no).map_err(|_| {
            FieldError::invalid("out_refund_no_$n", out_refund_no, "a refund number")
        })?,
        refund_id: RefundId::new(refund_id)
            .map_err(|_| FieldError::invalid("refund_id_$n", refund_id, "a refund id"))?,
        refund_status: fields
            .nth("refund_status", index)
            .map(RefundStatus::parse)
            .ok_or(FieldError::Missing {
                name: "refund_status_$n",
            })?,
        refund_fee: nth_amount(fields, "refund_fee", index)?.ok_or(FieldError::Missing {
            name: "refund_fee_$n",
        })?,
        settlement_refund_fee: nth_amount(fields, "settlement_refund_fee", index)?,
        refund_channel: text("refund_channel"),
        refund_account: text("refund_account"),
        refund_recv_accout: text("refund_recv_accout"),
        refund_success_time: text("refund_success_time"),
        coupon_refunds,
    })
}

impl Endpoint for RefundQueryRequest {
    const API: Api = Api::RefundQuery;
    const PATH: &'static str = "/pay/refundquery";
    type Reply = RefundQueryReply;

    fn business_fields(&self, _merchant: &MerchantContext) -> Result<Fields, RequestError> {
        let mut fields = Fields::with_capacity(8);
        match &self.refund {
            RefundRef::RefundId(id) => fields.insert("refund_id", id.as_str()),
            RefundRef::OutRefundNo(number) => fields.insert("out_refund_no", number.as_str()),
            RefundRef::TransactionId(id) => fields.insert("transaction_id", id.as_str()),
            RefundRef::OutTradeNo(number) => fields.insert("out_trade_no", number.as_str()),
        };
        fields.insert_optional("offset", self.offset.map(|offset| offset.to_string()));
        Ok(fields)
    }

    fn decode(fields: Fields) -> Result<RefundQueryReply, WechatError> {
        // Records are found through the `out_refund_no_$n` family rather than by counting from
        // zero, so a page whose indices start at the offset is read the same way.
        let refunds = fields
            .indexed("out_refund_no")
            .into_iter()
            .map(|(index, number)| read_record(&fields, index, number))
            .collect::<Result<Vec<_>, FieldError>>()?;
        if let Some(count) = fields.count("refund_count")? {
            if count != refunds.len() {
                return Err(FieldError::invalid(
                    "refund_count",
                    fields.get("refund_count").unwrap_or(""),
                    "the number of out_refund_no_$n fields",
                )
                .into());
            }
        }
        Ok(RefundQueryReply {
            total_refund_count: fields.count("total_refund_count")?,
            transaction_id: fields.optional_as("transaction_id", TransactionId::new)?,
            out_trade_no: fields.optional_as("out_trade_no", OutTradeNo::new)?,
            total_fee: fields.amount("total_fee")?,
            cash_fee: fields.amount("cash_fee")?,
            refunds,
            fields,
        })
    }
}
