//! The engine core an order actor runs: load the record (or use the cache), apply events with
//! the pure machine, persist and flush each transition, then run its effects against WeChat and
//! feed their outcomes back as events, until nothing is left to do. One command at a time per
//! order is guaranteed by the actor (see `actor.rs`).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use cashier_adapters::endpoints::close_order::CloseOrderRequest;
use cashier_adapters::endpoints::order_query::OrderQueryRequest;
use cashier_adapters::endpoints::refund::RefundRequest;
use cashier_adapters::endpoints::refund_query::{RefundQueryRequest, RefundRef};
use cashier_adapters::endpoints::unified_order::{H5Scene, Payer, Trade, UnifiedOrderRequest};
use cashier_adapters::notify::payment::{PaymentResult, UnverifiedPaymentNotification};
use cashier_adapters::notify::refund::RefundNotification;
use cashier_adapters::notify::NotifyError;
use cashier_adapters::{
    AmountFen, AppId, CallerAction, ErrCode, MchId, MerchantContext, OpenId, OrderRef, OutRefundNo,
    OutTradeNo, SignType, TradeState, Transport, WechatError, WechatPayClient,
};

use tracing::Instrument;

use crate::clock::Clock;
use crate::config::{EngineConfig, EntryConfig};
use crate::machine::{self, Rejection};
use crate::metrics::{bump, Metrics};
use crate::model::*;
use crate::order_number::OrderNumber;
use crate::store::{Store, StoreError};

/// Errors of the engine's API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The machine refused the request.
    #[error("refused: {0}")]
    Rejected(#[from] Rejection),
    /// Storage failed; nothing was acknowledged or sent after the failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such order.
    #[error("unknown order {0}")]
    UnknownOrder(String),
    /// No such entry point in the configuration.
    #[error("unknown entry point {0}")]
    UnknownEntry(String),
    /// An order with this number exists with other content (amount, description, ...).
    #[error("order {order_no} exists with different content")]
    OrderExistsWithDifferentContent {
        /// The number.
        order_no: String,
    },
    /// A request parameter is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The unified order has not succeeded yet (WeChat failing or outcome unknown); the engine
    /// keeps retrying and querying on its own.
    #[error("payment {out_trade_no} is not ready yet ({state})")]
    PaymentNotReady {
        /// The attempt.
        out_trade_no: String,
        /// Its state.
        state: String,
    },
    /// WeChat refused the payment for good.
    #[error("payment refused: {reason}")]
    PaymentRefused {
        /// Why.
        reason: String,
    },
    /// An order number could not be issued.
    #[error("order number: {0}")]
    OrderNumber(String),
    /// The order's actor is gone (the engine is shutting down).
    #[error("the engine is shutting down")]
    ShuttingDown,
}

/// What a notification did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotificationVerdict {
    /// It changed the order (now durable).
    Applied,
    /// It was already known; nothing changed.
    Duplicate,
    /// It was verified but reports no payment (`result_code=FAIL`); nothing changed.
    Ignored,
    /// It was refused; nothing changed except, for conflicts, a durable alert.
    Rejected(String),
}

/// A command to one order.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    Create(Box<OrderRecord>),
    Apply(Event),
    StartPayment {
        entry: String,
        openid: Option<String>,
        client_ip: String,
        out_trade_no: String,
    },
    PaymentNotification(Box<UnverifiedPaymentNotification>),
    RefundNotification(Box<RefundNotification>),
    Get,
}

/// The answer to a command.
#[derive(Clone, Debug)]
pub(crate) struct CommandReply {
    pub(crate) record: OrderRecord,
    pub(crate) changed: bool,
    pub(crate) attempt: Option<String>,
    pub(crate) verdict: Option<NotificationVerdict>,
}

impl CommandReply {
    fn of(record: OrderRecord, changed: bool) -> CommandReply {
        CommandReply {
            record,
            changed,
            attempt: None,
            verdict: None,
        }
    }
}

/// The WeChat client of one merchant.
pub(crate) type Client = WechatPayClient<Arc<dyn Transport>>;

/// Shared by every order actor.
pub(crate) struct Core {
    pub(crate) config: EngineConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) clients: HashMap<String, Client>,
    pub(crate) metrics: Metrics,
}

