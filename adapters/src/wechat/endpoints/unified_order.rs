//! `pay/unifiedorder` (wechatpay-v2.md §2.2; https://pay.weixin.qq.com/wiki/doc/api/native.php?chapter=9_1):
//! creates the prepayment for JSAPI (official account and mini program), NATIVE, APP and MWEB.
//!
//! Re-entry with the same `out_trade_no` and identical parameters returns a usable prepay_id;
//! changed parameters fail with `INVALID_REQUEST` "201 商户订单号重复". Callers that retry must
//! therefore keep the request value and send it again unchanged.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::ids::{OpenId, OutTradeNo, PrepayId};
use crate::money::AmountFen;
use crate::wechat::endpoints::Endpoint;
use crate::wechat::error::{Api, RequestError, WechatError};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;
use crate::wechat::time;
use crate::wechat::types::{check_notify_url, check_text, TradeType};

/// Who pays a JSAPI order: `openid` under `appid`, or `sub_openid` under `sub_appid` (SP mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payer {
    /// `openid`: the payer under the order's `appid`.
    OpenId(OpenId),
    /// `sub_openid`: the payer under `sub_appid` (requires a `sub_appid`).
    SubOpenId(OpenId),
}

/// The H5 site described in `scene_info` for MWEB orders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct H5Scene {
    /// `wap_url`: the site's URL.
    pub wap_url: String,
    /// `wap_name`: the site's name.
    pub wap_name: String,
}

/// The trade type with the fields each one requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trade {
    /// JSAPI: official account or mini program; the payer is required.
    Jsapi {
        /// The payer.
        payer: Payer,
    },
    /// NATIVE: a QR code; `product_id` is required.
    Native {
        /// `product_id`.
        product_id: String,
    },
    /// APP.
    App,
    /// MWEB (H5): `scene_info` with the site is required.
    Mweb {
        /// The site.
        scene: H5Scene,
    },
}

impl Trade {
    /// The `trade_type` value.
    pub fn trade_type(&self) -> TradeType {
        match self {
            Trade::Jsapi { .. } => TradeType::Jsapi,
            Trade::Native { .. } => TradeType::Native,
            Trade::App => TradeType::App,
            Trade::Mweb { .. } => TradeType::Mweb,
        }
    }
}

/// A unified order request. Build it once per payment attempt and keep it: a retry must send
/// exactly the same values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnifiedOrderRequest {
    /// `out_trade_no`.
    pub out_trade_no: OutTradeNo,
    /// `body`: short description, at most 128 bytes.
    pub body: String,
    /// `total_fee`: positive integer fen.
    pub total_fee: AmountFen,
    /// `spbill_create_ip`: the payer's IP (the server's for NATIVE).
    pub spbill_create_ip: IpAddr,
    /// `notify_url`: absolute, no query string.
    pub notify_url: String,
    /// The trade type and its required fields.
    pub trade: Trade,
    /// `detail`: goods detail JSON, at most 6000 bytes.
    pub detail: Option<String>,
    /// `attach`: echoed back in query and notification, at most 127 bytes.
    pub attach: Option<String>,
    /// `device_info`.
    pub device_info: Option<String>,
    /// `time_start` as Unix seconds (sent as Beijing `yyyyMMddHHmmss`).
    pub time_start_unix_s: Option<i64>,
    /// `time_expire` as Unix seconds (sent as Beijing `yyyyMMddHHmmss`).
    pub time_expire_unix_s: Option<i64>,
    /// `goods_tag`.
    pub goods_tag: Option<String>,
    /// `limit_pay=no_credit` when true.
    pub forbid_credit_cards: bool,
    /// `receipt=Y` when true.
    pub receipt: bool,
    /// `profit_sharing` (SP mode): `Y`/`N` when set.
    pub profit_sharing: Option<bool>,
}

impl UnifiedOrderRequest {
    /// A request with the required fields only.
    pub fn new(
        out_trade_no: OutTradeNo,
        body: impl Into<String>,
        total_fee: AmountFen,
        spbill_create_ip: IpAddr,
        notify_url: impl Into<String>,
        trade: Trade,
    ) -> UnifiedOrderRequest {
        UnifiedOrderRequest {
            out_trade_no,
            body: body.into(),
            total_fee,
            spbill_create_ip,
            notify_url: notify_url.into(),
            trade,
            detail: None,
            attach: None,
            device_info: None,
            time_start_unix_s: None,
            time_expire_unix_s: None,
            goods_tag: None,
            forbid_credit_cards: false,
            receipt: false,
            profit_sharing: None,
        }
    }

