//! Issue #9's money-path defects, one test each (each failed on the engine before the fix):
//! idempotent refunds across restarts, true order-number timestamps after a restart, acks that
//! do not wait for effects, sub-merchant refund notifications routed by the stored refund, stale
//! H5 links refreshed, and asking WeChat now.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cashier::simulation::SimulatedWorld;
use cashier_adapters::notify::ack::ACK_SUCCESS;
use cashier_engine::machine::{Outcome, Rejection};
use cashier_engine::model::{AttemptState, OrderState, RefundCause, RefundState};
use cashier_engine::order_number::{Channel, Kind, ProductType};
use cashier_engine::store::SledStore;
use cashier_engine::{ClientPayment, EngineError, NotificationVerdict};
use cashier_harness::{
    Fault, FaultPlan, FaultRule, SimConfig, SimOptions, SimTransport, Simulator,
};

use crate::support::*;

fn rule(target: &str, fault: Fault) -> FaultRule {
    FaultRule {
        target: target.into(),
        fault,
        probability: Some(1.0),
        next: None,
    }
}

/// A world whose engine can be restarted on the same store and simulated WeChat.
fn restartable(seed: u64, real_delays: bool) -> (Arc<Simulator>, Arc<SledStore>, SimulatedWorld) {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(seed),
    ));
    let store = Arc::new(SledStore::temporary().unwrap());
    let world = start_on(&simulator, &store, seed, real_delays);
    (simulator, store, world)
}

fn start_on(
    simulator: &Arc<Simulator>,
    store: &Arc<SledStore>,
    seed: u64,
    real_delays: bool,
) -> SimulatedWorld {
    let config = cashier::simulation::engine_config(simulator.config()).unwrap();
    let transport_simulator = simulator.clone();
    SimulatedWorld::with_simulator(
        simulator.clone(),
        config,
        store.clone(),
        seed,
        2,
        move |runtime| {
            if real_delays {
                let transport = Arc::new(SimTransport::new(transport_simulator).with_real_delays());
                runtime.transports = Box::new(move |_| Ok(transport.clone()));
            }
        },
    )
    .unwrap()
}

async fn paid(
    world: &SimulatedWorld,
    entry: &str,
    openid: Option<&str>,
    amount_fen: u64,
) -> cashier_engine::order_number::OrderNumber {
    let created = world
        .engine
        .create_order(order(amount_fen))
        .await
        .unwrap()
        .record;
    let start = world
        .engine
        .start_payment(&created.order_no, payer(entry, openid))
        .await
        .unwrap();
    world.payer(&start.out_trade_no, "success").unwrap();
    world.advance(1, 1).await.unwrap();
    created.order_no
}

/// Defect 1: a host retrying a refund (the same key and content) gets the same refund, also
/// after a restart; other content under the key is refused; WeChat sees one refund.
#[tokio::test]
async fn a_retried_refund_is_the_same_refund_across_restarts() {
    let (simulator, store, world) = restartable(201, false);
    let order_no = paid(&world, "official_account", Some(PAYER_OFFICIAL), 1000).await;
    let request = refund_request("HIS-REFUND-1", 400, "退号");
    let first = world
        .engine
        .refund(&order_no, request.clone())
        .await
        .unwrap();
    let Outcome::RefundRequested(out_refund_no) = first.outcome else {
        panic!("{:?}", first.outcome)
    };
    let again = world
        .engine
        .refund(&order_no, request.clone())
        .await
        .unwrap();
    assert_eq!(
        again.outcome,
        Outcome::RefundAlreadyRequested(out_refund_no.clone())
    );
    world.advance(30, 5).await.unwrap();
    world.engine.shutdown().await;

    let restarted = start_on(&simulator, &store, 201, false);
    let after = restarted.engine.refund(&order_no, request).await.unwrap();
    assert_eq!(
        after.outcome,
        Outcome::RefundAlreadyRequested(out_refund_no)
    );
    let conflicting = restarted
        .engine
        .refund(&order_no, refund_request("HIS-REFUND-1", 500, "退号"))
        .await;
    assert!(
        matches!(
            conflicting,
            Err(EngineError::Rejected(Rejection::ConflictingRequest(_)))
        ),
        "{conflicting:?}"
    );
    restarted.advance(30, 5).await.unwrap();
    assert_eq!(simulator.ledger().refunds.len(), 1, "WeChat saw one refund");
    let record = restarted.engine.query(&order_no).await.unwrap();
    assert_eq!(record.refunds.len(), 1);
    assert_eq!(record.state, OrderState::PartiallyRefunded);
}

