//! The simulator's books: orders and refunds, keyed the way WeChat keys them (merchant, mode
//! and sandbox are separate worlds: an SP order is invisible in direct mode, §7). Everything is
//! kept in ordered maps and serialises to the same bytes for the same history, so two runs with
//! one seed compare equal byte for byte.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where an order lives: sandbox or not, merchant, sub-merchant (empty in direct mode).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Scope {
    /// True for `/sandboxnew` calls.
    pub sandbox: bool,
    /// `mch_id`.
    pub mch_id: String,
    /// `sub_mch_id`, empty in direct mode.
    pub sub_mch_id: String,
}

/// An order's key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct OrderKey {
    /// The merchant world.
    pub scope: Scope,
    /// `out_trade_no`.
    pub out_trade_no: String,
}

/// A refund's key (`out_refund_no` is unique per merchant).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RefundKey {
    /// The merchant world.
    pub scope: Scope,
    /// `out_refund_no`.
    pub out_refund_no: String,
}

/// A coupon applied by the payer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SimCoupon {
    /// `coupon_id_$n`.
    pub coupon_id: String,
    /// `CASH` or `NO_CASH`.
    pub coupon_type: String,
    /// `coupon_fee_$n` in fen.
    pub coupon_fee: u64,
}

/// What the payer did, for the record (cancel and fail change nothing at WeChat).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PayerAction {
    /// Virtual time.
    pub at_ms: i64,
    /// `success`, `fail` or `cancel`.
    pub outcome: String,
}

/// A simulated order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimOrder {
    /// Its key.
    pub key: OrderKey,
    /// `appid`.
    pub appid: String,
    /// `sub_appid` (SP mode).
    pub sub_appid: Option<String>,
    /// `trade_type`.
    pub trade_type: String,
    /// `total_fee`.
    pub total_fee: u64,
    /// `body`.
    pub body: String,
    /// `attach`.
    pub attach: Option<String>,
    /// `notify_url`.
    pub notify_url: String,
    /// `openid`.
    pub openid: Option<String>,
    /// `sub_openid`.
    pub sub_openid: Option<String>,
    /// The sign type of the unifiedorder call: notifications are signed with it.
    pub sign_type: String,
    /// The business parameters of the first call, canonically joined: a re-entry must match.
    pub parameters: String,
    /// The current prepay_id.
    pub prepay_id: String,
    /// When the current prepay_id was issued.
    pub prepay_issued_ms: i64,
    /// `code_url` (NATIVE).
    pub code_url: Option<String>,
    /// `mweb_url` (MWEB).
    pub mweb_url: Option<String>,
    /// When the order was created.
    pub created_ms: i64,
    /// When the order closes if unpaid.
    pub expires_ms: i64,
    /// `trade_state`: NOTPAY, SUCCESS, REFUND, CLOSED.
    pub trade_state: String,
    /// `transaction_id` once paid.
    pub transaction_id: Option<String>,
    /// Payment time.
    pub paid_ms: Option<i64>,
    /// `bank_type`.
    pub bank_type: Option<String>,
    /// Coupons used.
    pub coupons: Vec<SimCoupon>,
    /// Closing time.
    pub closed_ms: Option<i64>,
    /// The payer's actions.
    pub payer_actions: Vec<PayerAction>,
    /// The order's refunds, by `out_refund_no`, in creation order.
    pub refunds: Vec<String>,
}

impl SimOrder {
    /// Cash paid: total minus coupons.
    pub fn cash_fee(&self) -> u64 {
        let coupons: u64 = self.coupons.iter().map(|coupon| coupon.coupon_fee).sum();
        self.total_fee.saturating_sub(coupons)
    }

    /// Total minus non-recharge (`NO_CASH`) coupons, when such coupons were used.
    pub fn settlement_total_fee(&self) -> Option<u64> {
        let no_cash: u64 = self
            .coupons
            .iter()
            .filter(|coupon| coupon.coupon_type == "NO_CASH")
            .map(|coupon| coupon.coupon_fee)
            .sum();
        (no_cash > 0).then(|| self.total_fee.saturating_sub(no_cash))
    }

    /// True when paid (SUCCESS or REFUND).
    pub fn is_paid(&self) -> bool {
        self.trade_state == "SUCCESS" || self.trade_state == "REFUND"
    }
}

