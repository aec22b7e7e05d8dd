//! Refunds of a paid 医保 attempt, by leg: the cash part through WeChat's payinsurance refund
//! and every part through NHSA 6203 (`refdType` ALL for the whole payment at once, CASH for the
//! cash part, HI for the insurance parts; CASH and HI together for what is left after a partial
//! cash refund). Every leg is idempotent by its number, so a lost answer, a crash or WeChat's
//! transient 556 is a resend of the same leg.
//!
//! What a host may ask (1.0 allowed partial refunds of the cash part only, yibao-pay.md §4.3):
//! any amount up to the cash still refundable (cash only), or exactly everything still
//! refundable. The insurance parts go back whole; an amount in between is refused with the two
//! amounts that are possible.

use cashier_adapters::medical::nhsa::refund::RefundKind;
use cashier_adapters::medical::nhsa::Split;
use cashier_adapters::{AmountFen, OutRefundNo, OutTradeNo};

use crate::machine::ladders::*;
use crate::machine::step::Step;
use crate::machine::{Outcome, Rejection};
use crate::model::*;

fn fen(amount: u64) -> AmountFen {
    AmountFen::from_fen(amount)
}

/// What a paid split still has to give back, by part.
pub(crate) fn refundable(attempt: &MedicalAttempt) -> Option<Split> {
    let paid = attempt.paid_split()?;
    let committed = attempt.refund_committed();
    let left =
        |paid: AmountFen, committed: AmountFen| fen(paid.fen().saturating_sub(committed.fen()));
    Some(Split {
        total: left(paid.total, committed.total),
        fund: left(paid.fund, committed.fund),
        account: left(paid.account, committed.account),
        cash: left(paid.cash, committed.cash),
    })
}

/// What a refund returns and its NHSA 6203 calls.
pub type RefundPlan = (Split, Vec<(RefundKind, Split)>);

/// The split and 6203 calls of a host refund of `amount` from what is `left` of `paid` (the
/// shape rule in this file's header).
pub fn refund_shape(
    paid: &Split,
    left: &Split,
    amount: AmountFen,
) -> Result<RefundPlan, Rejection> {
    let refused = || Rejection::MedicalRefundShape {
        cash_left_fen: left.cash.fen(),
        total_left_fen: left.total.fen(),
    };
    if amount.fen() > left.total.fen() {
        return Err(Rejection::RefundExceedsPaid {
            available_fen: left.total.fen(),
            requested_fen: amount.fen(),
        });
    }
    let cash_only = |cash: AmountFen| Split {
        total: cash,
        fund: fen(0),
        account: fen(0),
        cash,
    };
    let insurance_only = Split {
        total: left.insurance(),
        fund: left.fund,
        account: left.account,
        cash: fen(0),
    };
    if amount == left.total {
        let calls = if left == paid {
            vec![(RefundKind::All, *left)]
        } else if left.insurance().is_zero() {
            vec![(RefundKind::Cash, cash_only(left.cash))]
        } else if left.cash.is_zero() {
            vec![(RefundKind::Insurance, insurance_only)]
        } else {
            vec![
                (RefundKind::Cash, cash_only(left.cash)),
                (RefundKind::Insurance, insurance_only),
            ]
        };
        return Ok((*left, calls));
    }
    if amount.fen() <= left.cash.fen() {
        return Ok((
            cash_only(amount),
            vec![(RefundKind::Cash, cash_only(amount))],
        ));
    }
    Err(refused())
}

/// The host asked for a refund of an order paid through 医保.
pub(crate) fn on_refund_requested(
    step: &mut Step,
    key: &RequestKey,
    out_refund_no: &OutRefundNo,
    amount: AmountFen,
    reason: &RefundReason,
) -> Result<(), Rejection> {
    let attempt = step
        .record
        .paid_medical()
        .find(|attempt| {
            !attempt
                .refunds
                .iter()
                .any(|refund| !matches!(refund.cause, RefundCause::Requested { .. }))
        })
        .cloned()
        .ok_or(Rejection::NotPaid)?;
    let (Some(paid), Some(left)) = (attempt.paid_split(), refundable(&attempt)) else {
        return Err(Rejection::NotPaid);
    };
    let (split, calls) = refund_shape(paid, &left, amount)?;
    let cause = RefundCause::Requested {
        key: key.clone(),
        reason: reason.clone(),
    };
    add_medical_refund(
        step,
        &attempt.out_trade_no,
        out_refund_no.clone(),
        split,
        calls,
        cause,
    )?;
    step.outcome = Outcome::RefundRequested(out_refund_no.clone());
    Ok(())
}