fn classify(error: &WechatError) -> CallFailure {
    if error.outcome_unknown() && !matches!(error, WechatError::Business { .. }) {
        return CallFailure::Unknown;
    }
    let code = match error.err_code() {
        Some(code) => code.to_string(),
        None => error.to_string(),
    };
    match error.action() {
        CallerAction::RetrySameParameters => CallFailure::Retry { code, after_ms: 0 },
        CallerAction::RetryLater { after_s } => CallFailure::Retry {
            code,
            after_ms: i64::from(after_s) * 1000,
        },
        CallerAction::FundAccountThenRetry => CallFailure::Retry {
            code,
            after_ms: 3_600_000,
        },
        CallerAction::Query => CallFailure::Unknown,
        _ => CallFailure::Final { code },
    }
}

fn is_code(error: &WechatError, code: &ErrCode) -> bool {
    error.err_code() == Some(code)
}

impl Core {
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn entry(&self, name: &str) -> Result<&EntryConfig, EngineError> {
        self.config
            .entry(name)
            .ok_or_else(|| EngineError::UnknownEntry(name.to_owned()))
    }

    /// The merchant context a payment was made with: its stored ids and sign type, and the key
    /// of its mch_id from configuration.
    pub(crate) fn merchant_for(
        &self,
        channel: &ChannelContext,
    ) -> Result<MerchantContext, EngineError> {
        let entry = self
            .config
            .entry_for_mch_id(&channel.mch_id)
            .ok_or_else(|| {
                EngineError::UnknownEntry(format!("no entry has mch_id {}", channel.mch_id))
            })?;
        let invalid =
            |error: cashier_adapters::IdError| EngineError::InvalidInput(error.to_string());
        Ok(MerchantContext {
            appid: AppId::new(channel.appid.clone()).map_err(invalid)?,
            mch_id: MchId::new(channel.mch_id.clone()).map_err(invalid)?,
            sub_appid: channel
                .sub_appid
                .clone()
                .map(AppId::new)
                .transpose()
                .map_err(invalid)?,
            sub_mch_id: channel
                .sub_mch_id
                .clone()
                .map(MchId::new)
                .transpose()
                .map_err(invalid)?,
            sign_type: SignType::parse(&channel.sign_type).unwrap_or(SignType::Md5),
            key: entry.key.clone(),
        })
    }

    /// The merchant context and client a payment's calls go through.
    fn route(&self, channel: &ChannelContext) -> Result<(MerchantContext, &Client), EngineError> {
        let merchant = self.merchant_for(channel)?;
        let client = self.clients.get(merchant.mch_id.as_str()).ok_or_else(|| {
            EngineError::UnknownEntry(format!("no transport for mch_id {}", merchant.mch_id))
        })?;
        Ok((merchant, client))
    }

    /// Builds a payment attempt for `entry` (the shell's part of StartPayment).
    fn new_attempt(
        &self,
        record: &OrderRecord,
        entry: &EntryConfig,
        out_trade_no: String,
        openid: Option<String>,
        client_ip: String,
    ) -> Result<PaymentAttempt, EngineError> {
        if entry.kind.needs_openid() && openid.is_none() {
            return Err(EngineError::InvalidInput(format!(
                "entry {} (JSAPI) needs the payer's openid",
                entry.name
            )));
        }
        if client_ip.parse::<IpAddr>().is_err() {
            return Err(EngineError::InvalidInput(format!(
                "client ip {client_ip:?} is not an IP address"
            )));
        }
        let now_ms = self.now_ms();
        // In SP mode with the sub-merchant's app, the payer's openid is under sub_appid.
        let (openid, sub_openid) = if entry.sub_appid.is_some() {
            (None, openid)
        } else {
            (openid, None)
        };
        Ok(PaymentAttempt {
            out_trade_no,
            channel: ChannelContext {
                entry: entry.name.clone(),
                appid: entry.appid.to_string(),
                mch_id: entry.mch_id.to_string(),
                sub_appid: entry.sub_appid.as_ref().map(ToString::to_string),
                sub_mch_id: entry.sub_mch_id.as_ref().map(ToString::to_string),
                sign_type: entry.sign_type.as_str().to_owned(),
                trade_type: entry.kind.trade_type().to_owned(),
            },
            request: AttemptRequest {
                body: record.description.clone(),
                total_fen: record.amount_fen,
                client_ip,
                notify_url: entry.notify_url.clone(),
                openid,
                sub_openid,
                product_id: (entry.kind == crate::config::EntryKind::Native)
                    .then(|| format!("{:02}", record.product_type)),
                h5_site: entry.h5_site.clone(),
                time_start_s: now_ms / 1000,
                time_expire_s: (record.expires_ms / 1000).max(now_ms / 1000 + 360),
                attach: record.order_no.to_string(),
            },
            state: AttemptState::Sending,
            created_ms: now_ms,
            sends: 0,
            queries: 0,
            next_action_ms: None,
            close_sends: 0,
        })
    }

