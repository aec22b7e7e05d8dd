//! What the client needs to pay a prepared attempt, per entry kind: JSAPI parameters for the
//! official account, the web-view bridge URL for the mini program, APP parameters, the QR
//! `code_url`, the MWEB redirect.

use cashier_adapters::client_params::{
    app_pay_params, jsapi_pay_params, mweb_redirect_url, AppPayParams, JsapiPayParams,
};
use cashier_adapters::{bridge, MerchantContext, Nonce, OutTradeNo, PrepayId};

use crate::config::{EntryConfig, EntryKind};
use crate::error::EngineError;
use crate::model::{ClientLink, ClientLinkKind};

/// What the client needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientPayment {
    /// Official account: `WeixinJSBridge.invoke('getBrandWCPayRequest', params)`.
    Jsapi(JsapiPayParams),
    /// Mini program through the web-view bridge: the H5 page calls
    /// `wx.miniProgram.navigateTo({url: bridge_url})`.
    MiniProgram {
        /// The pay parameters.
        params: JsapiPayParams,
        /// The mini program page URL carrying them.
        bridge_url: String,
    },
    /// APP: OpenSDK `PayReq`.
    App(AppPayParams),
    /// Native: render as a QR code.
    Native {
        /// `code_url`.
        code_url: ClientLink,
    },
    /// H5: redirect the browser.
    Mweb {
        /// `mweb_url`.
        mweb_url: String,
    },
}

/// A started (or reused) payment attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentStart {
    /// The attempt's `out_trade_no`.
    pub out_trade_no: OutTradeNo,
    /// What the client needs.
    pub client: ClientPayment,
    /// True when a still fresh attempt was handed out again.
    pub reused: bool,
}

/// Builds the client's part for a prepared attempt.
pub(crate) fn client_payment(
    entry: &EntryConfig,
    merchant: &MerchantContext,
    prepay_id: &PrepayId,
    link: &ClientLinkKind,
    timestamp_s: i64,
    nonce: &Nonce,
) -> Result<ClientPayment, EngineError> {
    let missing = |what: &str| EngineError::InvalidInput {
        field: "attempt",
        reason: format!("prepared attempt without {what}"),
    };
    Ok(match (entry.kind, link) {
        (EntryKind::OfficialAccount, _) => {
            ClientPayment::Jsapi(jsapi_pay_params(merchant, prepay_id, timestamp_s, nonce))
        }
        (EntryKind::MiniProgram, _) => {
            let params = jsapi_pay_params(merchant, prepay_id, timestamp_s, nonce);
            let page = entry
                .mini_program_pay_page
                .as_deref()
                .ok_or_else(|| missing("a mini program pay page"))?;
            let bridge_url = bridge::mini_program_pay_url(page, &params).map_err(|error| {
                EngineError::InvalidInput {
                    field: "mini_program_pay_page",
                    reason: error.to_string(),
                }
            })?;
            ClientPayment::MiniProgram { params, bridge_url }
        }
        (EntryKind::App, _) => {
            ClientPayment::App(app_pay_params(merchant, prepay_id, timestamp_s, nonce))
        }
        (EntryKind::Native, ClientLinkKind::CodeUrl(code_url)) => ClientPayment::Native {
            code_url: code_url.clone(),
        },
        (EntryKind::H5, ClientLinkKind::MwebUrl(mweb_url)) => ClientPayment::Mweb {
            mweb_url: mweb_redirect_url(mweb_url.as_str(), None),
        },
        (EntryKind::Native, _) => return Err(missing("code_url")),
        (EntryKind::H5, _) => return Err(missing("mweb_url")),
    })
}
