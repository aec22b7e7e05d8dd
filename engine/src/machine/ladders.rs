//! Timing as data: the query ladders, backoff, the watchdog after every send, and the order's
//! next deadline (the minimum of every pending action), recomputed after each transition.

use crate::model::{OrderRecord, OrderState};

/// WeChat refuses closeorder within 5 minutes of creation (§2.4).
pub const CLOSE_MIN_AGE_MS: i64 = 5 * 60_000;

/// Queries of a prepared attempt, the fallback for lost notifications: 15 s, 30 s, 1, 2, 5, 10
/// minutes, then every 30 minutes until it expires.
pub const QUERY_LADDER_MS: [i64; 7] =
    [15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000];

/// Queries of a processing refund: 10 s, 30 s, 1, 5, 30 minutes, then hourly.
pub const REFUND_QUERY_LADDER_MS: [i64; 6] =
    [10_000, 30_000, 60_000, 300_000, 1_800_000, 3_600_000];

/// Backoff after failures (unknown outcomes, WeChat errors).
pub const BACKOFF_MS: [i64; 9] = [
    1_000, 2_000, 5_000, 15_000, 30_000, 60_000, 300_000, 900_000, 1_800_000,
];

/// Immediate retries of an identical request before falling back to backoff.
pub const IMMEDIATE_RETRIES: u32 = 2;

/// How long after sending a request its watchdog fires if no outcome was recorded (a crash
/// between persisting and recording the answer, or an effect lost with its actor).
pub const WATCHDOG_MS: i64 = 30_000;

/// Attempts are never made to expire sooner than this after their start: WeChat wants more
/// than 5 minutes between `time_start` and `time_expire` (§2.2, old text).
pub const MIN_ATTEMPT_LIFETIME_S: i64 = 360;

/// The step of a ladder (the last step repeats).
pub fn ladder(steps: &[i64], index: u32) -> i64 {
    steps
        .get(index as usize)
        .or(steps.last())
        .copied()
        .unwrap_or(60_000)
}

/// The next deadline: the earliest pending action of any live attempt or unfinished refund, or
/// the order's expiry while it is unpaid with nothing live.
pub fn next_deadline(record: &OrderRecord) -> Option<i64> {
    let attempts = record
        .attempts
        .iter()
        .filter(|attempt| attempt.state.is_live())
        .filter_map(|attempt| attempt.next_action_ms);
    let refunds = record
        .refunds
        .iter()
        .filter(|refund| !refund.state.is_final())
        .filter_map(|refund| refund.next_action_ms);
    let medical = record
        .medical
        .iter()
        .filter(|attempt| attempt.state.is_live())
        .filter_map(|attempt| attempt.next_action_ms);
    let medical_refunds = record
        .medical_refunds()
        .filter(|(_, refund)| !refund.is_final())
        .filter_map(|(_, refund)| refund.next_action_ms);
    let unpaid = matches!(record.state, OrderState::Created | OrderState::Paying);
    let expiry = (unpaid && !record.has_live_attempt()).then_some(record.expires_ms);
    attempts
        .chain(refunds)
        .chain(medical)
        .chain(medical_refunds)
        .chain(expiry)
        .min()
}
