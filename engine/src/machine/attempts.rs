//! Payment attempts: starting one (reuse a still usable one, refresh a stale link by identical
//! re-entry, or add a new one with the payer and expiry rules), and what WeChat's answers,
//! notifications, queries and closes do to it. A second payment is never lost: it is refunded
//! automatically with an alert.

use cashier_adapters::{OutTradeNo, TransactionId};

use crate::machine::ladders::*;
use crate::machine::refunds::automatic_refund_number;
use crate::machine::step::Step;
use crate::machine::{Outcome, Rejection};
use crate::model::*;

/// The payer fields of an attempt: JSAPI needs the payer's openid (under `sub_appid` when the
/// entry has one); other trade types take none.
fn payer_of(spec: &AttemptSpec) -> Result<Option<Payer>, Rejection> {
    match (spec.channel.trade, &spec.openid) {
        (TradeKind::Jsapi, None) => Err(Rejection::PayerRequired),
        (TradeKind::Jsapi, Some(openid)) if spec.channel.sub_appid.is_some() => {
            Ok(Some(Payer::SubOpenId(openid.clone())))
        }
        (TradeKind::Jsapi, Some(openid)) => Ok(Some(Payer::OpenId(openid.clone()))),
        (_, Some(_)) => Err(Rejection::PayerNotTaken(spec.channel.trade)),
        (_, None) => Ok(None),
    }
}

fn same_payer_and_entry(
    attempt: &PaymentAttempt,
    spec: &AttemptSpec,
    payer: &Option<Payer>,
) -> bool {
    attempt.channel.entry == spec.channel.entry && &attempt.request.payer == payer
}

/// The newest attempt of this entry and payer that can still be paid, and whether its link
/// (prepay_id, code_url, mweb_url) is still fresh for the client.
fn usable_attempt<'r>(
    record: &'r OrderRecord,
    spec: &AttemptSpec,
    payer: &Option<Payer>,
    now_ms: i64,
) -> Option<(&'r PaymentAttempt, bool)> {
    record.attempts.iter().rev().find_map(|attempt| {
        let AttemptState::Prepared { prepared_ms, .. } = attempt.state else {
            return None;
        };
        // A minute before expiry nothing is handed out any more: the payer could not finish.
        let payable = now_ms + 60_000 < attempt.expires_ms();
        (same_payer_and_entry(attempt, spec, payer) && payable).then(|| {
            let fresh = now_ms < prepared_ms + attempt.channel.trade.reuse_window_ms();
            (attempt, fresh)
        })
    })
}

pub(crate) fn on_start_payment(step: &mut Step, spec: &AttemptSpec) -> Result<(), Rejection> {
    if step.record.state.is_paid() {
        return Err(Rejection::AlreadyPaid);
    }
    if step.record.state.is_terminal() || step.record.close_requested {
        return Err(Rejection::Terminal(OrderState::Closed));
    }
    let payer = payer_of(spec)?;
    let now_ms = step.now_ms;
    if let Some((attempt, fresh)) = usable_attempt(&step.record, spec, &payer, now_ms) {
        let out_trade_no = attempt.out_trade_no.clone();
        if fresh {
            step.outcome = Outcome::AttemptReused(out_trade_no);
            return Ok(());
        }
        // A stale link is refreshed by an identical re-entry of the same order (§2.2).
        step.send_unified_order(&out_trade_no)?;
        step.outcome = Outcome::AttemptRefreshing(out_trade_no);
        return Ok(());
    }
    if step.record.attempt(&spec.out_trade_no).is_some() {
        return Err(Rejection::DuplicateNumber(spec.out_trade_no.to_string()));
    }
    let attempt = new_attempt(&step.record, spec, payer, now_ms);
    step.record.attempts.push(attempt);
    step.send_unified_order(&spec.out_trade_no)?;
    step.outcome = Outcome::AttemptStarted(spec.out_trade_no.clone());
    Ok(())
}

