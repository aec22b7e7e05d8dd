//! A payment attempt: one unified order through one entry point, with the channel context it
//! was made with (every refund, query and notification check reuses it exactly).

use std::net::IpAddr;

use cashier_adapters::{
    AmountFen, AppId, MchId, OpenId, OutTradeNo, PrepayId, SignType, TransactionId,
};
use serde::{Deserialize, Serialize};

use crate::model::text::{ClientLink, Description, EntryName, NotifyUrl};
use crate::order_number::{OrderNumber, ProductType};

/// WeChat's trade types the engine uses (micropay is not supported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TradeKind {
    /// Official account and mini program (`JSAPI`).
    Jsapi,
    /// QR code (`NATIVE`).
    Native,
    /// Mobile app (`APP`).
    App,
    /// Phone browser (`MWEB`).
    Mweb,
}

impl TradeKind {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeKind::Jsapi => "JSAPI",
            TradeKind::Native => "NATIVE",
            TradeKind::App => "APP",
            TradeKind::Mweb => "MWEB",
        }
    }

    /// How long what the unified order returned stays usable for the client, with a margin so
    /// the payer has time to use it: `prepay_id` and `code_url` 2 hours, `mweb_url` 5 minutes
    /// (wechatpay-v2.md §2.2 and the validity table).
    pub fn reuse_window_ms(self) -> i64 {
        match self {
            TradeKind::Mweb => 5 * 60_000 - 60_000,
            TradeKind::Jsapi | TradeKind::Native | TradeKind::App => 2 * 3_600_000 - 10 * 60_000,
        }
    }
}

/// How a payment attempt was made: everything a refund, query or notification check must
/// reuse (wechatpay-v2.md §2.5, peers.md gap 2). The API key is not here: it is looked up by
/// mch_id from the key provider and never persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelContext {
    /// The configured entry point.
    pub entry: EntryName,
    /// `appid`.
    pub appid: AppId,
    /// `mch_id`.
    pub mch_id: MchId,
    /// `sub_appid` (SP mode).
    pub sub_appid: Option<AppId>,
    /// `sub_mch_id` (SP mode).
    pub sub_mch_id: Option<MchId>,
    /// The sign type of every call and the expected one of notifications.
    pub sign_type: SignType,
    /// The trade type.
    pub trade: TradeKind,
    /// True when the attempt was made in WeChat's sandbox (`/sandboxnew`).
    pub sandbox: bool,
}

/// Who pays a JSAPI attempt.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Payer {
    /// `openid` under `appid`.
    OpenId(OpenId),
    /// `sub_openid` under `sub_appid` (SP mode with the sub-merchant's app).
    SubOpenId(OpenId),
}

impl Payer {
    /// The openid, whichever app it is under.
    pub fn openid(&self) -> &OpenId {
        match self {
            Payer::OpenId(openid) | Payer::SubOpenId(openid) => openid,
        }
    }
}

/// The H5 site of an MWEB attempt (`scene_info`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct H5Site {
    /// `wap_url`.
    pub url: NotifyUrl,
    /// `wap_name`.
    pub name: Description,
}

/// The unified order parameters of an attempt, kept so that every retry sends exactly the same
/// values (WeChat's re-entry rule).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRequest {
    /// `body`.
    pub body: Description,
    /// `total_fee`.
    pub total: AmountFen,
    /// `spbill_create_ip`.
    pub client_ip: IpAddr,
    /// `notify_url`.
    pub notify_url: NotifyUrl,
    /// The payer (JSAPI only).
    pub payer: Option<Payer>,
    /// `product_id` (NATIVE): the order's product type.
    pub product: Option<ProductType>,
    /// `scene_info` (MWEB).
    pub h5_site: Option<H5Site>,
    /// `time_start` (Unix seconds).
    pub time_start_s: i64,
    /// `time_expire` (Unix seconds).
    pub time_expire_s: i64,
    /// `attach`: the business order number, echoed back by WeChat.
    pub attach: OrderNumber,
}

/// What the client is given besides `prepay_id`, per trade type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientLinkKind {
    /// JSAPI and APP: the client pays with pay parameters built from `prepay_id`.
    None,
    /// NATIVE: `code_url`, rendered as a QR code.
    CodeUrl(ClientLink),
    /// MWEB: `mweb_url`, the browser is redirected to it.
    MwebUrl(ClientLink),
}

/// Why WeChat refused an attempt or a refund for good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// WeChat's `err_code` (kept verbatim when this build does not know it).
    Wechat(cashier_adapters::ErrCode),
    /// The request could not be built or its reply could not be read (a bug or bad data).
    Invalid(String),
    /// The entry or merchant is no longer configured.
    NotConfigured,
    /// The 医保 side (NHSA, payinsurance) refused: its code and message (appended: format 3).
    Medical(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Wechat(code) => write!(formatter, "WeChat: {}", code.as_str()),
            Refusal::Invalid(detail) => write!(formatter, "invalid: {detail}"),
            Refusal::NotConfigured => formatter.write_str("merchant not configured"),
            Refusal::Medical(detail) => write!(formatter, "医保: {detail}"),
        }
    }
}

/// A payment attempt's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptState {
    /// The unified order is about to be sent; persisted before it leaves the process, so a
    /// crash here is resolved by querying (outcome unknown).
    Sending,
    /// The request was sent and no answer came: resolved only by querying.
    OutcomeUnknown,
    /// The unified order succeeded.
    Prepared {
        /// `prepay_id`.
        prepay_id: PrepayId,
        /// `code_url` or `mweb_url`.
        link: ClientLinkKind,
        /// When WeChat issued them (their validity runs from here).
        prepared_ms: i64,
    },
    /// Closing at WeChat (sent or about to be).
    Closing,
    /// Paid.
    Paid {
        /// `transaction_id`.
        transaction_id: TransactionId,
        /// WeChat's `time_end` (Unix seconds), when it sent a readable one.
        paid_at_s: Option<i64>,
    },
    /// Closed at WeChat (or never created there).
    Closed,
    /// Refused by WeChat for good (configuration, parameters); nothing was created.
    Failed {
        /// Why.
        refusal: Refusal,
    },
}

impl AttemptState {
    /// True when the attempt can still turn into a payment.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            AttemptState::Sending
                | AttemptState::OutcomeUnknown
                | AttemptState::Prepared { .. }
                | AttemptState::Closing
        )
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            AttemptState::Sending => "sending",
            AttemptState::OutcomeUnknown => "outcome_unknown",
            AttemptState::Prepared { .. } => "prepared",
            AttemptState::Closing => "closing",
            AttemptState::Paid { .. } => "paid",
            AttemptState::Closed => "closed",
            AttemptState::Failed { .. } => "failed",
        }
    }
}

/// One attempt to pay the order through one entry point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAttempt {
    /// `out_trade_no`.
    pub out_trade_no: OutTradeNo,
    /// The channel context it was made with.
    pub channel: ChannelContext,
    /// The unified order parameters.
    pub request: AttemptRequest,
    /// Its state.
    pub state: AttemptState,
    /// When it was created.
    pub created_ms: i64,
    /// Unified order sends so far (retries and refreshes included).
    pub sends: u32,
    /// Order queries so far.
    pub queries: u32,
    /// When the next action on it is due (query, retry, close).
    pub next_action_ms: Option<i64>,
    /// Close sends so far.
    pub close_sends: u32,
}

impl PaymentAttempt {
    /// The attempt's `time_expire` in milliseconds.
    pub fn expires_ms(&self) -> i64 {
        self.request.time_expire_s.saturating_mul(1000)
    }
}