/// A simulated refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimRefund {
    /// Its key.
    pub key: RefundKey,
    /// The order's `out_trade_no`.
    pub out_trade_no: String,
    /// `refund_id`.
    pub refund_id: String,
    /// `refund_fee`.
    pub refund_fee: u64,
    /// The parameters of the first call (total_fee, refund_fee): a retry must match.
    pub parameters: String,
    /// When it was accepted.
    pub created_ms: i64,
    /// PROCESSING, SUCCESS, REFUNDCLOSE or CHANGE.
    pub refund_status: String,
    /// When it leaves PROCESSING.
    pub finishes_ms: i64,
    /// The state it will reach.
    pub planned_status: String,
    /// When it succeeded.
    pub success_ms: Option<i64>,
    /// Where its notification goes, if anywhere.
    pub notify_url: Option<String>,
    /// `refund_account`.
    pub refund_account: String,
    /// `refund_recv_accout`.
    pub refund_recv_accout: String,
    /// The `appid` the refund request was made with.
    pub requested_appid: String,
}

/// Serialises a map as the list of its values in key order (JSON object keys must be strings,
/// and each value carries its key anyway).
fn values_in_order<K, V: Serialize, S: serde::Serializer>(
    map: &BTreeMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(map.values())
}

/// All orders and refunds, with lookup indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    /// Orders.
    #[serde(serialize_with = "values_in_order")]
    pub orders: BTreeMap<OrderKey, SimOrder>,
    /// Refunds.
    #[serde(serialize_with = "values_in_order")]
    pub refunds: BTreeMap<RefundKey, SimRefund>,
    /// `prepay_id` → order.
    #[serde(skip)]
    pub by_prepay_id: BTreeMap<String, OrderKey>,
    /// `transaction_id` → order.
    #[serde(skip)]
    pub by_transaction_id: BTreeMap<String, OrderKey>,
    /// `refund_id` → refund.
    #[serde(skip)]
    pub by_refund_id: BTreeMap<String, RefundKey>,
    /// `out_trade_no` → its orders (one per merchant world that used the number), so a
    /// lookup by number is O(log n), not a scan of every order.
    #[serde(skip)]
    pub by_out_trade_no: BTreeMap<String, Vec<OrderKey>>,
}

impl Ledger {
    /// The order for `out_trade_no` in a scope.
    pub fn order(&self, scope: &Scope, out_trade_no: &str) -> Option<&SimOrder> {
        self.orders.get(&OrderKey {
            scope: scope.clone(),
            out_trade_no: out_trade_no.to_owned(),
        })
    }

    /// The order with this `transaction_id` in a scope (another scope's id is not found).
    pub fn order_by_transaction_id(
        &self,
        scope: &Scope,
        transaction_id: &str,
    ) -> Option<&SimOrder> {
        let key = self.by_transaction_id.get(transaction_id)?;
        (key.scope == *scope)
            .then(|| self.orders.get(key))
            .flatten()
    }

    /// Finds every order with this `out_trade_no` in any scope (for the control API).
    pub fn orders_named(&self, out_trade_no: &str) -> Vec<&SimOrder> {
        self.by_out_trade_no
            .get(out_trade_no)
            .into_iter()
            .flatten()
            .filter_map(|key| self.orders.get(key))
            .collect()
    }

    /// Inserts or replaces an order, keeping the number index.
    pub fn insert_order(&mut self, order: SimOrder) {
        let keys = self
            .by_out_trade_no
            .entry(order.key.out_trade_no.clone())
            .or_default();
        if !keys.contains(&order.key) {
            keys.push(order.key.clone());
        }
        self.orders.insert(order.key.clone(), order);
    }

    /// An order's refunds in creation order.
    pub fn refunds_of(&self, order: &SimOrder) -> Vec<&SimRefund> {
        order
            .refunds
            .iter()
            .filter_map(|out_refund_no| {
                self.refunds.get(&RefundKey {
                    scope: order.key.scope.clone(),
                    out_refund_no: out_refund_no.clone(),
                })
            })
            .collect()
    }

    /// The sum of an order's refunds that are not closed (they hold or returned money).
    pub fn refunded_fen(&self, order: &SimOrder) -> u64 {
        self.refunds_of(order)
            .iter()
            .filter(|refund| refund.refund_status != "REFUNDCLOSE")
            .map(|refund| refund.refund_fee)
            .sum()
    }
}
