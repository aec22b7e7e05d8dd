//! Determinism (style-anchors L8, L9): the same seed and inputs reproduce the same ledger and
//! delivery log byte for byte, faults included; another seed gives another run.

use std::sync::Arc;

use cashier_adapters::endpoints::order_query::OrderQueryRequest;
use cashier_adapters::endpoints::refund::RefundRequest;
use cashier_adapters::{
    AmountFen, ApiBase, ChaChaNonceSource, OrderRef, OutRefundNo, OutTradeNo, SignType,
    WechatPayClient,
};
use cashier_harness::{FaultPlan, ScriptedSink, SimConfig, SimOptions, SimTransport, Simulator};

use crate::support::*;

async fn run(seed: u64) -> (String, String) {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(seed),
    ));
    simulator.set_fault_plan(FaultPlan::heavy()).unwrap();
    let client = WechatPayClient::new(
        SimTransport::new(simulator.clone()),
        ApiBase::production(),
        ChaChaNonceSource::seeded(seed),
    );
    let merchant = ScriptedSink::new(|number, _, _| {
        if number % 3 == 0 {
            Ok((200, cashier_adapters::notify::ack::ACK_SUCCESS.to_vec()))
        } else {
            Err("busy".into())
        }
    });
    for index in 0..40u64 {
        let number = format!("DETERMINISM{index:04}");
        let sign_type = if index % 2 == 0 {
            SignType::Md5
        } else {
            SignType::HmacSha256
        };
        let _ = client
            .call(&direct(sign_type), &jsapi(&number, 100 + index))
            .await;
        if index % 4 != 3 {
            let _ = simulator.pay(&cashier_harness::PayCommand {
                out_trade_no: Some(number.clone()),
                prepay_id: None,
                outcome: "success".into(),
                bank_type: None,
                coupons: vec![],
            });
        }
        let _ = client
            .call(
                &direct(sign_type),
                &OrderQueryRequest {
                    order: OrderRef::OutTradeNo(OutTradeNo::new(number.clone()).unwrap()),
                },
            )
            .await;
        if index % 5 == 0 {
            let refund = RefundRequest {
                order: OrderRef::OutTradeNo(OutTradeNo::new(number.clone()).unwrap()),
                out_refund_no: OutRefundNo::new(format!("R{number}")).unwrap(),
                total_fee: AmountFen::from_fen(100 + index),
                refund_fee: AmountFen::from_fen(10),
                refund_desc: None,
                refund_account: None,
                notify_url: Some(NOWHERE.into()),
            };
            let _ = client.call(&direct(sign_type), &refund).await;
        }
        simulator.advance(37, &merchant).await;
    }
    simulator.advance(25 * 3600, &merchant).await;
    (
        simulator.ledger_json(),
        serde_json::to_string(&simulator.delivery_log()).unwrap(),
    )
}

#[tokio::test]
async fn same_seed_reproduces_ledger_and_delivery_log_byte_for_byte() {
    let first = run(4242).await;
    let second = run(4242).await;
    assert_eq!(first.0, second.0, "ledgers differ");
    assert_eq!(first.1, second.1, "delivery logs differ");
    assert!(
        first.0.len() > 1000 && !first.0.contains("\"error\""),
        "the ledger must serialise"
    );
    assert!(
        first.1.len() > 1000,
        "the run must actually deliver notifications"
    );
    let other = run(4243).await;
    assert_ne!(first.0, other.0, "another seed must give another run");
}