    fn validate(&self, merchant: &MerchantContext) -> Result<(), RequestError> {
        if self.body.is_empty() {
            return Err(RequestError::invalid("body", "required"));
        }
        check_text("body", &self.body, 128)?;
        if self.total_fee.is_zero() {
            return Err(RequestError::invalid("total_fee", "must be at least 1 fen"));
        }
        if self.total_fee.fen() > crate::money::MAX_WIRE_FEN {
            return Err(RequestError::invalid(
                "total_fee",
                "exceeds WeChat's integer range",
            ));
        }
        check_notify_url("notify_url", &self.notify_url)?;
        if let Some(detail) = &self.detail {
            check_text("detail", detail, 6000)?;
        }
        if let Some(attach) = &self.attach {
            check_text("attach", attach, 127)?;
        }
        if let Some(device_info) = &self.device_info {
            check_text("device_info", device_info, 32)?;
        }
        if let Some(goods_tag) = &self.goods_tag {
            check_text("goods_tag", goods_tag, 32)?;
        }
        if let (Some(start), Some(expire)) = (self.time_start_unix_s, self.time_expire_unix_s) {
            if expire <= start + 60 {
                return Err(RequestError::invalid(
                    "time_expire",
                    "must be more than one minute after time_start",
                ));
            }
        }
        match &self.trade {
            Trade::Jsapi {
                payer: Payer::SubOpenId(_),
            } if merchant.sub_appid.is_none() => Err(RequestError::invalid(
                "sub_openid",
                "requires a sub_appid (service-provider mode with the sub-merchant's app)",
            )),
            Trade::Native { product_id } => {
                if product_id.is_empty() {
                    return Err(RequestError::invalid("product_id", "required for NATIVE"));
                }
                check_text("product_id", product_id, 32)
            }
            Trade::Mweb { scene } => {
                check_text("wap_url", &scene.wap_url, 128)?;
                check_text("wap_name", &scene.wap_name, 64)
            }
            _ => Ok(()),
        }
    }
}

/// Builds the MWEB `scene_info` JSON (`{"h5_info":{"type":"Wap",...}}`).
fn scene_info_json(scene: &H5Scene) -> String {
    serde_json::json!({
        "h5_info": { "type": "Wap", "wap_url": scene.wap_url, "wap_name": scene.wap_name }
    })
    .to_string()
}

/// A successful unified order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnifiedOrderReply {
    /// `trade_type` as WeChat echoes it.
    pub trade_type: TradeType,
    /// `prepay_id`, valid for two hours.
    pub prepay_id: PrepayId,
    /// `code_url` (NATIVE).
    pub code_url: Option<String>,
    /// `mweb_url` (MWEB), valid for five minutes.
    pub mweb_url: Option<String>,
    /// Every field received, for the audit trail.
    pub fields: Fields,
}

impl Endpoint for UnifiedOrderRequest {
    const API: Api = Api::UnifiedOrder;
    const PATH: &'static str = "/pay/unifiedorder";
    type Reply = UnifiedOrderReply;

    fn business_fields(&self, merchant: &MerchantContext) -> Result<Fields, RequestError> {
        self.validate(merchant)?;
        let mut fields = Fields::with_capacity(24);
        fields.insert("out_trade_no", self.out_trade_no.as_str());
        fields.insert("body", self.body.as_str());
        fields.insert("total_fee", self.total_fee.to_string());
        fields.insert("spbill_create_ip", self.spbill_create_ip.to_string());
        fields.insert("notify_url", self.notify_url.as_str());
        fields.insert("trade_type", self.trade.trade_type().as_str());
        match &self.trade {
            Trade::Jsapi {
                payer: Payer::OpenId(openid),
            } => fields.insert("openid", openid.as_str()),
            Trade::Jsapi {
                payer: Payer::SubOpenId(openid),
            } => fields.insert("sub_openid", openid.as_str()),
            Trade::Native { product_id } => fields.insert("product_id", product_id.as_str()),
            Trade::App => None,
            Trade::Mweb { scene } => fields.insert("scene_info", scene_info_json(scene)),
        };
        fields.insert_optional("detail", self.detail.as_deref());
        fields.insert_optional("attach", self.attach.as_deref());
        fields.insert_optional("device_info", self.device_info.as_deref());
        fields.insert_optional(
            "time_start",
            self.time_start_unix_s.map(time::format_compact),
        );
        fields.insert_optional(
            "time_expire",
            self.time_expire_unix_s.map(time::format_compact),
        );
        fields.insert_optional("goods_tag", self.goods_tag.as_deref());
        if self.forbid_credit_cards {
            fields.insert("limit_pay", "no_credit");
        }
        if self.receipt {
            fields.insert("receipt", "Y");
        }
        fields.insert_optional(
            "profit_sharing",
            self.profit_sharing.map(|on| if on { "Y" } else { "N" }),
        );
        Ok(fields)
    }

    fn decode(fields: Fields) -> Result<UnifiedOrderReply, WechatError> {
        let trade_type = TradeType::parse(fields.required("trade_type")?);
        let prepay_id = fields.required_as("prepay_id", PrepayId::new)?;
        if trade_type == TradeType::Native && !fields.contains("code_url") {
            fields.required("code_url")?;
        }
        if trade_type == TradeType::Mweb && !fields.contains("mweb_url") {
            fields.required("mweb_url")?;
        }
        Ok(UnifiedOrderReply {
            trade_type,
            prepay_id,
            code_url: fields.get_nonempty("code_url").map(str::to_owned),
            mweb_url: fields.get_nonempty("mweb_url").map(str::to_owned),
            fields,
        })
    }
}
