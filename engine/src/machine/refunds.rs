//! Refunds: the host's request under its idempotency key (a repeat is the same refund, other
//! content under the same key is refused), WeChat's answers and status reports, and the number
//! of an automatic refund (derived from the attempt, so a retry after a crash reuses it).

use cashier_adapters::{AmountFen, OutRefundNo, OutTradeNo};

use crate::machine::ladders::*;
use crate::machine::step::Step;
use crate::machine::{Outcome, Rejection};
use crate::model::*;

/// The automatic refund number for an attempt's money: the attempt's number with kind digit 2
/// (refund). The out_trade_no charset is a subset of out_refund_no's, so it always validates.
pub fn automatic_refund_number(out_trade_no: &OutTradeNo) -> Result<OutRefundNo, Rejection> {
    let mut number: Vec<u8> = out_trade_no.as_str().bytes().collect();
    if let Some(kind) = number.get_mut(2) {
        *kind = b'2';
    }
    OutRefundNo::new(String::from_utf8_lossy(&number).into_owned())
        .map_err(|_| Rejection::InvalidNumber(out_trade_no.to_string()))
}

pub(crate) fn on_refund_requested(
    step: &mut Step,
    key: &RequestKey,
    out_refund_no: &OutRefundNo,
    amount: AmountFen,
    reason: &RefundReason,
) -> Result<(), Rejection> {
    if let Some(existing) = step.record.refund_by_key(key) {
        let same = existing.amount == amount
            && matches!(&existing.cause, RefundCause::Requested { reason: known, .. } if known == reason);
        if !same {
            return Err(Rejection::ConflictingRequest(key.clone()));
        }
        step.outcome = Outcome::RefundAlreadyRequested(existing.out_refund_no.clone());
        return Ok(());
    }
    if let Some(existing) = step.record.medical_refund_by_key(key) {
        let same = existing.split.total == amount
            && matches!(&existing.cause, RefundCause::Requested { reason: known, .. } if known == reason);
        if !same {
            return Err(Rejection::ConflictingRequest(key.clone()));
        }
        step.outcome = Outcome::RefundAlreadyRequested(existing.out_refund_no.clone());
        return Ok(());
    }
    if !step.record.state.is_paid() {
        return Err(Rejection::NotPaid);
    }
    if step.record.state.is_terminal() {
        return Err(Rejection::Terminal(step.record.state));
    }
    if amount.is_zero() {
        return Err(Rejection::ZeroRefund);
    }
    let Some((primary, paid)) = step
        .record
        .primary_payment()
        .map(|attempt| (attempt.out_trade_no.clone(), attempt.request.total))
    else {
        return crate::machine::medical_refunds::on_refund_requested(
            step,
            key,
            out_refund_no,
            amount,
            reason,
        );
    };
    let committed = step.record.refund_committed_fen(&primary);
    let available_fen = paid.fen().saturating_sub(committed);
    if amount.fen() > available_fen {
        return Err(Rejection::RefundExceedsPaid {
            available_fen,
            requested_fen: amount.fen(),
        });
    }
    let cause = RefundCause::Requested {
        key: key.clone(),
        reason: reason.clone(),
    };
    step.add_refund(out_refund_no.clone(), primary, amount, cause)?;
    step.outcome = Outcome::RefundRequested(out_refund_no.clone());
    Ok(())
}

pub(crate) fn on_refund_result(
    step: &mut Step,
    out_refund_no: &OutRefundNo,
    outcome: &RefundOutcome,
) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let refund = step.refund_mut(out_refund_no)?;
    if refund.state.is_final() || matches!(refund.state, RefundState::Processing { .. }) {
        return Ok(());
    }
    let (sends, queries) = (refund.sends, refund.queries);
    match outcome {
        RefundOutcome::Accepted { refund_id } => {
            refund.state = RefundState::Processing {
                refund_id: refund_id.clone(),
            };
            refund.next_action_ms = Some(now_ms + ladder(&REFUND_QUERY_LADDER_MS, 0));
        }
        RefundOutcome::Failed(CallFailure::Retry { after_ms, .. }) => {
            if sends <= IMMEDIATE_RETRIES && *after_ms == 0 {
                return step.send_refund(out_refund_no);
            }
            refund.next_action_ms = Some(now_ms + (*after_ms).max(ladder(&BACKOFF_MS, sends)));
        }
        RefundOutcome::Failed(CallFailure::Unknown) => {
            refund.state = RefundState::OutcomeUnknown;
            if queries <= IMMEDIATE_RETRIES {
                return step.query_refund(out_refund_no);
            }
            refund.next_action_ms = Some(now_ms + ladder(&BACKOFF_MS, queries));
        }
        RefundOutcome::Failed(CallFailure::Final { refusal }) => {
            refund.state = RefundState::Failed {
                refusal: refusal.clone(),
            };
            refund.next_action_ms = None;
            let detail = format!("refund {out_refund_no} refused for good: {refusal}");
            step.alert(AlertKind::RefundRefused, detail);
        }
    }
    step.changed = true;
    Ok(())
}

pub(crate) fn on_refund_status(
    step: &mut Step,
    out_refund_no: &OutRefundNo,
    report: &RefundStatusReport,
) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let refund = step.refund_mut(out_refund_no)?;
    if refund.state.is_final() {
        // Repeated notifications and late query answers change nothing.
        return Ok(());
    }
    let queries = refund.queries;
    let mut alert = None;
    match report {
        RefundStatusReport::Processing { refund_id } => {
            refund.state = RefundState::Processing {
                refund_id: refund_id.clone(),
            };
            refund.next_action_ms = Some(now_ms + ladder(&REFUND_QUERY_LADDER_MS, queries));
        }
        RefundStatusReport::Succeeded { refund_id } => {
            refund.state = RefundState::Succeeded {
                refund_id: refund_id.clone(),
            };
            refund.next_action_ms = None;
        }
        RefundStatusReport::Closed => {
            refund.state = RefundState::Closed;
            refund.next_action_ms = None;
            alert = Some((AlertKind::RefundClosed, "closed by WeChat (REFUNDCLOSE)"));
        }
        RefundStatusReport::Abnormal => {
            refund.state = RefundState::Abnormal;
            refund.next_action_ms = None;
            alert = Some((
                AlertKind::RefundAbnormal,
                "abnormal (CHANGE): transfer the money offline",
            ));
        }
        // WeChat never received it: resending the same out_refund_no is safe.
        RefundStatusReport::NotFound
            if matches!(
                refund.state,
                RefundState::Sending | RefundState::OutcomeUnknown
            ) =>
        {
            return step.send_refund(out_refund_no);
        }
        RefundStatusReport::NotFound => {
            refund.next_action_ms = Some(now_ms + ladder(&REFUND_QUERY_LADDER_MS, queries));
        }
        RefundStatusReport::Failed(_) => {
            refund.next_action_ms = Some(now_ms + ladder(&BACKOFF_MS, queries));
        }
    }
    step.changed = true;
    if let Some((kind, what)) = alert {
        step.alert(kind, format!("refund {out_refund_no} {what}"));
    }
    Ok(())
}
