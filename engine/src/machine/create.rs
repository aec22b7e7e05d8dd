//! Creating a business order: the one transition without a previous record. Creating again
//! with the same content is the named outcome `AlreadyExists`; with other content it is refused.

use cashier_adapters::AmountFen;

use crate::machine::ladders::next_deadline;
use crate::machine::{Outcome, Rejection, Transition};
use crate::model::{Description, OrderRecord, OrderState, UnionId};
use crate::order_number::{OrderNumber, ProductType};

/// What the host asks to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSpec {
    /// The number.
    pub order_no: OrderNumber,
    /// The product type.
    pub product_type: ProductType,
    /// The amount (at least 1 fen, at most WeChat's 32-bit maximum).
    pub amount: AmountFen,
    /// What is bought.
    pub description: Description,
    /// The payer, when known.
    pub payer_unionid: Option<UnionId>,
    /// How long it stays payable.
    pub lifetime_ms: i64,
}

fn same_content(existing: &OrderRecord, spec: &OrderSpec) -> bool {
    existing.amount == spec.amount
        && existing.description == spec.description
        && existing.product_type == spec.product_type
        && existing.payer_unionid == spec.payer_unionid
}

/// Creates the order, or names why not. `existing` is what the store holds under the number.
pub fn create(
    existing: Option<&OrderRecord>,
    spec: &OrderSpec,
    now_ms: i64,
) -> Result<Transition, Rejection> {
    if let Some(existing) = existing {
        return if same_content(existing, spec) {
            Ok(Transition::unchanged(existing, Outcome::AlreadyExists))
        } else {
            Err(Rejection::ConflictingContent)
        };
    }
    if spec.amount.is_zero() || spec.amount.fen() > cashier_adapters::money::MAX_WIRE_FEN {
        return Err(Rejection::AmountOutOfRange);
    }
    let mut record = OrderRecord {
        order_no: spec.order_no.clone(),
        product_type: spec.product_type,
        payer_unionid: spec.payer_unionid.clone(),
        amount: spec.amount,
        description: spec.description.clone(),
        state: OrderState::Created,
        created_ms: now_ms,
        expires_ms: now_ms.saturating_add(spec.lifetime_ms),
        close_requested: false,
        attempts: Vec::new(),
        refunds: Vec::new(),
        alerts: Vec::new(),
        deadline_ms: None,
        revision: 1,
        medical: Vec::new(),
    };
    record.deadline_ms = next_deadline(&record);
    Ok(Transition {
        record,
        effects: Vec::new(),
        changed: true,
        outcome: Outcome::Created,
    })
}
