//! Notifications WeChat sends: building the payment and refund notification bodies (§4, §5),
//! the outbox of pending deliveries on the virtual clock, WeChat's 15-step retry ladder, and the
//! delivery log tests read.

use std::collections::BTreeMap;

use cashier_adapters::notify::refund::encrypt_req_info;
use cashier_adapters::wechat::time;
use cashier_adapters::{xml, ApiKey, Fields, SignType};
use serde::Serialize;

use crate::ledger::{OrderKey, SimOrder, SimRefund};

/// The waits between delivery attempts when the merchant does not acknowledge:
/// 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h (24h4m in all, §4).
pub const RETRY_INTERVALS_S: [i64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10_800, 10_800, 10_800, 21_600, 21_600,
];

/// How long WeChat waits for an acknowledgement.
pub const ACK_DEADLINE_MS: u64 = 5_000;

/// Which kind of notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// 支付结果通知.
    Payment,
    /// 退款结果通知.
    Refund,
    /// 医保支付结果通知 (payinsurance 1.0).
    Medical,
}

/// What a delivered copy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The real notification, retried until acknowledged.
    Genuine,
    /// An identical extra copy (duplicate or concurrent delivery).
    Copy,
    /// An extra copy with a corrupted sign.
    Tampered,
    /// An extra copy with another amount, validly signed.
    Forged,
}

/// One notification: created once, delivered until acknowledged or the ladder ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Sequence number.
    pub id: u64,
    /// Payment or refund.
    pub kind: NotificationKind,
    /// The order.
    pub order: OrderKey,
    /// The refund, for refund notifications.
    pub out_refund_no: Option<String>,
    /// Where it goes.
    pub url: String,
    /// The body of the genuine notification.
    pub body: String,
    /// True once the merchant acknowledged a genuine delivery.
    pub acknowledged: bool,
    /// Genuine attempts made.
    pub attempts: u32,
}

/// A scheduled delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The notification.
    pub notification_id: u64,
    /// What is delivered.
    pub variant: Variant,
    /// The body (the genuine one, or an altered copy).
    pub body: String,
    /// 0 for the first genuine attempt, then 1..=15.
    pub attempt: u32,
    /// True when this genuine attempt is lost on the way (a `drop` fault).
    pub dropped: bool,
    /// Deliveries sharing a group are made at the same time.
    pub concurrent_group: Option<u64>,
}

/// One line of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    /// The notification.
    pub notification_id: u64,
    /// Payment or refund.
    pub kind: NotificationKind,
    /// The order's `out_trade_no`.
    pub out_trade_no: String,
    /// The refund's `out_refund_no`.
    pub out_refund_no: Option<String>,
    /// What was delivered.
    pub variant: Variant,
    /// The genuine attempt number (0 = first delivery).
    pub attempt: u32,
    /// Virtual time of the delivery.
    pub at_ms: i64,
    /// The merchant's HTTP status, when it answered.
    pub status: Option<u16>,
    /// WeChat's verdict: HTTP 200 with `return_code` SUCCESS within 5 s.
    pub acknowledged: bool,
    /// Why there was no answer (connection refused, timeout, dropped in transit).
    pub error: Option<String>,
}

/// Pending deliveries by due time, and the log of those made.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    /// All notifications ever created, by id.
    pub notifications: BTreeMap<u64, Notification>,
    /// Pending deliveries keyed by (due time, sequence).
    pub pending: BTreeMap<(i64, u64), Delivery>,
    /// Deliveries made.
    pub log: Vec<DeliveryRecord>,
    sequence: u64,
}

impl Outbox {
    /// A fresh sequence number.
    pub fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Schedules a delivery.
    pub fn schedule(&mut self, due_ms: i64, delivery: Delivery) {
        let sequence = self.next_sequence();
        self.pending.insert((due_ms, sequence), delivery);
    }

    /// The earliest due time, if any.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.pending.keys().next().map(|(due, _)| *due)
    }

    /// Removes and returns every delivery due at or before `now_ms`, in order.
    pub fn take_due(&mut self, now_ms: i64) -> Vec<(i64, Delivery)> {
        let later = self.pending.split_off(&(now_ms + 1, 0));
        let due = std::mem::replace(&mut self.pending, later);
        due.into_iter()
            .map(|((due_ms, _), delivery)| (due_ms, delivery))
            .collect()
    }
}

fn signed_xml(
    mut fields: Fields,
    sign_type: SignType,
    key: &ApiKey,
    include_sign_type: bool,
) -> String {
    if include_sign_type {
        fields.insert("sign_type", sign_type.as_str());
    }
    fields.sign_in_place(sign_type, key);
    xml::write(&fields).unwrap_or_default()
}

/// The merchant identity both notifications carry, in WeChat's field order: the order's
/// appid and mch_id, sub_mch_id and sub_appid in service-provider mode, then the nonce.
fn insert_identity(fields: &mut Fields, order: &SimOrder, nonce: &str) {
    fields.insert("appid", &order.appid);
    fields.insert("mch_id", &order.key.scope.mch_id);
    if !order.key.scope.sub_mch_id.is_empty() {
        fields.insert("sub_mch_id", &order.key.scope.sub_mch_id);
    }
    fields.insert_optional("sub_appid", order.sub_appid.as_deref());
    fields.insert("nonce_str", nonce);
}

