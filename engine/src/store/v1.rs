//! Stored format 1, frozen: the records as the first engine wrote them (strings for ids, sign
//! and trade types, `u64` fen), kept only to read old stores, and their migration to the
//! current model. Never change these types: a store written by format 1 must always open.
//!
//! Choices where format 1 lacks data: a prepared attempt's link was issued at its creation
//! time (the best bound known); a host refund gets the request key `v1-<out_refund_no>`; an
//! alert's kind is read from its message, `Other` when unrecognisable.

use std::net::IpAddr;

use cashier_adapters::{
    AmountFen, AppId, ErrCode, MchId, OpenId, OutRefundNo, OutTradeNo, PrepayId, RefundId,
    SignType, TransactionId,
};
use serde::Deserialize;

use crate::model as current;
use crate::order_number::{OrderNumber, ProductType};
use crate::store::StoreError;

#[derive(Deserialize)]
pub(crate) struct ChannelContext {
    entry: String,
    appid: String,
    mch_id: String,
    sub_appid: Option<String>,
    sub_mch_id: Option<String>,
    sign_type: String,
    trade_type: String,
}

#[derive(Deserialize)]
pub(crate) enum OrderState {
    Created,
    Paying,
    Paid,
    PartiallyRefunded,
    Refunded,
    Closed,
}

#[derive(Deserialize)]
pub(crate) enum AttemptState {
    Sending,
    OutcomeUnknown,
    Prepared {
        prepay_id: String,
        code_url: Option<String>,
        mweb_url: Option<String>,
    },
    Closing,
    Paid {
        transaction_id: String,
        time_end: Option<String>,
    },
    Closed,
    Failed {
        reason: String,
    },
}

#[derive(Deserialize)]
pub(crate) struct AttemptRequest {
    body: String,
    total_fen: u64,
    client_ip: String,
    notify_url: String,
    openid: Option<String>,
    sub_openid: Option<String>,
    product_id: Option<String>,
    h5_site: Option<(String, String)>,
    time_start_s: i64,
    time_expire_s: i64,
    attach: String,
}

#[derive(Deserialize)]
pub(crate) struct PaymentAttempt {
    out_trade_no: String,
    channel: ChannelContext,
    request: AttemptRequest,
    state: AttemptState,
    created_ms: i64,
    sends: u32,
    queries: u32,
    next_action_ms: Option<i64>,
    close_sends: u32,
}

#[derive(Deserialize)]
pub(crate) enum RefundState {
    Sending,
    OutcomeUnknown,
    Processing { refund_id: String },
    Succeeded { refund_id: String },
    Closed,
    Abnormal,
    Failed { reason: String },
}

#[derive(Deserialize)]
pub(crate) enum RefundCause {
    Requested { reason: String },
    DuplicatePayment,
    PaidAfterClose,
}

