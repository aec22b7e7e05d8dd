//! Daily reconciliation (issue #11): WeChat's bill of a day against the engine. Every seeded
//! discrepancy is found (a payment the engine never made, claiming one of its orders; a paid
//! amount that differs), a payment whose notification and queries were all lost is resolved by
//! asking WeChat now, what remains is an alert on its order and on the host feed, and a bill
//! asked for before 09:00 the next day is "not ready".

use cashier_engine::feed::Notice;
use cashier_engine::model::{AlertKind, OrderState};
use cashier_engine::reconcile::Discrepancy;
use cashier_engine::EngineError;
use cashier_harness::{Fault, FaultPlan, FaultRule};

use crate::support::*;

fn always(target: &str, fault: Fault) -> FaultRule {
    FaultRule {
        target: target.into(),
        fault,
        probability: Some(1.0),
        next: None,
    }
}

const DAY: u32 = 20251127;

#[tokio::test]
async fn reconciliation_finds_every_seeded_discrepancy_and_resolves_missed_payments() {
    let world = World::start(401);
    assert!(
        matches!(
            world.engine.reconcile(DAY).await,
            Err(EngineError::BillNotReady { .. })
        ),
        "before 09:00 the next day"
    );
    // Two ordinary payments, one refunded in part.
    let first = world.engine.create_order(order(1000)).await.unwrap().record;
    let paid = world
        .engine
        .start_payment(
            &first.order_no,
            payer("official_account", Some(PAYER_OFFICIAL)),
        )
        .await
        .unwrap();
    world.pay(&paid.out_trade_no);
    let second = world.engine.create_order(order(2000)).await.unwrap().record;
    let native = world
        .engine
        .start_payment(&second.order_no, payer("native", None))
        .await
        .unwrap();
    world.pay(&native.out_trade_no);
    world.advance(2).await;
    refund(&world, &second.order_no, 500, "部分退款")
        .await
        .unwrap();
    world.advance(30).await;
    // A payment the engine misses entirely: WeChat never notifies, and every query fails all day.
    let faults = FaultPlan {
        rules: vec![always("orderquery", Fault::SystemError)],
    };
    world.simulator.set_fault_plan(faults).unwrap();
    let third = world.engine.create_order(order(3000)).await.unwrap().record;
    let missed = world
        .engine
        .start_payment(&third.order_no, payer("app", None))
        .await
        .unwrap();
    assert!(world
        .simulator
        .seed_silent_payment(missed.out_trade_no.as_str()));
    world.advance(600).await;
    // Seeded at WeChat: a payment no attempt made, claiming the first order; another amount.
    world.simulator.seed_unknown_payment(
        "10000100",
        "FOREIGN0001",
        777,
        Some(first.order_no.as_str()),
    );
    assert!(world
        .simulator
        .seed_amount_change(native.out_trade_no.as_str(), 2100));
    // Until the next morning; then WeChat answers queries again, just before reconciling.
    world.0.advance(23 * 3600, 3600).await.unwrap();
    assert_eq!(
        world.engine.query(&third.order_no).await.unwrap().state,
        OrderState::Paying
    );
    world.simulator.set_fault_plan(FaultPlan::none()).unwrap();

    let report = world.engine.reconcile(DAY).await.unwrap();
    assert_eq!(report.payments, 4, "{report:#?}");
    assert_eq!(report.refunds, 1, "{report:#?}");
    assert!(
        matches!(
            report.resolved.as_slice(),
            [Discrepancy::PaidAtWechatNotPaidInEngine { .. }]
        ),
        "{report:#?}"
    );
    assert_eq!(
        world.engine.query(&third.order_no).await.unwrap().state,
        OrderState::Paid
    );
    assert_eq!(report.unresolved.len(), 2, "{report:#?}");
    assert!(report.unresolved.iter().any(|found| matches!(found,
        Discrepancy::PaidAtWechatUnknownToEngine { out_trade_no, claimed_order: Some(claimed), .. }
            if out_trade_no == "FOREIGN0001" && claimed == &first.order_no)));
    assert!(report.unresolved.iter().any(|found| matches!(found,
        Discrepancy::AmountMismatch { order_no, engine, wechat, .. }
            if order_no == &second.order_no && engine.fen() == 2000 && wechat.fen() == 2100)));
    // Each one left is an alert on its order, and so on the host feed.
    for order_no in [&first.order_no, &second.order_no] {
        let record = world.engine.query(order_no).await.unwrap();
        assert!(
            record
                .alerts
                .iter()
                .any(|alert| alert.kind == AlertKind::ReconciliationMismatch),
            "{record:#?}"
        );
    }
    let feed = world.engine.feed(0, 1000).unwrap();
    let alerts = feed
        .iter()
        .filter(|entry| {
            matches!(
                entry.notice,
                Notice::Alert {
                    kind: AlertKind::ReconciliationMismatch,
                    ..
                }
            )
        })
        .count();
    assert_eq!(alerts, 2);
    // Reconciling an agreeing day finds nothing.
    let quiet = world.engine.reconcile(20251126).await.unwrap();
    assert!(
        quiet.unresolved.is_empty() && quiet.resolved.is_empty() && quiet.payments == 0,
        "{quiet:#?}"
    );
}