    /// Runs one command against one order's record.
    pub(crate) async fn execute(
        &self,
        order_no: &OrderNumber,
        cached: Option<OrderRecord>,
        command: Command,
    ) -> Result<CommandReply, EngineError> {
        bump(&self.metrics.commands);
        let record = match cached {
            Some(record) => Some(record),
            None => self.store.load(order_no.as_str())?,
        };
        let require = |record: Option<OrderRecord>| {
            record.ok_or_else(|| EngineError::UnknownOrder(order_no.to_string()))
        };
        match command {
            Command::Get => Ok(CommandReply::of(require(record)?, false)),
            Command::Create(new) => match record {
                Some(existing) => {
                    let same = existing.amount_fen == new.amount_fen
                        && existing.description == new.description
                        && existing.product_type == new.product_type
                        && existing.payer_unionid == new.payer_unionid;
                    if same {
                        Ok(CommandReply::of(existing, false))
                    } else {
                        Err(EngineError::OrderExistsWithDifferentContent {
                            order_no: order_no.to_string(),
                        })
                    }
                }
                None => {
                    let event = LoggedEvent {
                        revision: new.revision,
                        at_ms: new.created_ms,
                        event: Event::Created {
                            amount_fen: new.amount_fen,
                        },
                    };
                    self.store.commit(None, &new, Some(&event))?;
                    self.store.flush().await?;
                    Ok(CommandReply::of(*new, true))
                }
            },
            Command::Apply(event) => self.process(require(record)?, event).await,
            Command::StartPayment {
                entry,
                openid,
                client_ip,
                out_trade_no,
            } => {
                let record = require(record)?;
                let entry_config = self.entry(&entry)?;
                if let Some(existing) =
                    machine::reusable_attempt(&record, &entry, openid.as_deref(), self.now_ms())
                {
                    let attempt = existing.out_trade_no.clone();
                    let mut reply = CommandReply::of(record, false);
                    reply.attempt = Some(attempt);
                    return Ok(reply);
                }
                let attempt = self.new_attempt(
                    &record,
                    entry_config,
                    out_trade_no.clone(),
                    openid,
                    client_ip,
                )?;
                let mut reply = self
                    .process(
                        record,
                        Event::StartPayment {
                            attempt: Box::new(attempt),
                        },
                    )
                    .await?;
                reply.attempt = Some(out_trade_no);
                Ok(reply)
            }
            Command::PaymentNotification(notification) => {
                self.payment_notification(require(record)?, *notification)
                    .await
            }
            Command::RefundNotification(notification) => {
                self.refund_notification(require(record)?, *notification)
                    .await
            }
        }
    }

