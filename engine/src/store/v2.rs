//! Stored format 2, frozen: the order record before 医保 attempts (format 3 appended
//! `OrderRecord::medical`). Its parts are still the current types (they did not change); a
//! future change to one of them freezes it here too. Format 2's audit lines and feed entries
//! decode as the current types unchanged: format 3 only appended `Event` and `Effect` variants,
//! and bincode encodes a variant by its position.

use cashier_adapters::AmountFen;
use serde::Deserialize;

use crate::model as current;
use crate::order_number::{OrderNumber, ProductType};

/// The format-2 order record.
#[derive(Deserialize)]
pub(crate) struct OrderRecord {
    order_no: OrderNumber,
    product_type: ProductType,
    payer_unionid: Option<current::UnionId>,
    amount: AmountFen,
    description: current::Description,
    state: current::OrderState,
    created_ms: i64,
    expires_ms: i64,
    close_requested: bool,
    attempts: Vec<current::PaymentAttempt>,
    refunds: Vec<current::RefundRecord>,
    alerts: Vec<current::Alert>,
    deadline_ms: Option<i64>,
    revision: u64,
}

/// Migrates one format-2 order record: no 医保 attempts.
pub(crate) fn migrate_record(old: OrderRecord) -> current::OrderRecord {
    current::OrderRecord {
        order_no: old.order_no,
        product_type: old.product_type,
        payer_unionid: old.payer_unionid,
        amount: old.amount,
        description: old.description,
        state: old.state,
        created_ms: old.created_ms,
        expires_ms: old.expires_ms,
        close_requested: old.close_requested,
        attempts: old.attempts,
        refunds: old.refunds,
        alerts: old.alerts,
        deadline_ms: old.deadline_ms,
        revision: old.revision,
        medical: Vec::new(),
    }
}
