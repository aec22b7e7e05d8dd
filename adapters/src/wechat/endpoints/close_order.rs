//! `pay/closeorder` (wechatpay-v2.md §2.4; https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_3):
//! closes an unpaid order. WeChat refuses it within 5 minutes of creation; `ORDERPAID` means the
//! order was paid after all and must be treated as paid.

use crate::ids::OutTradeNo;
use crate::wechat::endpoints::Endpoint;
use crate::wechat::error::{Api, RequestError, WechatError};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;

/// Closes the order `out_trade_no`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseOrderRequest {
    /// `out_trade_no`.
    pub out_trade_no: OutTradeNo,
}

/// A successful close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseOrderReply {
    /// `result_msg`, when given.
    pub result_msg: Option<String>,
    /// Every field received.
    pub fields: Fields,
}

impl Endpoint for CloseOrderRequest {
    const API: Api = Api::CloseOrder;
    const PATH: &'static str = "/pay/closeorder";
    type Reply = CloseOrderReply;

    fn business_fields(&self, _merchant: &MerchantContext) -> Result<Fields, RequestError> {
        let mut fields = Fields::with_capacity(8);
        fields.insert("out_trade_no", self.out_trade_no.as_str());
        Ok(fields)
    }

    fn decode(fields: Fields) -> Result<CloseOrderReply, WechatError> {
        Ok(CloseOrderReply {
            result_msg: fields.get_nonempty("result_msg").map(str::to_owned),
            fields,
        })
    }
}