    async fn payment_notification(
        &self,
        record: OrderRecord,
        notification: UnverifiedPaymentNotification,
    ) -> Result<CommandReply, EngineError> {
        let out_trade_no = notification.out_trade_no().unwrap_or("").to_owned();
        let rejected = |record: OrderRecord, reason: String| {
            bump(&self.metrics.payment_notifications_rejected);
            let mut reply = CommandReply::of(record, false);
            reply.verdict = Some(NotificationVerdict::Rejected(reason));
            reply
        };
        let Some(attempt) = record.attempt(&out_trade_no).cloned() else {
            return Ok(rejected(record, format!("no attempt {out_trade_no}")));
        };
        let merchant = self.merchant_for(&attempt.channel)?;
        match notification.verify(&merchant, AmountFen::from_fen(attempt.request.total_fen)) {
            Ok(verified) => match verified.result {
                PaymentResult::Paid => {
                    let transaction_id = verified
                        .details
                        .transaction_id
                        .map(|id| id.to_string())
                        .unwrap_or_default();
                    let event = Event::PaymentNotified {
                        out_trade_no,
                        transaction_id,
                        time_end: verified.details.time_end,
                    };
                    let mut reply = self.process(record, event).await?;
                    let verdict = if reply.changed {
                        bump(&self.metrics.payment_notifications_applied);
                        NotificationVerdict::Applied
                    } else {
                        bump(&self.metrics.payment_notifications_duplicate);
                        NotificationVerdict::Duplicate
                    };
                    reply.verdict = Some(verdict);
                    Ok(reply)
                }
                PaymentResult::Failed { err_code, .. } => {
                    let mut reply = CommandReply::of(record, false);
                    reply.verdict = Some(NotificationVerdict::Ignored);
                    tracing::info!(%err_code, "payment notification reports a failure; nothing changes");
                    Ok(reply)
                }
            },
            Err(
                error @ (NotifyError::AmountMismatch { .. } | NotifyError::IdentityMismatch { .. }),
            ) => {
                // A validly signed notification that contradicts the order is an alarm: it is
                // recorded durably (before the FAIL acknowledgement) and changes nothing else.
                let reply = self
                    .process(
                        record,
                        Event::ConflictingNotification {
                            detail: error.to_string(),
                        },
                    )
                    .await?;
                Ok(rejected(reply.record, error.to_string()))
            }
            Err(error) => Ok(rejected(record, error.to_string())),
        }
    }

    async fn refund_notification(
        &self,
        record: OrderRecord,
        notification: RefundNotification,
    ) -> Result<CommandReply, EngineError> {
        let out_refund_no = notification.out_refund_no.to_string();
        let Some(refund) = record.refund(&out_refund_no).cloned() else {
            bump(&self.metrics.refund_notifications_rejected);
            let mut reply = CommandReply::of(record, false);
            reply.verdict = Some(NotificationVerdict::Rejected(format!(
                "no refund {out_refund_no}"
            )));
            return Ok(reply);
        };
        if notification.refund_fee.fen() != refund.amount_fen
            || notification.out_trade_no.as_str() != refund.out_trade_no
        {
            bump(&self.metrics.refund_notifications_rejected);
            let detail = format!(
                "refund notification for {out_refund_no} reports {} fen of {}, the refund is {} fen of {}",
                notification.refund_fee, notification.out_trade_no, refund.amount_fen, refund.out_trade_no
            );
            let reply = self
                .process(
                    record,
                    Event::ConflictingNotification {
                        detail: detail.clone(),
                    },
                )
                .await?;
            let mut reply = CommandReply::of(reply.record, false);
            reply.verdict = Some(NotificationVerdict::Rejected(detail));
            return Ok(reply);
        }
        let refund_id = notification.refund_id.to_string();
        let report = match notification.refund_status {
            cashier_adapters::RefundStatus::Success => RefundStatusReport::Succeeded { refund_id },
            cashier_adapters::RefundStatus::RefundClose => RefundStatusReport::Closed,
            cashier_adapters::RefundStatus::Change => RefundStatusReport::Abnormal,
            _ => RefundStatusReport::Processing { refund_id },
        };
        let event = Event::RefundStatus {
            out_refund_no,
            report,
            from_notification: true,
        };
        let mut reply = self.process(record, event).await?;
        let verdict = if reply.changed {
            bump(&self.metrics.refund_notifications_applied);
            NotificationVerdict::Applied
        } else {
            bump(&self.metrics.refund_notifications_duplicate);
            NotificationVerdict::Duplicate
        };
        reply.verdict = Some(verdict);
        Ok(reply)
    }

    /// Applies `first` and every event its effects produce. Each changed record is committed
    /// and flushed before its effects run.
    pub(crate) async fn process(
        &self,
        record: OrderRecord,
        first: Event,
    ) -> Result<CommandReply, EngineError> {
        let span = tracing::info_span!("order", order_no = %record.order_no);
        self.process_in_span(record, first).instrument(span).await
    }

