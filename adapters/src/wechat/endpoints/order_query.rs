//! `pay/orderquery` (wechatpy-v2.md §2.3; https://pay.weixin.qq.com/wiki/doc/api/wxa/wxa_api.php?chapter=9_2):
//! the authoritative answer to "was this paid?", used when a notification is missing, after an
//! unknown outcome, and when the client reports success.

use crate::wechat::endpoints::Endpoint;
use crate::wechat::error::{Api, RequestError, WechatError};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;
use crate::wechat::types::{OrderRef, PaymentDetails, TradeState};

/// Queries one order by `transaction_id` or `out_trade_no`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderQueryRequest {
    /// Which order.
    pub order: OrderRef,
}

/// The order's state and, when paid, its payment details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderQueryReply {
    /// `trade_state`.
    pub trade_state: TradeState,
    /// `trade_state_desc`.
    pub trade_state_desc: Option<String>,
    /// The payment facts.
    pub details: PaymentDetails,
    /// Every field received.
    pub fields: Fields,
}

impl Endpoint for OrderQueryRequest {
    const API: Api = Api::OrderQuery;
    const PATH: &'static str = "/pay/orderquery";
    type Reply = OrderQueryReply;

    fn business_fields(&self, _merchant: &MerchantContext) -> Result<Fields, RequestError> {
        let mut fields = Fields::with_capacity(8);
        self.order.add_to(&mut fields);
        Ok(fields)
    }

    fn decode(fields: Fields) -> Result<OrderQueryReply, WechatError> {
        let trade_state = TradeState::parse(fields.required("trade_state")?);
        let details = PaymentDetails::read(&fields)?;
        if trade_state.is_paid() {
            // A paid order always names its WeChat id and amount; without them the reply cannot
            // be applied safely.
            fields.required("transaction_id")?;
            fields.required_amount("total_fee")?;
        }
        Ok(OrderQueryReply {
            trade_state,
            trade_state_desc: fields.get_nonempty("trade_state_desc").map(str::to_owned),
            details,
            fields,
        })
    }
}
