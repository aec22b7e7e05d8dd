//! Key layouts of the sled trees. Numbers sort as big-endian bytes; order numbers are fixed
//! width (29 digits), so a prefix scan of an index lists its orders in number order.

use crate::model::OrderRecord;
use crate::store::{IndexKind, OrderFilter};

pub(crate) fn index_prefix(kind: IndexKind) -> &'static [u8] {
    match kind {
        IndexKind::OutTradeNo => b"t:",
        IndexKind::OutRefundNo => b"r:",
        IndexKind::TransactionId => b"x:",
    }
}

pub(crate) fn lookup_key(kind: IndexKind, value: &str) -> Vec<u8> {
    let mut key = index_prefix(kind).to_vec();
    key.extend_from_slice(value.as_bytes());
    key
}

/// The prefix of a filter's index entries; the order number follows it.
pub(crate) fn filter_prefix(filter: &OrderFilter) -> Vec<u8> {
    let mut key = Vec::with_capacity(48);
    match filter {
        OrderFilter::UnionId(unionid) => {
            key.extend_from_slice(b"u:");
            key.extend_from_slice(unionid.as_str().as_bytes());
            key.push(0);
        }
        OrderFilter::OpenId(openid) => {
            key.extend_from_slice(b"o:");
            key.extend_from_slice(openid.as_str().as_bytes());
            key.push(0);
        }
        OrderFilter::State(state) => {
            key.extend_from_slice(b"s:");
            key.push(state.code());
        }
        OrderFilter::Day(day) => {
            key.extend_from_slice(b"d:");
            key.extend_from_slice(&day.to_be_bytes());
        }
    }
    key
}

fn with_order(mut prefix: Vec<u8>, record: &OrderRecord) -> Vec<u8> {
    prefix.extend_from_slice(record.order_no.as_str().as_bytes());
    prefix
}

/// The Beijing calendar day (`yyyymmdd`) of a Unix millisecond.
pub(crate) fn beijing_day(at_ms: i64) -> u32 {
    let text = cashier_adapters::wechat::time::format_compact(at_ms.div_euclid(1000));
    text.get(0..8).and_then(|day| day.parse().ok()).unwrap_or(0)
}

/// Every index key of a record: lookups (value: order number) and filters (empty value).
pub(crate) fn index_keys(record: &OrderRecord) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(record.attempts.len() * 3 + record.refunds.len() + 3);
    for attempt in &record.attempts {
        keys.push(lookup_key(
            IndexKind::OutTradeNo,
            attempt.out_trade_no.as_str(),
        ));
        if let crate::model::AttemptState::Paid { transaction_id, .. } = &attempt.state {
            keys.push(lookup_key(
                IndexKind::TransactionId,
                transaction_id.as_str(),
            ));
        }
    }
    for refund in &record.refunds {
        keys.push(lookup_key(
            IndexKind::OutRefundNo,
            refund.out_refund_no.as_str(),
        ));
    }
    // 医保 attempts and refunds share the number indexes (their numbers never collide: one
    // generator issues both).
    for attempt in &record.medical {
        keys.push(lookup_key(
            IndexKind::OutTradeNo,
            attempt.out_trade_no.as_str(),
        ));
        for refund in &attempt.refunds {
            keys.push(lookup_key(
                IndexKind::OutRefundNo,
                refund.out_refund_no.as_str(),
            ));
        }
    }
    for openid in record.payer_openids() {
        keys.push(with_order(
            filter_prefix(&OrderFilter::OpenId(openid.clone())),
            record,
        ));
    }
    if let Some(unionid) = &record.payer_unionid {
        keys.push(with_order(
            filter_prefix(&OrderFilter::UnionId(unionid.clone())),
            record,
        ));
    }
    keys.push(with_order(
        filter_prefix(&OrderFilter::State(record.state)),
        record,
    ));
    keys.push(with_order(
        filter_prefix(&OrderFilter::Day(beijing_day(record.created_ms))),
        record,
    ));
    keys.sort();
    keys.dedup();
    keys
}

pub(crate) fn deadline_key(at_ms: i64, order_no: &str) -> Vec<u8> {
    // Deadlines are after 1970; the big-endian bytes of a non-negative i64 sort numerically.
    let mut key = at_ms.max(0).to_be_bytes().to_vec();
    key.extend_from_slice(order_no.as_bytes());
    key
}

pub(crate) fn event_key(order_no: &str, revision: u64) -> Vec<u8> {
    let mut key = order_no.as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

pub(crate) fn slot_key(slot: u8) -> Vec<u8> {
    let mut key = b"number_slot/".to_vec();
    key.push(slot);
    key
}