    async fn process_in_span(
        &self,
        record: OrderRecord,
        first: Event,
    ) -> Result<CommandReply, EngineError> {
        let mut record = record;
        let mut changed_any = false;
        let mut queue = VecDeque::from([first]);
        let mut first_event = true;
        while let Some(event) = queue.pop_front() {
            let now_ms = self.now_ms();
            let transition = match machine::step(&record, &event, now_ms) {
                Ok(transition) => transition,
                Err(rejection) if first_event => return Err(rejection.into()),
                Err(rejection) => {
                    // An effect's outcome that the machine refuses is a bug, not a caller error;
                    // it is logged and the order keeps its (durable) state.
                    tracing::error!(%rejection, ?event, "machine refused an effect outcome");
                    break;
                }
            };
            first_event = false;
            if transition.changed {
                let alerts_before = record.alerts.len();
                let logged = LoggedEvent {
                    revision: transition.record.revision,
                    at_ms: now_ms,
                    event: event.clone(),
                };
                self.store
                    .commit(Some(&record), &transition.record, Some(&logged))?;
                self.store.flush().await?;
                for _ in alerts_before..transition.record.alerts.len() {
                    bump(&self.metrics.alerts);
                }
                tracing::info!(state = ?transition.record.state, revision = transition.record.revision, "transition");
                changed_any = true;
            }
            record = transition.record;
            for effect in transition.effects {
                let outcome = self.run_effect(&record, &effect).await;
                queue.push_back(outcome);
            }
        }
        Ok(CommandReply::of(record, changed_any))
    }

    /// Runs one effect; every failure becomes an outcome event, never an error.
    async fn run_effect(&self, record: &OrderRecord, effect: &Effect) -> Event {
        match effect {
            Effect::SendUnifiedOrder { out_trade_no } => Event::PrepayResult {
                out_trade_no: out_trade_no.clone(),
                outcome: self.send_unified_order(record, out_trade_no).await,
            },
            Effect::QueryOrder { out_trade_no } => Event::QueryResult {
                out_trade_no: out_trade_no.clone(),
                outcome: self.query_order(record, out_trade_no).await,
            },
            Effect::CloseOrder { out_trade_no } => Event::CloseResult {
                out_trade_no: out_trade_no.clone(),
                outcome: self.close_order(record, out_trade_no).await,
            },
            Effect::SendRefund { out_refund_no } => Event::RefundResult {
                out_refund_no: out_refund_no.clone(),
                outcome: self.send_refund(record, out_refund_no).await,
            },
            Effect::QueryRefund { out_refund_no } => Event::RefundStatus {
                out_refund_no: out_refund_no.clone(),
                report: self.query_refund(record, out_refund_no).await,
                from_notification: false,
            },
        }
    }

    fn unified_order_request(
        &self,
        attempt: &PaymentAttempt,
    ) -> Result<UnifiedOrderRequest, String> {
        let request = &attempt.request;
        let openid = |text: &Option<String>| {
            text.clone()
                .map(OpenId::new)
                .transpose()
                .map_err(|error| error.to_string())
        };
        let trade = match attempt.channel.trade_type.as_str() {
            "JSAPI" => match (openid(&request.openid)?, openid(&request.sub_openid)?) {
                (Some(openid), _) => Trade::Jsapi {
                    payer: Payer::OpenId(openid),
                },
                (None, Some(sub_openid)) => Trade::Jsapi {
                    payer: Payer::SubOpenId(sub_openid),
                },
                (None, None) => return Err("JSAPI attempt without openid".into()),
            },
            "NATIVE" => Trade::Native {
                product_id: request.product_id.clone().unwrap_or_else(|| "00".into()),
            },
            "MWEB" => {
                let (wap_url, wap_name) = request.h5_site.clone().unwrap_or_default();
                Trade::Mweb {
                    scene: H5Scene { wap_url, wap_name },
                }
            }
            _ => Trade::App,
        };
        let mut unified = UnifiedOrderRequest::new(
            OutTradeNo::new(attempt.out_trade_no.clone()).map_err(|error| error.to_string())?,
            request.body.clone(),
            AmountFen::from_fen(request.total_fen),
            request
                .client_ip
                .parse()
                .map_err(|_| "client ip".to_owned())?,
            request.notify_url.clone(),
            trade,
        );
        unified.attach = Some(request.attach.clone());
        unified.time_start_unix_s = Some(request.time_start_s);
        unified.time_expire_unix_s = Some(request.time_expire_s);
        Ok(unified)
    }