/// The payment notification fields of a paid order (§4), unsigned.
pub fn payment_fields(order: &SimOrder, nonce: &str, is_subscribe: bool) -> Fields {
    let mut fields = Fields::with_capacity(32);
    fields.insert("return_code", "SUCCESS");
    fields.insert("return_msg", "OK");
    insert_identity(&mut fields, order, nonce);
    fields.insert("result_code", "SUCCESS");
    fields.insert_optional("openid", order.openid.as_deref());
    fields.insert("is_subscribe", if is_subscribe { "Y" } else { "N" });
    if let Some(sub_openid) = &order.sub_openid {
        fields.insert("sub_openid", sub_openid);
        fields.insert("sub_is_subscribe", "N");
    }
    fields.insert("trade_type", &order.trade_type);
    fields.insert("bank_type", order.bank_type.as_deref().unwrap_or("OTHERS"));
    fields.insert("total_fee", order.total_fee.to_string());
    if let Some(settlement) = order.settlement_total_fee() {
        fields.insert("settlement_total_fee", settlement.to_string());
    }
    fields.insert("fee_type", "CNY");
    fields.insert("cash_fee", order.cash_fee().to_string());
    fields.insert("cash_fee_type", "CNY");
    if !order.coupons.is_empty() {
        let coupon_total: u64 = order.coupons.iter().map(|coupon| coupon.coupon_fee).sum();
        fields.insert("coupon_fee", coupon_total.to_string());
        fields.insert("coupon_count", order.coupons.len().to_string());
        for (index, coupon) in order.coupons.iter().enumerate() {
            fields.insert(format!("coupon_type_{index}"), &coupon.coupon_type);
            fields.insert(format!("coupon_id_{index}"), &coupon.coupon_id);
            fields.insert(format!("coupon_fee_{index}"), coupon.coupon_fee.to_string());
        }
    }
    fields.insert_optional("transaction_id", order.transaction_id.as_deref());
    fields.insert("out_trade_no", &order.key.out_trade_no);
    fields.insert_optional("attach", order.attach.as_deref());
    fields.insert(
        "time_end",
        time::format_compact(order.paid_ms.unwrap_or(order.created_ms) / 1000),
    );
    fields
}

/// The signed payment notification body. `sign_type` is left out unless `include_sign_type`,
/// as WeChat does for HMAC orders (§4, pitfall §10.4).
pub fn payment_body(
    order: &SimOrder,
    nonce: &str,
    key: &ApiKey,
    include_sign_type: bool,
) -> String {
    let sign_type = SignType::parse(&order.sign_type).unwrap_or(SignType::Md5);
    signed_xml(
        payment_fields(order, nonce, true),
        sign_type,
        key,
        include_sign_type,
    )
}

/// A copy of a payment notification with its sign corrupted.
pub fn tampered(body: &str) -> String {
    match xml::read(body.as_bytes()) {
        Ok(mut fields) => {
            let sign = fields.get("sign").unwrap_or("").to_owned();
            let corrupted: String = sign
                .chars()
                .enumerate()
                .map(|(index, character)| {
                    if index == 0 {
                        if character == 'A' {
                            'B'
                        } else {
                            'A'
                        }
                    } else {
                        character
                    }
                })
                .collect();
            fields.insert("sign", corrupted);
            xml::write(&fields).unwrap_or_default()
        }
        Err(_) => body.to_owned(),
    }
}

/// A forged payment notification: another amount (1 fen), validly signed.
pub fn forged(order: &SimOrder, nonce: &str, key: &ApiKey) -> String {
    let mut forged_order = order.clone();
    forged_order.total_fee = if order.total_fee == 1 { 2 } else { 1 };
    forged_order.coupons.clear();
    payment_body(&forged_order, nonce, key, false)
}

/// The refund notification (§5): unsigned outer XML with the result encrypted in `req_info`.
pub fn refund_body(order: &SimOrder, refund: &SimRefund, nonce: &str, key: &ApiKey) -> String {
    let mut inner = Fields::with_capacity(16);
    inner.insert_optional("transaction_id", order.transaction_id.as_deref());
    inner.insert("out_trade_no", &order.key.out_trade_no);
    inner.insert("refund_id", &refund.refund_id);
    inner.insert("out_refund_no", &refund.key.out_refund_no);
    inner.insert("total_fee", order.total_fee.to_string());
    if let Some(settlement) = order.settlement_total_fee() {
        inner.insert("settlement_total_fee", settlement.to_string());
    }
    inner.insert("refund_fee", refund.refund_fee.to_string());
    inner.insert("settlement_refund_fee", refund.refund_fee.to_string());
    inner.insert("refund_status", &refund.refund_status);
    if let Some(success_ms) = refund.success_ms {
        inner.insert("success_time", time::format_dashed(success_ms / 1000));
    }
    inner.insert("refund_recv_accout", &refund.refund_recv_accout);
    inner.insert("refund_account", &refund.refund_account);
    inner.insert("refund_request_source", "API");
    let plaintext = xml::write_with_root("root", inner.iter()).unwrap_or_default();
    let mut outer = Fields::with_capacity(8);
    outer.insert("return_code", "SUCCESS");
    insert_identity(&mut outer, order, nonce);
    outer.insert("req_info", encrypt_req_info(plaintext.as_bytes(), key));
    xml::write(&outer).unwrap_or_default()
}