/// Defect 2: after a restart, numbers carry the real time of issue (the old generator started
/// an hour ahead), and never repeat one issued before.
#[tokio::test]
async fn order_numbers_after_a_restart_carry_the_time_of_issue() {
    let (simulator, store, world) = restartable(202, false);
    let before = world
        .engine
        .issue_number(Channel::APP, Kind::Payment, ProductType(1))
        .unwrap();
    world.engine.shutdown().await;
    let restarted = start_on(&simulator, &store, 202, false);
    let after = restarted
        .engine
        .issue_number(Channel::APP, Kind::Payment, ProductType(1))
        .unwrap();
    assert_ne!(before, after);
    assert_ne!(
        world.engine.number_slot(),
        restarted.engine.number_slot(),
        "a restart takes another slot"
    );
    let now_s = simulator.now_ms().div_euclid(1000);
    for number in [before, after] {
        let stamp = number.parts().timestamp;
        let issued_s =
            cashier_adapters::wechat::time::parse_compact(&format!("20{stamp}")).unwrap();
        assert!(
            (issued_s - now_s).abs() <= 1,
            "{number} is stamped {issued_s}, now is {now_s}"
        );
    }
}

/// Defect 3: with WeChat answering closeorder, refund and unifiedorder after 8 s, a payment
/// notification is acknowledged in milliseconds: neither the effects it causes (closing the
/// other attempt, refunding a double payment) nor another command's slow call hold it; the
/// effects still complete afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_acknowledged_without_waiting_for_slow_effects() {
    let (simulator, _store, world) = restartable(203, false);
    let _ = &world;
    let world = {
        world.engine.shutdown().await;
        start_on(&simulator, &_store, 203, true)
    };
    simulator
        .set_fault_plan(FaultPlan {
            rules: vec![rule("payment_notification", Fault::Drop)],
        })
        .unwrap();
    let created = world.engine.create_order(order(500)).await.unwrap().record;
    let (first, second) = two_attempts(&world, &created.order_no).await;
    world.advance(301, 60).await.unwrap();
    world.payer(&first.out_trade_no, "success").unwrap();
    world.payer(&second.out_trade_no, "success").unwrap();
    let bodies: Vec<Vec<u8>> = simulator
        .notifications()
        .iter()
        .map(|notification| notification.body.clone().into_bytes())
        .collect();
    let slow = FaultRule {
        probability: Some(1.0),
        next: None,
        target: String::new(),
        fault: Fault::SlowReply { delay_ms: 8_000 },
    };
    let plan = ["closeorder", "refund", "unifiedorder"].map(|target| FaultRule {
        target: target.into(),
        ..slow.clone()
    });
    simulator
        .set_fault_plan(FaultPlan {
            rules: plan.to_vec(),
        })
        .unwrap();

    // A slow start_payment on the same order is in flight while the notifications arrive.
    let engine = world.engine.clone();
    let order_no = created.order_no.clone();
    let slow_start =
        tokio::spawn(async move { engine.start_payment(&order_no, payer("app", None)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    for body in &bodies {
        let began = Instant::now();
        let response = world.engine.handle_payment_notification(body).await;
        let elapsed = began.elapsed();
        assert_eq!(response.ack, ACK_SUCCESS, "{:?}", response.verdict);
        assert_eq!(response.verdict, NotificationVerdict::Applied);
        assert!(
            elapsed < Duration::from_millis(1_000),
            "ack took {elapsed:?}"
        );
    }
    assert!(
        world.engine.settle(Duration::from_secs(30)).await,
        "the slow effects finish"
    );
    let _ = slow_start.await.unwrap();
    let record = world.engine.query(&created.order_no).await.unwrap();
    let duplicate = record
        .refunds
        .iter()
        .find(|refund| refund.cause == RefundCause::DuplicatePayment)
        .unwrap();
    assert!(
        matches!(duplicate.state, RefundState::Processing { .. }),
        "{record:#?}"
    );
    assert_eq!(record.state, OrderState::Paid);
}

/// Defect 4: two sub-merchants under one service provider; a refund notification of the second
/// is routed by its stored refund and applied (it used to get FAIL: routing took the first
/// entry's sub_mch_id).
#[tokio::test]
async fn refund_notifications_of_a_second_sub_merchant_are_applied() {
    let world = World::start(204);
    let order_no = paid(&world, "sp_east_app", None, 900).await;
    let out_refund_no = refund(&world, &order_no, 900, "全额退款").await.unwrap();
    world.settle().await;
    world.advance(8).await;
    let metrics = world.engine.metrics();
    assert_eq!(metrics.refund_notifications_rejected, 0);
    assert_eq!(metrics.refund_notifications_applied, 1, "{metrics:?}");
    let record = world.engine.query(&order_no).await.unwrap();
    assert!(matches!(
        record.refund(&out_refund_no).unwrap().state,
        RefundState::Succeeded { .. }
    ));
    assert_eq!(
        record.attempts[0]
            .channel
            .sub_mch_id
            .as_ref()
            .map(|id| id.as_str()),
        Some("1900000111")
    );
}

/// Defect 5: an H5 attempt's mweb_url lives 5 minutes; after 4 the engine re-enters the same
/// order identically for a fresh link instead of handing out the stale one.
#[tokio::test]
async fn a_stale_h5_link_is_refreshed_not_reused() {
    let world = World::start(205);
    let created = world.engine.create_order(order(300)).await.unwrap().record;
    let first = world
        .engine
        .start_payment(&created.order_no, payer("h5", None))
        .await
        .unwrap();
    let soon = world
        .engine
        .start_payment(&created.order_no, payer("h5", None))
        .await
        .unwrap();
    assert!(soon.reused);
    world.advance(250).await;
    let later = world
        .engine
        .start_payment(&created.order_no, payer("h5", None))
        .await
        .unwrap();
    assert!(
        !later.reused,
        "a 250-second-old mweb_url is not handed out again"
    );
    assert_eq!(
        later.out_trade_no, first.out_trade_no,
        "the same order, re-entered"
    );
    assert!(matches!(later.client, ClientPayment::Mweb { .. }));
    assert_eq!(world.engine.metrics().unified_orders_sent, 2);
    assert_eq!(world.simulator.ledger().orders.len(), 1);
}

/// Defect 9: `query_wechat` asks WeChat now through the order's actor: a payment whose
/// notification was lost shows as paid at once, without waiting for the query ladder.
#[tokio::test]
async fn asking_wechat_now_finds_a_payment_whose_notification_was_lost() {
    let world = World::start(209);
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![rule("payment_notification", Fault::Drop)],
        })
        .unwrap();
    let created = world.engine.create_order(order(300)).await.unwrap().record;
    let start = world
        .engine
        .start_payment(&created.order_no, payer("native", None))
        .await
        .unwrap();
    world.pay(&start.out_trade_no);
    assert_eq!(
        world.engine.query(&created.order_no).await.unwrap().state,
        OrderState::Paying
    );
    let asked = world
        .engine
        .query_wechat(&created.order_no, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(asked.state, OrderState::Paid);
    assert!(matches!(
        asked.attempt(&start.out_trade_no).unwrap().state,
        AttemptState::Paid { .. }
    ));
}