fn new_attempt(
    record: &OrderRecord,
    spec: &AttemptSpec,
    payer: Option<Payer>,
    now_ms: i64,
) -> PaymentAttempt {
    let now_s = now_ms.div_euclid(1000);
    PaymentAttempt {
        out_trade_no: spec.out_trade_no.clone(),
        channel: spec.channel.clone(),
        request: AttemptRequest {
            body: record.description.clone(),
            total: record.amount,
            client_ip: spec.client_ip,
            notify_url: spec.notify_url.clone(),
            payer,
            product: (spec.channel.trade == TradeKind::Native).then_some(record.product_type),
            h5_site: spec.h5_site.clone(),
            time_start_s: now_s,
            time_expire_s: (record.expires_ms / 1000).max(now_s + MIN_ATTEMPT_LIFETIME_S),
            attach: record.order_no.clone(),
        },
        state: AttemptState::Sending,
        created_ms: now_ms,
        sends: 0,
        queries: 0,
        next_action_ms: None,
        close_sends: 0,
    }
}

pub(crate) fn on_prepay_result(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    outcome: &PrepayOutcome,
) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let attempt = step.attempt_mut(out_trade_no)?;
    if !matches!(
        attempt.state,
        AttemptState::Sending | AttemptState::OutcomeUnknown
    ) {
        return Ok(());
    }
    let sends = attempt.sends;
    match outcome {
        PrepayOutcome::Prepared { prepay_id, link } => {
            attempt.state = AttemptState::Prepared {
                prepay_id: prepay_id.clone(),
                link: link.clone(),
                prepared_ms: now_ms,
            };
            attempt.queries = 0;
            step.changed = true;
            step.schedule_attempt(out_trade_no, ladder(&QUERY_LADDER_MS, 0))?;
            // An attempt prepared after the order was paid or closed is closed at once.
            if step.record.state.is_paid() || step.record.close_requested {
                step.close(out_trade_no)?;
            }
            Ok(())
        }
        PrepayOutcome::AlreadyPaid => {
            attempt.state = AttemptState::OutcomeUnknown;
            step.query(out_trade_no)
        }
        PrepayOutcome::AlreadyClosed => step.mark_attempt_closed(out_trade_no),
        PrepayOutcome::Failed(CallFailure::Final { refusal }) => {
            attempt.state = AttemptState::Failed {
                refusal: refusal.clone(),
            };
            attempt.next_action_ms = None;
            let detail =
                format!("attempt {out_trade_no}: unified order refused for good: {refusal}");
            step.alert(AlertKind::AttemptRefused, detail);
            Ok(())
        }
        PrepayOutcome::Failed(failure) => on_send_failure(step, out_trade_no, failure, sends),
    }
}

fn on_send_failure(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    failure: &CallFailure,
    sends: u32,
) -> Result<(), Rejection> {
    match failure {
        CallFailure::Retry { after_ms, .. } if sends <= IMMEDIATE_RETRIES && *after_ms == 0 => {
            step.send_unified_order(out_trade_no)
        }
        CallFailure::Retry { after_ms, .. } => {
            let delay = (*after_ms).max(ladder(&BACKOFF_MS, sends));
            step.schedule_attempt(out_trade_no, delay)
        }
        // Unknown, or refused in a way that may still have created it: the query decides.
        CallFailure::Unknown | CallFailure::Final { .. } => {
            let attempt = step.attempt_mut(out_trade_no)?;
            attempt.state = AttemptState::OutcomeUnknown;
            let queries = attempt.queries;
            if queries <= IMMEDIATE_RETRIES {
                step.query(out_trade_no)
            } else {
                step.schedule_attempt(out_trade_no, ladder(&BACKOFF_MS, queries))
            }
        }
    }
}

pub(crate) fn on_client_report(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    result: ClientResult,
) -> Result<(), Rejection> {
    let attempt = step.attempt_mut(out_trade_no)?;
    // The client never decides: "ok" only asks WeChat now; cancel and fail change nothing.
    if result == ClientResult::Ok && matches!(attempt.state, AttemptState::Prepared { .. }) {
        step.query(out_trade_no)?;
    }
    Ok(())
}