    /// What every call about one attempt needs: the attempt, the merchant context and client it
    /// was made with, and its number; or why the call cannot be made (a final failure).
    fn attempt_call<'r>(
        &self,
        record: &'r OrderRecord,
        out_trade_no: &str,
    ) -> Result<(&'r PaymentAttempt, MerchantContext, &Client, OutTradeNo), CallFailure> {
        let final_failure = |code: String| CallFailure::Final { code };
        let attempt = record
            .attempt(out_trade_no)
            .ok_or_else(|| final_failure("no such attempt".into()))?;
        let (merchant, client) = self
            .route(&attempt.channel)
            .map_err(|error| final_failure(error.to_string()))?;
        let number = OutTradeNo::new(out_trade_no.to_owned())
            .map_err(|error| final_failure(error.to_string()))?;
        Ok((attempt, merchant, client, number))
    }

    /// What every call about one refund needs: the refund, the attempt it returns money of (whose
    /// merchant context and client are used, exactly), and both numbers.
    #[allow(clippy::type_complexity)]
    fn refund_call<'r>(
        &self,
        record: &'r OrderRecord,
        out_refund_no: &str,
    ) -> Result<
        (
            &'r RefundRecord,
            &'r PaymentAttempt,
            MerchantContext,
            &Client,
            OutTradeNo,
            OutRefundNo,
        ),
        CallFailure,
    > {
        let refund = record
            .refund(out_refund_no)
            .ok_or_else(|| CallFailure::Final {
                code: "no such refund".into(),
            })?;
        let (attempt, merchant, client, out_trade_no) =
            self.attempt_call(record, &refund.out_trade_no)?;
        let number =
            OutRefundNo::new(out_refund_no.to_owned()).map_err(|error| CallFailure::Final {
                code: error.to_string(),
            })?;
        Ok((refund, attempt, merchant, client, out_trade_no, number))
    }

    async fn send_unified_order(&self, record: &OrderRecord, out_trade_no: &str) -> PrepayOutcome {
        let (attempt, merchant, client, _) = match self.attempt_call(record, out_trade_no) {
            Ok(call) => call,
            Err(failure) => return PrepayOutcome::Failed(failure),
        };
        if attempt.sends > 1 {
            bump(&self.metrics.retries);
        }
        bump(&self.metrics.unified_orders_sent);
        let request = match self.unified_order_request(attempt) {
            Ok(request) => request,
            Err(reason) => return PrepayOutcome::Failed(CallFailure::Final { code: reason }),
        };
        match client.call(&merchant, &request).await {
            Ok(reply) => PrepayOutcome::Prepared {
                prepay_id: reply.prepay_id.to_string(),
                code_url: reply.code_url,
                mweb_url: reply.mweb_url,
            },
            Err(error) if is_code(&error, &ErrCode::OrderPaid) => PrepayOutcome::AlreadyPaid,
            Err(error) if is_code(&error, &ErrCode::OrderClosed) => PrepayOutcome::AlreadyClosed,
            Err(error) => PrepayOutcome::Failed(classify(&error)),
        }
    }

    async fn query_order(&self, record: &OrderRecord, out_trade_no: &str) -> QueryOutcome {
        let (_, merchant, client, number) = match self.attempt_call(record, out_trade_no) {
            Ok(call) => call,
            Err(failure) => return QueryOutcome::Failed(failure),
        };
        bump(&self.metrics.order_queries);
        let request = OrderQueryRequest {
            order: OrderRef::OutTradeNo(number),
        };
        match client.call(&merchant, &request).await {
            Ok(reply) => match reply.trade_state {
                TradeState::Success | TradeState::Refund => {
                    let transaction_id = reply
                        .details
                        .transaction_id
                        .map(|id| id.to_string())
                        .unwrap_or_default();
                    if !record
                        .paid_attempts()
                        .any(|paid| paid.out_trade_no == out_trade_no)
                    {
                        bump(&self.metrics.queries_rescued_payment);
                    }
                    QueryOutcome::Paid {
                        transaction_id,
                        total_fen: reply.details.total_fee.map(AmountFen::fen).unwrap_or(0),
                        time_end: reply.details.time_end,
                    }
                }
                TradeState::Closed | TradeState::Revoked | TradeState::PayError => {
                    QueryOutcome::Closed
                }
                _ => QueryOutcome::NotPaid,
            },
            Err(error) if is_code(&error, &ErrCode::OrderNotExist) => QueryOutcome::NotFound,
            Err(error) => QueryOutcome::Failed(classify(&error)),
        }
    }

    async fn close_order(&self, record: &OrderRecord, out_trade_no: &str) -> CloseOutcome {
        let (_, merchant, client, number) = match self.attempt_call(record, out_trade_no) {
            Ok(call) => call,
            Err(failure) => return CloseOutcome::Failed(failure),
        };
        bump(&self.metrics.closes_sent);
        match client
            .call(
                &merchant,
                &CloseOrderRequest {
                    out_trade_no: number,
                },
            )
            .await
        {
            Ok(_) => CloseOutcome::Closed,
            Err(error) if is_code(&error, &ErrCode::OrderPaid) => CloseOutcome::AlreadyPaid,
            Err(error)
                if is_code(&error, &ErrCode::OrderClosed)
                    || is_code(&error, &ErrCode::OrderNotExist) =>
            {
                CloseOutcome::Closed
            }
            Err(error) if is_code(&error, &ErrCode::TradeStateError) => CloseOutcome::QueryFirst,
            Err(error) => CloseOutcome::Failed(classify(&error)),
        }
    }

    async fn send_refund(&self, record: &OrderRecord, out_refund_no: &str) -> RefundOutcome {
        // The refund goes out with exactly the paying attempt's appid, mch_id, sub ids and sign
        // type: the seed system's refund bug was to use whichever entry was at hand.
        let (refund, attempt, merchant, client, out_trade_no, number) =
            match self.refund_call(record, out_refund_no) {
                Ok(call) => call,
                Err(failure) => return RefundOutcome::Failed(failure),
            };
        if refund.sends > 1 {
            bump(&self.metrics.retries);
        }
        bump(&self.metrics.refunds_sent);
        let refund_notify_url = self
            .config
            .entry(&attempt.channel.entry)
            .and_then(|entry| entry.refund_notify_url.clone());
        let reason = match &refund.cause {
            RefundCause::Requested { reason } => reason.clone(),
            RefundCause::DuplicatePayment => "重复支付退款".into(),
            RefundCause::PaidAfterClose => "订单已关闭，退回款项".into(),
        };
        let request = RefundRequest {
            order: OrderRef::OutTradeNo(out_trade_no),
            out_refund_no: number,
            total_fee: AmountFen::from_fen(attempt.request.total_fen),
            refund_fee: AmountFen::from_fen(refund.amount_fen),
            refund_desc: (!reason.is_empty()).then(|| reason.chars().take(26).collect()),
            refund_account: None,
            notify_url: refund_notify_url,
        };
        match client.call(&merchant, &request).await {
            Ok(reply) => RefundOutcome::Accepted {
                refund_id: reply.refund_id.to_string(),
            },
            Err(error) => RefundOutcome::Failed(classify(&error)),
        }
    }

    async fn query_refund(&self, record: &OrderRecord, out_refund_no: &str) -> RefundStatusReport {
        let (_, _, merchant, client, _, number) = match self.refund_call(record, out_refund_no) {
            Ok(call) => call,
            Err(failure) => return RefundStatusReport::Failed(failure),
        };
        bump(&self.metrics.refund_queries);
        let request = RefundQueryRequest {
            refund: RefundRef::OutRefundNo(number),
            offset: None,
        };
        match client.call(&merchant, &request).await {
            Ok(reply) => match reply
                .refunds
                .iter()
                .find(|found| found.out_refund_no.as_str() == out_refund_no)
            {
                Some(found) => {
                    let refund_id = found.refund_id.to_string();
                    match found.refund_status {
                        cashier_adapters::RefundStatus::Success => {
                            RefundStatusReport::Succeeded { refund_id }
                        }
                        cashier_adapters::RefundStatus::RefundClose => RefundStatusReport::Closed,
                        cashier_adapters::RefundStatus::Change => RefundStatusReport::Abnormal,
                        _ => RefundStatusReport::Processing { refund_id },
                    }
                }
                None => RefundStatusReport::NotFound,
            },
            Err(error) if is_code(&error, &ErrCode::RefundNotExist) => RefundStatusReport::NotFound,
            Err(error) => RefundStatusReport::Failed(classify(&error)),
        }
    }
}