/// Adds a refund of a paid medical attempt and sends its legs.
pub(crate) fn add_medical_refund(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    out_refund_no: OutRefundNo,
    split: Split,
    nhsa_calls: Vec<(RefundKind, Split)>,
    cause: RefundCause,
) -> Result<(), Rejection> {
    let known = step.record.refund(&out_refund_no).is_some()
        || step
            .record
            .medical_refunds()
            .any(|(_, refund)| refund.out_refund_no == out_refund_no);
    if known {
        return Err(Rejection::DuplicateNumber(out_refund_no.to_string()));
    }
    let now_ms = step.now_ms;
    let attempt = step.medical_mut(out_trade_no)?;
    attempt.refunds.push(MedicalRefund {
        out_refund_no: out_refund_no.clone(),
        cause,
        cash_leg: (!split.cash.is_zero()).then_some(LegState::Sending),
        nhsa_legs: nhsa_calls
            .into_iter()
            .map(|(kind, split)| NhsaRefundLeg {
                kind,
                split,
                state: LegState::Sending,
            })
            .collect(),
        split,
        created_ms: now_ms,
        sends: 0,
        next_action_ms: None,
    });
    send_pending_legs(step, &out_refund_no)
}

fn refund_mut<'s>(
    step: &'s mut Step,
    out_refund_no: &OutRefundNo,
) -> Result<&'s mut MedicalRefund, Rejection> {
    step.record
        .medical
        .iter_mut()
        .flat_map(|attempt| attempt.refunds.iter_mut())
        .find(|refund| &refund.out_refund_no == out_refund_no)
        .ok_or_else(|| Rejection::UnknownRefund(out_refund_no.clone()))
}

/// Sends every leg still sending, with a watchdog.
fn send_pending_legs(step: &mut Step, out_refund_no: &OutRefundNo) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let refund = refund_mut(step, out_refund_no)?;
    let mut legs = Vec::new();
    if matches!(refund.cash_leg, Some(LegState::Sending)) {
        legs.push(RefundLeg::WechatCash);
    }
    for (index, leg) in refund.nhsa_legs.iter().enumerate() {
        if matches!(leg.state, LegState::Sending) {
            legs.push(RefundLeg::Nhsa(u8::try_from(index).unwrap_or(u8::MAX)));
        }
    }
    refund.sends += 1;
    refund.next_action_ms = (!legs.is_empty()).then_some(now_ms + WATCHDOG_MS);
    for leg in legs {
        step.effects.push(Effect::MedicalRefund {
            out_refund_no: out_refund_no.clone(),
            leg,
        });
    }
    step.changed = true;
    Ok(())
}

pub(crate) fn on_leg_result(
    step: &mut Step,
    out_refund_no: &OutRefundNo,
    leg: RefundLeg,
    outcome: &Result<Option<MedicalId>, CallFailure>,
) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let refund = refund_mut(step, out_refund_no)?;
    let state = match leg {
        RefundLeg::WechatCash => refund.cash_leg.as_mut(),
        RefundLeg::Nhsa(index) => refund
            .nhsa_legs
            .get_mut(usize::from(index))
            .map(|leg| &mut leg.state),
    };
    let Some(state) = state.filter(|state| !state.is_final()) else {
        return Ok(());
    };
    let sends = refund.sends;
    match outcome {
        Ok(refund_id) => {
            *state = LegState::Done {
                refund_id: refund_id.clone(),
            };
            if refund.is_final() {
                refund.next_action_ms = None;
            }
        }
        Err(CallFailure::Final { refusal }) => {
            *state = LegState::Failed {
                refusal: refusal.clone(),
            };
            if refund.is_final() {
                refund.next_action_ms = None;
            }
            let detail = format!("医保 refund {out_refund_no}, {leg:?} leg refused: {refusal}");
            step.alert(AlertKind::RefundRefused, detail);
        }
        // 556 and other transient refusals, lost answers: the same leg again, later.
        Err(CallFailure::Retry { after_ms, .. }) => {
            let delay = (*after_ms).max(ladder(&BACKOFF_MS, sends));
            refund.next_action_ms = Some(now_ms + delay);
        }
        Err(CallFailure::Unknown) => {
            refund.next_action_ms = Some(now_ms + ladder(&BACKOFF_MS, sends));
        }
    }
    step.changed = true;
    Ok(())
}

/// Resends the legs of every unfinished medical refund that is due.
pub(crate) fn on_deadline(step: &mut Step) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let due: Vec<OutRefundNo> = step
        .record
        .medical_refunds()
        .filter(|(_, refund)| {
            !refund.is_final() && refund.next_action_ms.is_some_and(|at| at <= now_ms)
        })
        .map(|(_, refund)| refund.out_refund_no.clone())
        .collect();
    due.iter()
        .try_for_each(|out_refund_no| send_pending_legs(step, out_refund_no))
}