/// Records a confirmed payment of an attempt. A second successful attempt, or a payment after
/// the order closed, is never lost: its money goes back by an automatic refund and an alert.
pub(crate) fn mark_paid(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    transaction_id: &TransactionId,
    paid_at_s: Option<i64>,
) -> Result<(), Rejection> {
    let attempt = step.attempt_mut(out_trade_no)?;
    if let AttemptState::Paid {
        transaction_id: known,
        ..
    } = &attempt.state
    {
        if known != transaction_id {
            let detail =
                format!("attempt {out_trade_no} reported paid as {known} and as {transaction_id}");
            step.alert(AlertKind::ConflictingTransaction, detail);
        }
        return Ok(());
    }
    let amount = attempt.request.total;
    attempt.state = AttemptState::Paid {
        transaction_id: transaction_id.clone(),
        paid_at_s,
    };
    attempt.next_action_ms = None;
    step.changed = true;
    let paid_elsewhere = step
        .record
        .paid_attempts()
        .any(|other| &other.out_trade_no != out_trade_no)
        || step.record.paid_medical().next().is_some();
    let cause = if paid_elsewhere {
        Some((RefundCause::DuplicatePayment, AlertKind::DuplicatePayment))
    } else if step.record.state == OrderState::Closed {
        Some((RefundCause::PaidAfterClose, AlertKind::PaidAfterClose))
    } else {
        None
    };
    if let Some((cause, kind)) = cause {
        let detail = format!(
            "attempt {out_trade_no} ({transaction_id}, {amount}) is refunded automatically"
        );
        step.alert(kind, detail);
        let out_refund_no = automatic_refund_number(out_trade_no)?;
        return step.add_refund(out_refund_no, out_trade_no.clone(), amount, cause);
    }
    // The order is paid: every other live attempt, of either method, is closed.
    crate::machine::medical::close_other_attempts(step, out_trade_no)
}

/// The numbers of every attempt that can still become a payment.
fn live_attempts(record: &OrderRecord) -> Vec<OutTradeNo> {
    record
        .attempts
        .iter()
        .filter(|attempt| attempt.state.is_live())
        .map(|attempt| attempt.out_trade_no.clone())
        .collect()
}

pub(crate) fn on_close_requested(step: &mut Step) -> Result<(), Rejection> {
    if step.record.state.is_paid() {
        return Err(Rejection::AlreadyPaid);
    }
    if step.record.state.is_terminal() || step.record.close_requested {
        return Ok(());
    }
    step.record.close_requested = true;
    step.changed = true;
    let live = live_attempts(&step.record);
    live.iter()
        .try_for_each(|out_trade_no| step.close(out_trade_no))?;
    crate::machine::medical::on_close_requested(step)
}

pub(crate) fn on_close_result(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    outcome: &CloseOutcome,
) -> Result<(), Rejection> {
    let attempt = step.attempt_mut(out_trade_no)?;
    if !attempt.state.is_live() {
        return Ok(());
    }
    let close_sends = attempt.close_sends;
    match outcome {
        CloseOutcome::Closed => step.mark_attempt_closed(out_trade_no),
        // Paid after all (ORDERPAID), or a state to check: the query decides.
        CloseOutcome::AlreadyPaid | CloseOutcome::QueryFirst => step.query(out_trade_no),
        CloseOutcome::Failed(failure) => {
            let backoff = ladder(&BACKOFF_MS, close_sends);
            let delay = match failure {
                CallFailure::Retry { after_ms, .. } => (*after_ms).max(backoff),
                _ => backoff,
            };
            step.schedule_attempt(out_trade_no, delay)
        }
    }
}

/// True when a prepared attempt should be closed rather than queried again.
pub(crate) fn should_close(step: &Step, attempt: &PaymentAttempt) -> bool {
    step.now_ms >= attempt.expires_ms()
        || step.record.close_requested
        || step.record.state.is_paid()
}

/// The host asks to hear from WeChat now: every live attempt and every unfinished refund is
/// queried with its own context.
pub(crate) fn on_query_requested(step: &mut Step) -> Result<(), Rejection> {
    // Closing attempts too: a close answered ORDERPAID is exactly what the host wants to know.
    let wanted = live_attempts(&step.record);
    wanted
        .iter()
        .try_for_each(|out_trade_no| step.query(out_trade_no))?;
    let refunds: Vec<_> = step
        .record
        .refunds
        .iter()
        .filter(|refund| !refund.state.is_final())
        .map(|refund| refund.out_refund_no.clone())
        .collect();
    refunds
        .iter()
        .try_for_each(|out_refund_no| step.query_refund(out_refund_no))?;
    crate::machine::medical::on_query_requested(step)
}
