//! Running one effect against WeChat with the record's own channel context, and turning every
//! answer (or failure) into the outcome event the machine takes next. Nothing here changes
//! state: the outcome goes back to the order's actor as a command.

use cashier_adapters::endpoints::close_order::CloseOrderRequest;
use cashier_adapters::endpoints::order_query::OrderQueryRequest;
use cashier_adapters::endpoints::refund_query::{RefundQueryRequest, RefundRef};
use cashier_adapters::{
    CallerAction, ErrCode, OrderRef, OutRefundNo, OutTradeNo, RefundStatus, TradeState, WechatError,
};

use crate::metrics::bump;
use crate::model::*;
use crate::shell::{requests, Shell};

fn classify(error: &WechatError) -> CallFailure {
    if error.outcome_unknown() && !matches!(error, WechatError::Business { .. }) {
        return CallFailure::Unknown;
    }
    let code = error
        .err_code()
        .cloned()
        .unwrap_or_else(|| ErrCode::Other(error.to_string()));
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
        _ => CallFailure::Final {
            refusal: Refusal::Wechat(code),
        },
    }
}

fn is_code(error: &WechatError, code: &ErrCode) -> bool {
    error.err_code() == Some(code)
}

fn not_configured(error: crate::error::EngineError) -> CallFailure {
    match error {
        crate::error::EngineError::NotConfigured { .. } | crate::error::EngineError::Keys(_) => {
            CallFailure::Final {
                refusal: Refusal::NotConfigured,
            }
        }
        // A sandbox key that could not be fetched yet: try again later.
        _ => CallFailure::Unknown,
    }
}

/// The link a unified order reply must carry for the attempt's trade type.
fn link_of(
    trade: TradeKind,
    code_url: Option<String>,
    mweb_url: Option<String>,
) -> Result<ClientLinkKind, Refusal> {
    let link = |url: Option<String>, name: &str| {
        let url = url.ok_or_else(|| Refusal::Invalid(format!("reply without {name}")))?;
        ClientLink::new(url).map_err(|error| Refusal::Invalid(error.to_string()))
    };
    Ok(match trade {
        TradeKind::Native => ClientLinkKind::CodeUrl(link(code_url, "code_url")?),
        TradeKind::Mweb => ClientLinkKind::MwebUrl(link(mweb_url, "mweb_url")?),
        TradeKind::Jsapi | TradeKind::App => ClientLinkKind::None,
    })
}

