//! Notification faults and content (wechatpay-v2.md §4, §5): HMAC orders' notifications omit
//! sign_type and verify with the order's sign type; refund notifications decrypt; duplicates,
//! concurrent copies, drops, delays, tampered signs and forged amounts happen as planned.

use std::sync::Arc;

use cashier_adapters::endpoints::refund::RefundRequest;
use cashier_adapters::notify::payment::UnverifiedPaymentNotification;
use cashier_adapters::notify::refund::UnverifiedRefundNotification;
use cashier_adapters::notify::NotifyError;
use cashier_adapters::{
    AmountFen, ApiBase, ChaChaNonceSource, OrderRef, OutRefundNo, OutTradeNo, SignCheck, SignType,
    WechatPayClient,
};
use cashier_harness::notifications::Variant;
use cashier_harness::{
    Fault, FaultPlan, FaultRule, ScriptedSink, SimConfig, SimOptions, SimTransport, Simulator,
};

use crate::support::*;

async fn world(seed: u64, faults: Vec<Fault>) -> (Arc<Simulator>, WechatPayClient<SimTransport>) {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(seed),
    ));
    let rules = faults
        .into_iter()
        .map(|fault| FaultRule {
            target: "notification".into(),
            fault,
            probability: None,
            next: Some(1),
        })
        .collect();
    simulator.set_fault_plan(FaultPlan { rules }).unwrap();
    let client = WechatPayClient::new(
        SimTransport::new(simulator.clone()),
        ApiBase::production(),
        ChaChaNonceSource::seeded(seed),
    );
    (simulator, client)
}

async fn pay(
    simulator: &Simulator,
    client: &WechatPayClient<SimTransport>,
    sign_type: SignType,
    number: &str,
) {
    client
        .call(&direct(sign_type), &jsapi(number, 888))
        .await
        .unwrap();
    simulator
        .pay(&cashier_harness::PayCommand {
            out_trade_no: Some(number.into()),
            prepay_id: None,
            outcome: "success".into(),
            bank_type: None,
            coupons: vec![],
        })
        .unwrap();
}

#[tokio::test]
async fn section_4_hmac_order_notification_omits_sign_type_and_verifies_with_the_orders_type() {
    let (simulator, client) = world(70, vec![]).await;
    pay(&simulator, &client, SignType::HmacSha256, "NOTIFY0001").await;
    let merchant = ScriptedSink::acknowledging();
    simulator.deliver_due(&merchant).await;
    let (url, body) = merchant.received().remove(0);
    assert_eq!(url, NOWHERE);
    let notification = UnverifiedPaymentNotification::parse(&body).unwrap();
    assert!(notification.fields().get("sign_type").is_none());
    assert_eq!(notification.fields().get("sign").unwrap().len(), 64);
    let verified = notification
        .verify(&direct(SignType::HmacSha256), AmountFen::from_fen(888))
        .unwrap();
    assert_eq!(verified.sign_type, SignType::HmacSha256);
}

#[tokio::test]
async fn section_5_refund_notification_decrypts_with_the_merchant_key() {
    let (simulator, client) = world(71, vec![]).await;
    pay(&simulator, &client, SignType::Md5, "NOTIFY0002").await;
    let refund = RefundRequest {
        order: OrderRef::OutTradeNo(OutTradeNo::new("NOTIFY0002").unwrap()),
        out_refund_no: OutRefundNo::new("RN1").unwrap(),
        total_fee: AmountFen::from_fen(888),
        refund_fee: AmountFen::from_fen(88),
        refund_desc: None,
        refund_account: None,
        notify_url: Some("http://127.0.0.1:9/refund-notify".into()),
    };
    client.call(&direct(SignType::Md5), &refund).await.unwrap();
    let merchant = ScriptedSink::acknowledging();
    simulator.advance(10, &merchant).await;
    let (url, body) = merchant.received().pop().unwrap();
    assert_eq!(url, "http://127.0.0.1:9/refund-notify");
    let decrypted = UnverifiedRefundNotification::parse(&body)
        .unwrap()
        .decrypt(&direct(SignType::Md5))
        .unwrap();
    assert_eq!(decrypted.out_refund_no.as_str(), "RN1");
    assert_eq!(decrypted.refund_fee, AmountFen::from_fen(88));
    assert_eq!(decrypted.refund_status.as_str(), "SUCCESS");
    assert!(decrypted.success_time.is_some());
}

