//! The invariants every record must keep, checked by property tests, the demo and the crash
//! test: refunds never exceed payments per attempt; every payment beyond the first (or after a
//! close) is being refunded; anything pending has a deadline; a paid order has a payment; no
//! two host refunds share an idempotency key; every 医保 split adds up (fund + account + cash =
//! total) and no part of a 医保 payment is refunded beyond what it paid.

use crate::model::*;

fn check_refunds_within_payments(record: &OrderRecord) -> Result<(), String> {
    for attempt in record.paid_attempts() {
        let committed = record.refund_committed_fen(&attempt.out_trade_no);
        if committed > attempt.request.total.fen() {
            return Err(format!(
                "attempt {} refunds {committed} fen of {}",
                attempt.out_trade_no, attempt.request.total
            ));
        }
    }
    Ok(())
}

fn check_medical_splits(record: &OrderRecord) -> Result<(), String> {
    for attempt in &record.medical {
        let Some(nhsa) = attempt.state.pre_settlement() else {
            continue;
        };
        if !crate::machine::medical::split_adds_up(&nhsa.split) {
            return Err(format!(
                "医保 attempt {} split does not add up",
                attempt.out_trade_no
            ));
        }
        let Some(paid) = attempt.paid_split() else {
            continue;
        };
        let committed = attempt.refund_committed();
        let over = committed.fund > paid.fund
            || committed.account > paid.account
            || committed.cash > paid.cash
            || committed.total > paid.total;
        if over {
            return Err(format!(
                "医保 attempt {} refunds {:?} of {:?}",
                attempt.out_trade_no, committed, paid
            ));
        }
        let refunds_add_up = attempt
            .refunds
            .iter()
            .all(|refund| crate::machine::medical::split_adds_up(&refund.split));
        if !refunds_add_up {
            return Err(format!(
                "医保 attempt {} has a refund whose parts do not add up",
                attempt.out_trade_no
            ));
        }
    }
    Ok(())
}

fn medical_kept(record: &OrderRecord) -> usize {
    record
        .paid_medical()
        .filter(|attempt| {
            attempt
                .refunds
                .iter()
                .all(|refund| matches!(refund.cause, RefundCause::Requested { .. }))
        })
        .count()
}

fn check_one_payment_kept(record: &OrderRecord) -> Result<(), String> {
    let kept = record
        .paid_attempts()
        .filter(|attempt| !record.is_automatically_refunded(&attempt.out_trade_no))
        .count()
        + medical_kept(record);
    let allowed = usize::from(record.state != OrderState::Closed);
    if kept > allowed {
        return Err(format!("order {} keeps {kept} payments", record.order_no));
    }
    if record.state.is_paid()
        && record.paid_attempts().next().is_none()
        && record.paid_medical().next().is_none()
    {
        return Err(format!(
            "order {} is {:?} without a paid attempt",
            record.order_no, record.state
        ));
    }
    Ok(())
}

fn check_pending_has_deadline(record: &OrderRecord) -> Result<(), String> {
    let pending = record
        .attempts
        .iter()
        .any(|attempt| attempt.state.is_live())
        || record.refunds.iter().any(|refund| !refund.state.is_final())
        || record.has_live_attempt()
        || record
            .medical_refunds()
            .any(|(_, refund)| !refund.is_final())
        || matches!(record.state, OrderState::Created | OrderState::Paying);
    if pending && record.deadline_ms.is_none() {
        return Err(format!(
            "order {} has pending work and no deadline",
            record.order_no
        ));
    }
    Ok(())
}

fn check_request_keys_unique(record: &OrderRecord) -> Result<(), String> {
    let mut keys: Vec<&RequestKey> = record
        .refunds
        .iter()
        .filter_map(RefundRecord::request_key)
        .chain(
            record
                .medical_refunds()
                .filter_map(|(_, refund)| match &refund.cause {
                    RefundCause::Requested { key, .. } => Some(key),
                    _ => None,
                }),
        )
        .collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    if keys.len() != total {
        return Err(format!(
            "order {} has two refunds under one request key",
            record.order_no
        ));
    }
    Ok(())
}

/// Checks every invariant; the first violation is named.
pub fn check_invariants(record: &OrderRecord) -> Result<(), String> {
    check_refunds_within_payments(record)?;
    check_medical_splits(record)?;
    check_one_payment_kept(record)?;
    check_pending_has_deadline(record)?;
    check_request_keys_unique(record)
}