#[derive(Deserialize)]
pub(crate) struct RefundRecord {
    out_refund_no: String,
    out_trade_no: String,
    amount_fen: u64,
    cause: RefundCause,
    state: RefundState,
    created_ms: i64,
    sends: u32,
    queries: u32,
    next_action_ms: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct Alert {
    at_ms: i64,
    message: String,
}

#[derive(Deserialize)]
pub(crate) struct OrderRecord {
    order_no: OrderNumber,
    product_type: u8,
    payer_unionid: Option<String>,
    amount_fen: u64,
    description: String,
    state: OrderState,
    created_ms: i64,
    expires_ms: i64,
    close_requested: bool,
    attempts: Vec<PaymentAttempt>,
    refunds: Vec<RefundRecord>,
    alerts: Vec<Alert>,
    deadline_ms: Option<i64>,
    revision: u64,
}

fn invalid(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Migration(format!("format 1 {what}: {error}"))
}

fn typed<T, E: std::fmt::Display>(what: &str, made: Result<T, E>) -> Result<T, StoreError> {
    made.map_err(|error| invalid(what, error))
}

pub(crate) fn trade_kind(text: &str) -> Result<current::TradeKind, StoreError> {
    match text {
        "JSAPI" => Ok(current::TradeKind::Jsapi),
        "NATIVE" => Ok(current::TradeKind::Native),
        "APP" => Ok(current::TradeKind::App),
        "MWEB" => Ok(current::TradeKind::Mweb),
        other => Err(invalid("trade_type", other)),
    }
}

fn channel(old: ChannelContext) -> Result<current::ChannelContext, StoreError> {
    Ok(current::ChannelContext {
        entry: typed("entry", current::EntryName::new(old.entry))?,
        appid: typed("appid", AppId::new(old.appid))?,
        mch_id: typed("mch_id", MchId::new(old.mch_id))?,
        sub_appid: typed("sub_appid", old.sub_appid.map(AppId::new).transpose())?,
        sub_mch_id: typed("sub_mch_id", old.sub_mch_id.map(MchId::new).transpose())?,
        sign_type: SignType::parse(&old.sign_type)
            .ok_or_else(|| invalid("sign_type", &old.sign_type))?,
        trade: trade_kind(&old.trade_type)?,
        sandbox: false,
    })
}

pub(crate) fn payer(
    openid: Option<String>,
    sub_openid: Option<String>,
) -> Result<Option<current::Payer>, StoreError> {
    Ok(match (openid, sub_openid) {
        (Some(openid), _) => Some(current::Payer::OpenId(typed(
            "openid",
            OpenId::new(openid),
        )?)),
        (None, Some(openid)) => Some(current::Payer::SubOpenId(typed(
            "sub_openid",
            OpenId::new(openid),
        )?)),
        (None, None) => None,
    })
}

pub(crate) fn h5_site(
    site: Option<(String, String)>,
) -> Result<Option<current::H5Site>, StoreError> {
    site.map(|(url, name)| {
        Ok(current::H5Site {
            url: typed("h5_site", current::NotifyUrl::new(url))?,
            name: typed("h5_site", current::Description::new(name))?,
        })
    })
    .transpose()
}

fn request(old: AttemptRequest) -> Result<current::AttemptRequest, StoreError> {
    Ok(current::AttemptRequest {
        body: typed("body", current::Description::new(old.body))?,
        total: AmountFen::from_fen(old.total_fen),
        client_ip: typed("client_ip", old.client_ip.parse::<IpAddr>())?,
        notify_url: typed("notify_url", current::NotifyUrl::new(old.notify_url))?,
        payer: payer(old.openid, old.sub_openid)?,
        product: old
            .product_id
            .map(|text| typed("product_id", text.parse::<u8>()).map(ProductType))
            .transpose()?,
        h5_site: h5_site(old.h5_site)?,
        time_start_s: old.time_start_s,
        time_expire_s: old.time_expire_s,
        attach: typed("attach", OrderNumber::parse(old.attach))?,
    })
}

pub(crate) fn link(
    code_url: Option<String>,
    mweb_url: Option<String>,
) -> Result<current::ClientLinkKind, StoreError> {
    Ok(match (code_url, mweb_url) {
        (Some(url), _) => {
            current::ClientLinkKind::CodeUrl(typed("code_url", current::ClientLink::new(url))?)
        }
        (None, Some(url)) => {
            current::ClientLinkKind::MwebUrl(typed("mweb_url", current::ClientLink::new(url))?)
        }
        (None, None) => current::ClientLinkKind::None,
    })
}

pub(crate) fn refusal(reason: &str) -> current::Refusal {
    current::Refusal::Wechat(ErrCode::parse(reason))
}

fn attempt_state(old: AttemptState, created_ms: i64) -> Result<current::AttemptState, StoreError> {
    use current::AttemptState as New;
    Ok(match old {
        AttemptState::Sending => New::Sending,
        AttemptState::OutcomeUnknown => New::OutcomeUnknown,
        AttemptState::Prepared {
            prepay_id,
            code_url,
            mweb_url,
        } => New::Prepared {
            prepay_id: typed("prepay_id", PrepayId::new(prepay_id))?,
            link: link(code_url, mweb_url)?,
            prepared_ms: created_ms,
        },
        AttemptState::Closing => New::Closing,
        AttemptState::Paid {
            transaction_id,
            time_end,
        } => New::Paid {
            transaction_id: typed("transaction_id", TransactionId::new(transaction_id))?,
            paid_at_s: time_end
                .as_deref()
                .and_then(cashier_adapters::wechat::time::parse_compact),
        },
        AttemptState::Closed => New::Closed,
        AttemptState::Failed { reason } => New::Failed {
            refusal: refusal(&reason),
        },
    })
}

fn attempt(old: PaymentAttempt) -> Result<current::PaymentAttempt, StoreError> {
    Ok(current::PaymentAttempt {
        out_trade_no: typed("out_trade_no", OutTradeNo::new(old.out_trade_no))?,
        channel: channel(old.channel)?,
        request: request(old.request)?,
        state: attempt_state(old.state, old.created_ms)?,
        created_ms: old.created_ms,
        sends: old.sends,
        queries: old.queries,
        next_action_ms: old.next_action_ms,
        close_sends: old.close_sends,
    })
}

pub(crate) fn request_key(out_refund_no: &str) -> Result<current::RequestKey, StoreError> {
    typed(
        "request key",
        current::RequestKey::new(format!("v1-{out_refund_no}")),
    )
}

fn refund(old: RefundRecord) -> Result<current::RefundRecord, StoreError> {
    use current::RefundState as New;
    let cause = match old.cause {
        RefundCause::Requested { reason } => current::RefundCause::Requested {
            key: request_key(&old.out_refund_no)?,
            reason: typed("refund reason", current::RefundReason::new(reason))?,
        },
        RefundCause::DuplicatePayment => current::RefundCause::DuplicatePayment,
        RefundCause::PaidAfterClose => current::RefundCause::PaidAfterClose,
    };
    let refund_id = |id: String| typed("refund_id", RefundId::new(id));
    let state = match old.state {
        RefundState::Sending => New::Sending,
        RefundState::OutcomeUnknown => New::OutcomeUnknown,
        RefundState::Processing { refund_id: id } => New::Processing {
            refund_id: refund_id(id)?,
        },
        RefundState::Succeeded { refund_id: id } => New::Succeeded {
            refund_id: refund_id(id)?,
        },
        RefundState::Closed => New::Closed,
        RefundState::Abnormal => New::Abnormal,
        RefundState::Failed { reason } => New::Failed {
            refusal: refusal(&reason),
        },
    };
    Ok(current::RefundRecord {
        out_refund_no: typed("out_refund_no", OutRefundNo::new(old.out_refund_no))?,
        out_trade_no: typed("out_trade_no", OutTradeNo::new(old.out_trade_no))?,
        amount: AmountFen::from_fen(old.amount_fen),
        cause,
        state,
        created_ms: old.created_ms,
        sends: old.sends,
        queries: old.queries,
        next_action_ms: old.next_action_ms,
    })
}

fn alert_kind(message: &str) -> current::AlertKind {
    use current::AlertKind as Kind;
    const BY_TEXT: [(&str, Kind); 9] = [
        ("DuplicatePayment", Kind::DuplicatePayment),
        ("PaidAfterClose", Kind::PaidAfterClose),
        ("conflicting notification", Kind::ConflictingNotification),
        ("paid twice", Kind::ConflictingTransaction),
        ("orderquery for", Kind::QueryAmountMismatch),
        ("does not exist", Kind::PreparedAttemptMissing),
        ("WeChat refused for good", Kind::AttemptRefused),
        ("(REFUNDCLOSE)", Kind::RefundClosed),
        ("(CHANGE)", Kind::RefundAbnormal),
    ];
    BY_TEXT
        .iter()
        .find(|(text, _)| message.contains(text))
        .map(|(_, kind)| *kind)
        .unwrap_or(if message.contains("refused for good") {
            Kind::RefundRefused
        } else {
            Kind::Other
        })
}

fn order_state(old: OrderState) -> current::OrderState {
    match old {
        OrderState::Created => current::OrderState::Created,
        OrderState::Paying => current::OrderState::Paying,
        OrderState::Paid => current::OrderState::Paid,
        OrderState::PartiallyRefunded => current::OrderState::PartiallyRefunded,
        OrderState::Refunded => current::OrderState::Refunded,
        OrderState::Closed => current::OrderState::Closed,
    }
}

/// Migrates one format-1 order record to the current model.
pub(crate) fn migrate_record(old: OrderRecord) -> Result<current::OrderRecord, StoreError> {
    Ok(current::OrderRecord {
        order_no: old.order_no,
        product_type: ProductType(old.product_type),
        payer_unionid: typed(
            "unionid",
            old.payer_unionid.map(current::UnionId::new).transpose(),
        )?,
        amount: AmountFen::from_fen(old.amount_fen),
        description: typed("description", current::Description::new(old.description))?,
        state: order_state(old.state),
        created_ms: old.created_ms,
        expires_ms: old.expires_ms,
        close_requested: old.close_requested,
        attempts: old
            .attempts
            .into_iter()
            .map(attempt)
            .collect::<Result<_, _>>()?,
        refunds: old
            .refunds
            .into_iter()
            .map(refund)
            .collect::<Result<_, _>>()?,
        alerts: old
            .alerts
            .into_iter()
            .map(|alert| current::Alert {
                at_ms: alert.at_ms,
                kind: alert_kind(&alert.message),
                detail: alert.message,
            })
            .collect(),
        deadline_ms: old.deadline_ms,
        revision: old.revision,
        medical: Vec::new(),
    })
}

impl PaymentAttempt {
    /// The number, channel context and request of a format-1 attempt.
    pub(crate) fn into_parts(
        self,
    ) -> Result<(OutTradeNo, current::ChannelContext, current::AttemptRequest), StoreError> {
        Ok((
            typed("out_trade_no", OutTradeNo::new(self.out_trade_no))?,
            channel(self.channel)?,
            request(self.request)?,
        ))
    }
}
