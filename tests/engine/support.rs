//! Test helpers over `cashier::simulation::SimulatedWorld`.

#![allow(dead_code)]

use std::ops::Deref;
use std::sync::Arc;

use cashier::simulation::SimulatedWorld;
use cashier_adapters::{AmountFen, OpenId, OutTradeNo};
use cashier_engine::machine::Outcome;
use cashier_engine::model::{Description, RefundReason, RequestKey};
use cashier_engine::order_number::{OrderNumber, ProductType};
use cashier_engine::store::SledStore;
use cashier_engine::{EngineError, NewOrder, PaymentRequest, Receipt, RefundRequest};
use cashier_harness::FaultPlan;

pub const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const PAYER_OFFICIAL: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
pub const PAYER_MINI: &str = "oMiniPayer0000000000000001";
pub const PAYER_SUB_MINI: &str = "oUpF8uN95-Ptaags6E_roPHg7AG0";
pub const UNIONID: &str = "o6_bmasdasdsad6_2sgVt7hMZOPfL";

pub struct World(pub SimulatedWorld);

impl Deref for World {
    type Target = SimulatedWorld;
    fn deref(&self) -> &SimulatedWorld {
        &self.0
    }
}

impl World {
    pub fn start(seed: u64) -> World {
        World(
            SimulatedWorld::start(
                seed,
                Arc::new(SledStore::temporary().unwrap()),
                FaultPlan::none(),
                2,
            )
            .unwrap(),
        )
    }

    /// Moves virtual time in 5-second steps, notifications into the engine, deadlines run.
    pub async fn advance(&self, seconds: i64) {
        self.0.advance(seconds, 5).await.unwrap();
    }

    pub fn pay(&self, out_trade_no: &OutTradeNo) {
        self.0.payer(out_trade_no, "success").unwrap();
    }
}

/// A new order of `amount_fen` (product 7).
pub fn order(amount_fen: u64) -> NewOrder {
    NewOrder {
        order_no: None,
        product_type: ProductType(7),
        amount: AmountFen::from_fen(amount_fen),
        description: Description::new("仁心医院-门诊缴费").unwrap(),
        payer_unionid: None,
    }
}

/// A payer on an entry.
pub fn payer(entry: &str, openid: Option<&str>) -> PaymentRequest {
    PaymentRequest {
        entry: entry.into(),
        openid: openid.map(|openid| OpenId::new(openid).unwrap()),
        client_ip: "123.12.12.123".parse().unwrap(),
    }
}

/// A refund request under `key`.
pub fn refund_request(key: &str, amount_fen: u64, reason: &str) -> RefundRequest {
    RefundRequest {
        key: RequestKey::new(key).unwrap(),
        amount: AmountFen::from_fen(amount_fen),
        reason: RefundReason::new(reason).unwrap(),
    }
}

/// Asks for a refund under a key made from the order and amount; returns its number.
pub async fn refund(
    world: &SimulatedWorld,
    order_no: &OrderNumber,
    amount_fen: u64,
    reason: &str,
) -> Result<cashier_adapters::OutRefundNo, EngineError> {
    let key = format!("k-{order_no}-{amount_fen}");
    let receipt: Receipt = world
        .engine
        .refund(order_no, refund_request(&key, amount_fen, reason))
        .await?;
    match receipt.outcome {
        Outcome::RefundRequested(number) | Outcome::RefundAlreadyRequested(number) => Ok(number),
        other => panic!("unexpected {other:?}"),
    }
}

/// The payer opens the official account page, then switches to the mini program: two attempts
/// of one order, both prepared.
pub async fn two_attempts(
    world: &SimulatedWorld,
    order_no: &OrderNumber,
) -> (cashier_engine::PaymentStart, cashier_engine::PaymentStart) {
    let first = world
        .engine
        .start_payment(order_no, payer("official_account", Some(PAYER_OFFICIAL)))
        .await
        .unwrap();
    let second = world
        .engine
        .start_payment(order_no, payer("mini_program", Some(PAYER_MINI)))
        .await
        .unwrap();
    (first, second)
}