#[tokio::test]
async fn faults_duplicate_and_concurrent_deliver_identical_copies() {
    let (simulator, client) = world(72, vec![Fault::Duplicate, Fault::Concurrent]).await;
    pay(&simulator, &client, SignType::Md5, "NOTIFY0003").await;
    let merchant = ScriptedSink::acknowledging();
    simulator.deliver_due(&merchant).await;
    let received = merchant.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|(_, body)| body == &received[0].1));
    let log = simulator.delivery_log();
    assert_eq!(
        log.iter()
            .filter(|record| record.variant == Variant::Copy)
            .count(),
        2
    );
    assert!(log.iter().all(|record| record.at_ms == log[0].at_ms));
}

#[tokio::test]
async fn faults_drop_and_delay_move_the_first_delivery() {
    let (simulator, client) = world(73, vec![Fault::Drop]).await;
    pay(&simulator, &client, SignType::Md5, "NOTIFY0004").await;
    let merchant = ScriptedSink::acknowledging();
    simulator.advance(60, &merchant).await;
    let log = simulator.delivery_log();
    assert_eq!(
        log[0].error.as_deref(),
        Some("lost in transit (fault: drop)")
    );
    assert_eq!(log[1].at_ms - log[0].at_ms, 15_000);
    assert!(log[1].acknowledged);
    assert_eq!(merchant.received().len(), 1);

    let (simulator, client) = world(74, vec![Fault::Delay { seconds: 90 }]).await;
    pay(&simulator, &client, SignType::Md5, "NOTIFY0005").await;
    let paid_at = simulator.now_ms();
    simulator.advance(89, &merchant).await;
    assert!(simulator.delivery_log().is_empty());
    simulator.advance(1, &merchant).await;
    assert_eq!(simulator.delivery_log()[0].at_ms - paid_at, 90_000);
}

#[tokio::test]
async fn faults_tampered_and_forged_copies_come_first_and_fail_verification() {
    let (simulator, client) = world(75, vec![Fault::TamperSign, Fault::ForgeAmount]).await;
    pay(&simulator, &client, SignType::Md5, "NOTIFY0006").await;
    let merchant = ScriptedSink::acknowledging();
    simulator.deliver_due(&merchant).await;
    let variants: Vec<Variant> = simulator
        .delivery_log()
        .iter()
        .map(|record| record.variant)
        .collect();
    assert_eq!(
        variants,
        [Variant::Tampered, Variant::Forged, Variant::Genuine]
    );
    let received = merchant.received();
    let check = |body: &[u8]| {
        UnverifiedPaymentNotification::parse(body)
            .unwrap()
            .verify(&direct(SignType::Md5), AmountFen::from_fen(888))
    };
    assert_eq!(
        check(&received[0].1).unwrap_err(),
        NotifyError::Signature(SignCheck::Mismatch)
    );
    assert!(matches!(
        check(&received[1].1).unwrap_err(),
        NotifyError::AmountMismatch { .. }
    ));
    assert!(check(&received[2].1).is_ok());
}

#[tokio::test]
async fn faults_reorder_lets_a_later_notification_overtake() {
    let (simulator, client) = world(76, vec![Fault::Reorder]).await;
    pay(&simulator, &client, SignType::Md5, "NOTIFY0007").await;
    pay(&simulator, &client, SignType::Md5, "NOTIFY0008").await;
    let merchant = ScriptedSink::acknowledging();
    simulator.advance(60, &merchant).await;
    let order: Vec<String> = simulator
        .delivery_log()
        .iter()
        .map(|record| record.out_trade_no.clone())
        .collect();
    assert_eq!(order, ["NOTIFY0008", "NOTIFY0007"]);
}
