//! Client-side pay parameters (wechatpay-v2.md §6): what the server hands the H5 page, mini
//! program or APP to start payment, signed with the merchant key and the order's sign type.
//! The client's result is only a hint; the notification or orderquery decides (§6.1).

use serde::{Deserialize, Serialize};

use crate::ids::{Nonce, PrepayId};
use crate::secret::ApiKey;
use crate::wechat::merchant::MerchantContext;
use crate::wechat::sign::{sign_sorted, SignType};

/// Parameters for `WeixinJSBridge getBrandWCPayRequest` (official account) and
/// `wx.requestPayment` (mini program; it takes all but `appId`, which is still signed).
///
/// ```
/// use cashier_adapters::{client_params::JsapiPayParams, ApiKey, SignType};
/// // K7 (wechatpay-v2.md §6.1, official example).
/// let params = JsapiPayParams::sign(
///     "wxd678efh567hg6787", "1490840662", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
///     "wx2017033010242291fcfe0db70013231072", SignType::Md5,
///     &ApiKey::new("qazwsxedcrfvtgbyhnujmikolp111111").unwrap());
/// assert_eq!(params.pay_sign, "22D9B4E54AB1950F51E0649E8810ACD6");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsapiPayParams {
    /// `appId`: the invoking app (`sub_appid` in SP mode).
    #[serde(rename = "appId")]
    pub app_id: String,
    /// `timeStamp`: Unix seconds as a string.
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    /// `nonceStr`.
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `package`: `prepay_id=<id>`.
    pub package: String,
    /// `signType`: the unifiedorder's sign type.
    #[serde(rename = "signType")]
    pub sign_type: String,
    /// `paySign`.
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

impl JsapiPayParams {
    /// Signs the five fields (already sorted: appId, nonceStr, package, signType, timeStamp).
    pub fn sign(
        app_id: &str,
        time_stamp: &str,
        nonce_str: &str,
        prepay_id: &str,
        sign_type: SignType,
        key: &ApiKey,
    ) -> JsapiPayParams {
        let package = format!("prepay_id={prepay_id}");
        let pay_sign = sign_sorted(
            sign_type,
            key,
            [
                ("appId", app_id),
                ("nonceStr", nonce_str),
                ("package", package.as_str()),
                ("signType", sign_type.as_str()),
                ("timeStamp", time_stamp),
            ],
        );
        JsapiPayParams {
            app_id: app_id.to_owned(),
            time_stamp: time_stamp.to_owned(),
            nonce_str: nonce_str.to_owned(),
            package,
            sign_type: sign_type.as_str().to_owned(),
            pay_sign: pay_sign.as_str().to_owned(),
        }
    }

    /// Checks `paySign` (for the simulator's payer and for tests).
    pub fn verify(&self, key: &ApiKey) -> bool {
        let Some(sign_type) = SignType::parse(&self.sign_type) else {
            return false;
        };
        sign_sorted(
            sign_type,
            key,
            [
                ("appId", self.app_id.as_str()),
                ("nonceStr", self.nonce_str.as_str()),
                ("package", self.package.as_str()),
                ("signType", self.sign_type.as_str()),
                ("timeStamp", self.time_stamp.as_str()),
            ],
        )
        .matches(&self.pay_sign)
    }

    /// The prepay id inside `package`.
    pub fn prepay_id(&self) -> Option<&str> {
        self.package.strip_prefix("prepay_id=")
    }
}

/// JSAPI / mini program parameters for an order made with `merchant`: `appId` is the invoking
/// app (`sub_appid` in SP mode, pitfall §10.9).
pub fn jsapi_pay_params(
    merchant: &MerchantContext,
    prepay_id: &PrepayId,
    timestamp_unix_s: i64,
    nonce: &Nonce,
) -> JsapiPayParams {
    JsapiPayParams::sign(
        merchant.invoking_appid().as_str(),
        &timestamp_unix_s.to_string(),
        nonce.as_str(),
        prepay_id.as_str(),
        merchant.sign_type,
        &merchant.key,
    )
}

/// Parameters for the APP OpenSDK `PayReq`: six lowercase fields plus `sign` (§6.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPayParams {
    /// `appid`: the mobile app (`sub_appid` in SP mode).
    pub appid: String,
    /// `partnerid`: the merchant (the sub-merchant in SP mode).
    pub partnerid: String,
    /// `prepayid`.
    pub prepayid: String,
    /// `package`: always `Sign=WXPay`.
    pub package: String,
    /// `noncestr`.
    pub noncestr: String,
    /// `timestamp`: Unix seconds.
    pub timestamp: String,
    /// `sign`.
    pub sign: String,
}

/// APP parameters for an order made with `merchant`.
///
/// ```
/// use cashier_adapters::{client_params::app_pay_params, ApiKey, AppId, MchId, MerchantContext, Nonce, PrepayId, SignType};
/// let merchant = MerchantContext::direct(AppId::new("wxd930ea5d5a258f4f").unwrap(),
///     MchId::new("10000100").unwrap(), SignType::Md5,
///     ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap());
/// let params = app_pay_params(&merchant, &PrepayId::new("wx201410272009395522657a690389285100").unwrap(),
///     1414561699, &Nonce::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap());
/// assert_eq!(params.sign, "1F88CC0F1B0560FF6D5EED1FBB7AE9C0");
/// ```
pub fn app_pay_params(
    merchant: &MerchantContext,
    prepay_id: &PrepayId,
    timestamp_unix_s: i64,
    nonce: &Nonce,
) -> AppPayParams {
    let appid = merchant.invoking_appid().as_str();
    let partnerid = merchant
        .sub_mch_id
        .as_ref()
        .unwrap_or(&merchant.mch_id)
        .as_str();
    let timestamp = timestamp_unix_s.to_string();
    let sign = sign_sorted(
        merchant.sign_type,
        &merchant.key,
        [
            ("appid", appid),
            ("noncestr", nonce.as_str()),
            ("package", "Sign=WXPay"),
            ("partnerid", partnerid),
            ("prepayid", prepay_id.as_str()),
            ("timestamp", timestamp.as_str()),
        ],
    );
    AppPayParams {
        appid: appid.to_owned(),
        partnerid: partnerid.to_owned(),
        prepayid: prepay_id.as_str().to_owned(),
        package: "Sign=WXPay".to_owned(),
        noncestr: nonce.as_str().to_owned(),
        timestamp,
        sign: sign.as_str().to_owned(),
    }
}

/// The MWEB redirect: `mweb_url` plus `&redirect_url=<encoded>` when a return page is given
/// (§6.3). The payer comes back to that page whatever the outcome, so the page must query.
pub fn mweb_redirect_url(mweb_url: &str, redirect_url: Option<&str>) -> String {
    match redirect_url {
        None => mweb_url.to_owned(),
        Some(redirect) => {
            let separator = if mweb_url.contains('?') { '&' } else { '?' };
            format!(
                "{mweb_url}{separator}redirect_url={}",
                crate::wechat::bridge::encode_uri_component(redirect)
            )
        }
    }
}
