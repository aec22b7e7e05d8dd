//! The notification retry ladder (wechatpay-v2.md §4): a merchant that never acknowledges gets
//! exactly 16 deliveries (first + 15 retries) at 0, 15, 30, 60 s, 4, 14, 34, 64, 94, 124 min,
//! 3h4m, 6h4m, 9h4m, 12h4m, 18h4m, 24h4m; one that acknowledges the 3rd gets 3. Judged as WeChat
//! does: HTTP 200 with return_code SUCCESS, within 5 s.

use std::sync::Arc;

use cashier_adapters::notify::ack::ACK_SUCCESS;
use cashier_adapters::{ApiBase, ChaChaNonceSource, SignType, WechatPayClient};
use cashier_harness::notifications::Variant;
use cashier_harness::{ScriptedSink, SimConfig, SimOptions, SimTransport, Simulator};

use crate::support::*;

const EXPECTED_OFFSETS_S: [i64; 16] = [
    0, 15, 30, 60, 240, 840, 2040, 3840, 5640, 7440, 11_040, 21_840, 32_640, 43_440, 65_040, 86_640,
];

async fn paid_in_process(seed: u64) -> (Arc<Simulator>, i64) {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(seed),
    ));
    let client = WechatPayClient::new(
        SimTransport::new(simulator.clone()),
        ApiBase::production(),
        ChaChaNonceSource::seeded(seed),
    );
    client
        .call(&direct(SignType::HmacSha256), &jsapi("LADDER0001", 888))
        .await
        .unwrap();
    let paid = simulator
        .pay(&cashier_harness::PayCommand {
            out_trade_no: Some("LADDER0001".into()),
            prepay_id: None,
            outcome: "success".into(),
            bank_type: None,
            coupons: vec![],
        })
        .unwrap();
    (simulator, paid.paid_ms.unwrap())
}

fn genuine_offsets(simulator: &Simulator, paid_ms: i64) -> Vec<i64> {
    simulator
        .delivery_log()
        .iter()
        .filter(|record| record.variant == Variant::Genuine)
        .map(|record| (record.at_ms - paid_ms) / 1000)
        .collect()
}

#[tokio::test]
async fn section_4_merchant_that_never_acks_gets_exactly_16_deliveries_over_24h4m() {
    let (simulator, paid_ms) = paid_in_process(60).await;
    let merchant = ScriptedSink::refusing();
    simulator.advance(30 * 3600, &merchant).await;
    assert_eq!(genuine_offsets(&simulator, paid_ms), EXPECTED_OFFSETS_S);
    assert_eq!(merchant.received().len(), 16);
    assert_eq!(*EXPECTED_OFFSETS_S.last().unwrap(), 24 * 3600 + 4 * 60);
    assert_eq!(simulator.pending_deliveries(), 0);
}

#[tokio::test]
async fn section_4_merchant_that_acks_the_third_gets_three() {
    let (simulator, paid_ms) = paid_in_process(61).await;
    let merchant = ScriptedSink::new(|number, _, _| {
        if number >= 3 {
            Ok((200, ACK_SUCCESS.to_vec()))
        } else {
            Ok((500, b"oops".to_vec()))
        }
    });
    simulator.advance(30 * 3600, &merchant).await;
    assert_eq!(genuine_offsets(&simulator, paid_ms), [0, 15, 30]);
    assert!(simulator.delivery_log().last().unwrap().acknowledged);
}

#[tokio::test]
async fn section_4_only_http_200_with_xml_success_counts_as_an_ack() {
    for (status, body, counts) in [
        (200, b"success".to_vec(), false),
        (201, ACK_SUCCESS.to_vec(), false),
        (200, b"{\"return_code\":\"SUCCESS\"}".to_vec(), false),
        (
            200,
            b"<xml><return_code>SUCCESS</return_code></xml>".to_vec(),
            true,
        ),
    ] {
        let (simulator, _) = paid_in_process(62).await;
        let answer = (status, body.clone());
        let merchant = ScriptedSink::new(move |_, _, _| Ok(answer.clone()));
        simulator.deliver_due(&merchant).await;
        assert_eq!(
            simulator.delivery_log()[0].acknowledged,
            counts,
            "{status} {:?}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[tokio::test]
async fn section_4_an_answer_after_five_seconds_is_no_ack() {
    struct Slow;
    impl cashier_harness::NotificationSink for Slow {
        fn deliver<'a>(
            &'a self,
            _: &'a str,
            _: Vec<u8>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(u16, Vec<u8>), String>> + Send + 'a>,
        > {
            Box::pin(async {
                tokio::time::sleep(std::time::Duration::from_secs(6)).await;
                Ok((200, ACK_SUCCESS.to_vec()))
            })
        }
    }
    tokio::time::pause();
    let (simulator, _) = paid_in_process(63).await;
    simulator.deliver_due(&Slow).await;
    let record = &simulator.delivery_log()[0];
    assert!(!record.acknowledged);
    assert_eq!(
        record.error.as_deref(),
        Some("no acknowledgement within 5 s")
    );
}