impl Shell {
    /// Runs one effect; every failure becomes an outcome event, never an error.
    pub(crate) async fn run_effect(&self, record: &OrderRecord, effect: &Effect) -> Event {
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
            medical => match self.run_medical_effect(record, medical).await {
                Some(event) => event,
                // Every effect is handled above or in `medical.rs`; a deadline run is harmless.
                None => {
                    tracing::error!(?medical, "effect without a runner");
                    Event::DeadlineReached
                }
            },
        }
    }

    async fn attempt_call<'r>(
        &self,
        record: &'r OrderRecord,
        out_trade_no: &OutTradeNo,
    ) -> Result<
        (
            &'r PaymentAttempt,
            cashier_adapters::MerchantContext,
            crate::shell::Client,
        ),
        CallFailure,
    > {
        let attempt = record.attempt(out_trade_no).ok_or(CallFailure::Final {
            refusal: Refusal::Invalid(format!("no attempt {out_trade_no}")),
        })?;
        let merchant = self
            .signing_context(&attempt.channel)
            .await
            .map_err(not_configured)?;
        let client = self.client(&attempt.channel).map_err(not_configured)?;
        Ok((attempt, merchant, client))
    }

    async fn send_unified_order(
        &self,
        record: &OrderRecord,
        out_trade_no: &OutTradeNo,
    ) -> PrepayOutcome {
        let (attempt, merchant, client) = match self.attempt_call(record, out_trade_no).await {
            Ok(call) => call,
            Err(failure) => return PrepayOutcome::Failed(failure),
        };
        if attempt.sends > 1 {
            bump(&self.metrics.retries);
        }
        bump(&self.metrics.unified_orders_sent);
        let request = match requests::unified_order(attempt) {
            Ok(request) => request,
            Err(refusal) => return PrepayOutcome::Failed(CallFailure::Final { refusal }),
        };
        match client.call(&merchant, &request).await {
            Ok(reply) => match link_of(attempt.channel.trade, reply.code_url, reply.mweb_url) {
                Ok(link) => PrepayOutcome::Prepared {
                    prepay_id: reply.prepay_id,
                    link,
                },
                Err(refusal) => PrepayOutcome::Failed(CallFailure::Final { refusal }),
            },
            Err(error) if is_code(&error, &ErrCode::OrderPaid) => PrepayOutcome::AlreadyPaid,
            Err(error) if is_code(&error, &ErrCode::OrderClosed) => PrepayOutcome::AlreadyClosed,
            Err(error) => PrepayOutcome::Failed(classify(&error)),
        }
    }

    async fn query_order(&self, record: &OrderRecord, out_trade_no: &OutTradeNo) -> QueryOutcome {
        let (_, merchant, client) = match self.attempt_call(record, out_trade_no).await {
            Ok(call) => call,
            Err(failure) => return QueryOutcome::Failed(failure),
        };
        bump(&self.metrics.order_queries);
        let request = OrderQueryRequest {
            order: OrderRef::OutTradeNo(out_trade_no.clone()),
        };
        let reply = match client.call(&merchant, &request).await {
            Ok(reply) => reply,
            Err(error) if is_code(&error, &ErrCode::OrderNotExist) => {
                return QueryOutcome::NotFound
            }
            Err(error) => return QueryOutcome::Failed(classify(&error)),
        };
        match reply.trade_state {
            TradeState::Success | TradeState::Refund => {
                let (Some(transaction_id), Some(total)) =
                    (reply.details.transaction_id, reply.details.total_fee)
                else {
                    return QueryOutcome::Failed(CallFailure::Unknown);
                };
                if !record
                    .paid_attempts()
                    .any(|paid| &paid.out_trade_no == out_trade_no)
                {
                    bump(&self.metrics.queries_rescued_payment);
                }
                QueryOutcome::Paid {
                    transaction_id,
                    total,
                    paid_at_s: reply
                        .details
                        .time_end
                        .as_deref()
                        .and_then(cashier_adapters::wechat::time::parse_compact),
                }
            }
            TradeState::Closed | TradeState::Revoked | TradeState::PayError => QueryOutcome::Closed,
            _ => QueryOutcome::NotPaid,
        }
    }

    async fn close_order(&self, record: &OrderRecord, out_trade_no: &OutTradeNo) -> CloseOutcome {
        let (_, merchant, client) = match self.attempt_call(record, out_trade_no).await {
            Ok(call) => call,
            Err(failure) => return CloseOutcome::Failed(failure),
        };
        bump(&self.metrics.closes_sent);
        let request = CloseOrderRequest {
            out_trade_no: out_trade_no.clone(),
        };
        match client.call(&merchant, &request).await {
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

    /// The refund goes out with exactly the paying attempt's appid, mch_id, sub ids and sign
    /// type: the seed system's refund bug was to use whichever entry was at hand.
    async fn send_refund(
        &self,
        record: &OrderRecord,
        out_refund_no: &OutRefundNo,
    ) -> RefundOutcome {
        let Some(refund) = record.refund(out_refund_no) else {
            return RefundOutcome::Failed(CallFailure::Final {
                refusal: Refusal::Invalid(format!("no refund {out_refund_no}")),
            });
        };
        let (attempt, merchant, client) =
            match self.attempt_call(record, &refund.out_trade_no).await {
                Ok(call) => call,
                Err(failure) => return RefundOutcome::Failed(failure),
            };
        if refund.sends > 1 {
            bump(&self.metrics.retries);
        }
        bump(&self.metrics.refunds_sent);
        let notify_url = self
            .config
            .entry(attempt.channel.entry.as_str())
            .and_then(|entry| entry.refund_notify_url.as_ref());
        let request = requests::refund(refund, attempt, notify_url);
        match client.call(&merchant, &request).await {
            Ok(reply) => RefundOutcome::Accepted {
                refund_id: reply.refund_id,
            },
            Err(error) => RefundOutcome::Failed(classify(&error)),
        }
    }

    async fn query_refund(
        &self,
        record: &OrderRecord,
        out_refund_no: &OutRefundNo,
    ) -> RefundStatusReport {
        let Some(refund) = record.refund(out_refund_no) else {
            return RefundStatusReport::Failed(CallFailure::Final {
                refusal: Refusal::Invalid(format!("no refund {out_refund_no}")),
            });
        };
        let (_, merchant, client) = match self.attempt_call(record, &refund.out_trade_no).await {
            Ok(call) => call,
            Err(failure) => return RefundStatusReport::Failed(failure),
        };
        bump(&self.metrics.refund_queries);
        let request = RefundQueryRequest {
            refund: RefundRef::OutRefundNo(out_refund_no.clone()),
            offset: None,
        };
        match client.call(&merchant, &request).await {
            Ok(reply) => match reply
                .refunds
                .into_iter()
                .find(|found| &found.out_refund_no == out_refund_no)
            {
                Some(found) => status_report(found.refund_status, found.refund_id),
                None => RefundStatusReport::NotFound,
            },
            Err(error) if is_code(&error, &ErrCode::RefundNotExist) => RefundStatusReport::NotFound,
            Err(error) => RefundStatusReport::Failed(classify(&error)),
        }
    }
}

/// A refund status as WeChat reports it (refundquery and refund notifications alike).
pub(crate) fn status_report(
    status: RefundStatus,
    refund_id: cashier_adapters::RefundId,
) -> RefundStatusReport {
    match status {
        RefundStatus::Success => RefundStatusReport::Succeeded { refund_id },
        RefundStatus::RefundClose => RefundStatusReport::Closed,
        RefundStatus::Change => RefundStatusReport::Abnormal,
        _ => RefundStatusReport::Processing { refund_id },
    }
}
