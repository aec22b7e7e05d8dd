//! End-to-end flows against the simulator: each entry point, notifications, refunds.

use cashier_engine::model::{OrderState, RefundState};
use cashier_engine::{ClientPayment, PaymentRequest};

use crate::support::*;

/// The payer most tests use: the official account's JSAPI payer.
fn official_payer() -> PaymentRequest {
    payer("official_account", Some(PAYER_OFFICIAL))
}

/// Starts a payment attempt of an existing order.
async fn start_attempt(
    world: &cashier::simulation::SimulatedWorld,
    order_no: &cashier_engine::order_number::OrderNumber,
    request: PaymentRequest,
) -> Result<cashier_engine::PaymentStart, cashier_engine::EngineError> {
    world.engine.start_payment(order_no, request).await
}

#[tokio::test]
async fn official_account_flow_pays_by_notification_and_refunds_with_the_paying_appid() {
    let world = World::start(100);
    let created = world.engine.create_order(order(888)).await.unwrap().record;
    assert_eq!(created.state, OrderState::Created);
    let start = start_attempt(&world, &created.order_no, official_payer())
        .await
        .unwrap();
    assert!(matches!(start.client, ClientPayment::Jsapi(_)));
    assert_eq!(
        world.engine.query(&created.order_no).await.unwrap().state,
        OrderState::Paying
    );
    world.pay(&start.out_trade_no);
    world.advance(1).await;
    let paid = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(paid.state, OrderState::Paid, "{paid:#?}");
    assert_eq!(world.engine.metrics().payment_notifications_applied, 1);
    let out_refund_no = refund(&world, &created.order_no, 300, "退号")
        .await
        .unwrap();
    world.advance(30).await;
    let refunded = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(
        refunded.state,
        OrderState::PartiallyRefunded,
        "{refunded:#?}"
    );
    assert!(matches!(
        refunded.refund(&out_refund_no).unwrap().state,
        RefundState::Succeeded { .. }
    ));
}

use cashier_adapters::bridge::parse_mini_program_pay_query;
use cashier_adapters::notify::ack::ACK_SUCCESS;
use cashier_adapters::{ApiKey, Fields, SignType};
use cashier_engine::model::{AttemptState, ClientResult, RefundCause};
use cashier_engine::NotificationVerdict;
use cashier_harness::{Fault, FaultPlan, FaultRule};

/// Creates an order and starts its payment through `entry`.
async fn started(
    world: &World,
    amount: u64,
    entry: &str,
    openid: Option<&str>,
) -> (
    cashier_engine::model::OrderRecord,
    cashier_engine::PaymentStart,
) {
    let created = world
        .engine
        .create_order(order(amount))
        .await
        .unwrap()
        .record;
    let start = start_attempt(world, &created.order_no, payer(entry, openid))
        .await
        .unwrap();
    (created, start)
}

async fn paid_order(
    world: &World,
    entry: &str,
    openid: Option<&str>,
    amount: u64,
) -> (
    cashier_engine::order_number::OrderNumber,
    cashier_adapters::OutTradeNo,
) {
    let (created, start) = started(world, amount, entry, openid).await;
    world.pay(&start.out_trade_no);
    world.advance(1).await;
    (created.order_no, start.out_trade_no)
}

fn plan(target: &str, fault: Fault, next: u32) -> FaultPlan {
    FaultPlan {
        rules: vec![FaultRule {
            target: target.into(),
            fault,
            probability: None,
            next: Some(next),
        }],
    }
}

#[tokio::test]
async fn mini_program_flow_goes_through_the_web_view_bridge() {
    let world = World::start(101);
    let (created, start) = started(&world, 500, "mini_program", Some(PAYER_MINI)).await;
    let ClientPayment::MiniProgram { params, bridge_url } = start.client else {
        panic!("not a mini program payment")
    };
    let (page, query) = bridge_url.split_once('?').unwrap();
    assert_eq!(page, "/pages/pay/pay");
    let decoded = parse_mini_program_pay_query(query).unwrap();
    assert_eq!(decoded, params);
    assert_eq!(decoded.app_id, "wx1f1e2d3c4b5a6978");
    assert!(decoded.verify(&ApiKey::new(KEY).unwrap()));
    assert_eq!(
        start.out_trade_no.as_str().get(0..3),
        Some("021"),
        "channel 02 (mini program), kind 1 (payment)"
    );
    world.pay(&start.out_trade_no);
    world.advance(1).await;
    assert_eq!(
        world.engine.query(&created.order_no).await.unwrap().state,
        OrderState::Paid
    );
}

#[tokio::test]
async fn app_native_and_h5_entries_produce_their_client_parameters_and_get_paid() {
    let world = World::start(102);
    for (entry, openid, prefix) in [
        ("app", None, "031"),
        ("native", None, "051"),
        ("h5", None, "041"),
    ] {
        let created = world.engine.create_order(order(100)).await.unwrap().record;
        let start = start_attempt(&world, &created.order_no, payer(entry, openid))
            .await
            .unwrap();
        assert_eq!(start.out_trade_no.as_str().get(0..3), Some(prefix));
        match (&start.client, entry) {
            (ClientPayment::App(params), "app") => assert_eq!(params.package, "Sign=WXPay"),
            (ClientPayment::Native { code_url }, "native") => {
                assert!(code_url.as_str().starts_with("weixin://"))
            }
            (ClientPayment::Mweb { mweb_url }, "h5") => assert!(mweb_url.contains("mmpayweb")),
            other => panic!("unexpected {other:?}"),
        }
        world.pay(&start.out_trade_no);
        world.advance(1).await;
        assert_eq!(
            world.engine.query(&created.order_no).await.unwrap().state,
            OrderState::Paid,
            "{entry}"
        );
    }
}

#[tokio::test]
async fn service_provider_mini_program_pays_and_refunds_in_sp_mode() {
    let world = World::start(103);
    let (order_no, out_trade_no) =
        paid_order(&world, "sp_mini_program", Some(PAYER_SUB_MINI), 700).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Paid);
    assert_eq!(
        record
            .attempt(&out_trade_no)
            .unwrap()
            .channel
            .sub_mch_id
            .as_ref()
            .map(|id| id.as_str()),
        Some("1900000110")
    );
    refund(&world, &order_no, 700, "全额退款").await.unwrap();
    world.advance(30).await;
    assert_eq!(
        world.engine.query(&order_no).await.unwrap().state,
        OrderState::Refunded
    );
    // The simulator saw the refund in the SP merchant's world.
    assert!(world
        .simulator
        .ledger()
        .refunds
        .values()
        .all(|refund| refund.key.scope.sub_mch_id == "1900000110"));
}

#[tokio::test]
async fn duplicate_notifications_times_eight_and_concurrent_are_applied_once() {
    let world = World::start(104);
    let (created, start) = started(&world, 888, "official_account", Some(PAYER_OFFICIAL)).await;
    world.pay(&start.out_trade_no);
    let body = world.simulator.notifications()[0].body.clone().into_bytes();
    // Eight sequential deliveries of the same notification.
    let mut verdicts = Vec::new();
    for _ in 0..8 {
        let response = world.engine.handle_payment_notification(&body).await;
        assert_eq!(response.ack, ACK_SUCCESS);
        verdicts.push(response.verdict);
    }
    assert_eq!(
        verdicts
            .iter()
            .filter(|verdict| **verdict == NotificationVerdict::Applied)
            .count(),
        1
    );
    // Eight concurrent deliveries.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let engine = world.engine.clone();
        let body = body.clone();
        tasks.spawn(async move { engine.handle_payment_notification(&body).await });
    }
    while let Some(response) = tasks.join_next().await {
        let response = response.unwrap();
        assert_eq!(response.ack, ACK_SUCCESS);
        assert_eq!(response.verdict, NotificationVerdict::Duplicate);
    }
    let metrics = world.engine.metrics();
    assert_eq!(metrics.payment_notifications_applied, 1);
    assert_eq!(metrics.payment_notifications_duplicate, 15);
    let events = world.engine.events(&created.order_no).unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|logged| matches!(
                logged.event,
                cashier_engine::model::Event::PaymentNotified { .. }
            ))
            .count(),
        1
    );
}

#[tokio::test]
async fn lost_notifications_are_rescued_by_the_query_ladder() {
    let world = World::start(105);
    world
        .simulator
        .set_fault_plan(plan(
            "payment_notification",
            Fault::Delay { seconds: 3600 },
            1,
        ))
        .unwrap();
    let (created, start) = started(&world, 888, "official_account", Some(PAYER_OFFICIAL)).await;
    world.pay(&start.out_trade_no);
    // The notification is an hour late; the engine's first ladder query (15 s) finds the payment.
    world.advance(16).await;
    assert_eq!(
        world.engine.query(&created.order_no).await.unwrap().state,
        OrderState::Paid
    );
    assert_eq!(world.engine.metrics().queries_rescued_payment, 1);
    assert_eq!(world.engine.metrics().payment_notifications_applied, 0);
}

#[tokio::test]
async fn reply_lost_on_unified_order_is_resolved_by_query_and_identical_reentry() {
    let world = World::start(106);
    world
        .simulator
        .set_fault_plan(plan("unifiedorder", Fault::ReplyLost, 1))
        .unwrap();
    let (created, start) = started(&world, 888, "official_account", Some(PAYER_OFFICIAL)).await;
    let record = world.engine.query(&created.order_no).await.unwrap();
    assert!(matches!(
        record.attempt(&start.out_trade_no).unwrap().state,
        AttemptState::Prepared { .. }
    ));
    // WeChat holds exactly one order: the lost reply's request took effect, the re-entry reused it.
    assert_eq!(world.simulator.ledger().orders.len(), 1);
    assert!(world.engine.metrics().unified_orders_sent >= 2);
}

#[tokio::test]
async fn reply_lost_on_refund_is_resolved_without_refunding_twice() {
    let world = World::start(107);
    let (order_no, _) = paid_order(&world, "official_account", Some(PAYER_OFFICIAL), 888).await;
    world
        .simulator
        .set_fault_plan(plan("refund", Fault::ReplyLost, 1))
        .unwrap();
    let out_refund_no = refund(&world, &order_no, 888, "全额退款").await.unwrap();
    world.advance(60).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert!(
        matches!(
            record.refund(&out_refund_no).unwrap().state,
            RefundState::Succeeded { .. }
        ),
        "{record:#?}"
    );
    assert_eq!(record.state, OrderState::Refunded);
    assert_eq!(
        world.simulator.ledger().refunds.len(),
        1,
        "one refund at WeChat"
    );
}

#[tokio::test]
async fn systemerror_on_unified_order_is_retried_with_identical_parameters() {
    let world = World::start(108);
    world
        .simulator
        .set_fault_plan(plan("unifiedorder", Fault::SystemError, 2))
        .unwrap();
    let created = world.engine.create_order(order(888)).await.unwrap().record;
    let start = start_attempt(&world, &created.order_no, official_payer()).await;
    assert!(start.is_ok(), "{start:?}");
    assert_eq!(world.engine.metrics().unified_orders_sent, 3);
}

#[tokio::test]
async fn forged_and_tampered_notifications_are_rejected_without_state_change() {
    let world = World::start(109);
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![
                FaultRule {
                    target: "payment_notification".into(),
                    fault: Fault::ForgeAmount,
                    probability: None,
                    next: Some(1),
                },
                FaultRule {
                    target: "payment_notification".into(),
                    fault: Fault::TamperSign,
                    probability: None,
                    next: Some(1),
                },
            ],
        })
        .unwrap();
    let (created, start) = started(&world, 888, "official_account", Some(PAYER_OFFICIAL)).await;
    world.pay(&start.out_trade_no);
    world.advance(1).await;
    let record = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(
        record.state,
        OrderState::Paid,
        "the genuine notification still applies"
    );
    assert_eq!(world.engine.metrics().payment_notifications_rejected, 2);
    assert!(
        record
            .alerts
            .iter()
            .any(|alert| alert.detail.contains("differs from the order")),
        "the forged amount is an alert: {:?}",
        record.alerts
    );
    // A notification for an unknown order and garbage are refused with FAIL.
    let unknown = world
        .engine
        .handle_payment_notification(
            b"<xml><return_code>SUCCESS</return_code><out_trade_no>99999999</out_trade_no></xml>",
        )
        .await;
    assert!(matches!(unknown.verdict, NotificationVerdict::Rejected(_)));
    assert!(String::from_utf8_lossy(&unknown.ack).contains("FAIL"));
    let garbage = world
        .engine
        .handle_payment_notification(b"<!DOCTYPE x><xml/>")
        .await;
    assert!(matches!(garbage.verdict, NotificationVerdict::Rejected(_)));
}

#[tokio::test]
async fn hmac_notifications_without_sign_type_verify_with_the_orders_sign_type() {
    let world = World::start(110);
    let (order_no, _) = paid_order(&world, "app", None, 300).await;
    let body = &world.simulator.notifications()[0].body;
    let fields = cashier_adapters::xml::read(body.as_bytes()).unwrap();
    assert!(fields.get("sign_type").is_none());
    assert_eq!(fields.get("sign").unwrap().len(), 64);
    assert_eq!(
        world.engine.query(&order_no).await.unwrap().state,
        OrderState::Paid
    );
}

#[tokio::test]
async fn expiry_closes_the_order_at_wechat_after_five_minutes() {
    let world = World::start(111);
    let (created, start) = started(&world, 888, "native", None).await;
    world.advance(1800 + 60).await;
    let record = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Closed, "{record:#?}");
    assert_eq!(
        record.attempt(&start.out_trade_no).unwrap().state,
        AttemptState::Closed
    );
    let ledger = world.simulator.ledger();
    assert_eq!(ledger.orders.values().next().unwrap().trade_state, "CLOSED");
    assert!(world.engine.metrics().closes_sent >= 1);
}

#[tokio::test]
async fn closing_respects_five_minutes_and_a_payment_found_while_closing_wins() {
    let world = World::start(112);
    let (created, start) = started(&world, 888, "official_account", Some(PAYER_OFFICIAL)).await;
    world.engine.close(&created.order_no).await.unwrap();
    assert_eq!(
        world.engine.metrics().closes_sent,
        0,
        "no closeorder within 5 minutes"
    );
    // The payer pays just before the close goes out; WeChat answers ORDERPAID and the order is paid.
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![FaultRule {
                target: "payment_notification".into(),
                fault: Fault::Drop,
                probability: Some(1.0),
                next: None,
            }],
        })
        .unwrap();
    world.advance(200).await;
    world.pay(&start.out_trade_no);
    world.advance(120).await;
    let record = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Paid, "{record:#?}");
}

#[tokio::test]
async fn a_late_success_after_close_is_refunded_not_lost() {
    let world = World::start(113);
    let (created, start) = started(&world, 888, "official_account", Some(PAYER_OFFICIAL)).await;
    world.advance(1800 + 60).await;
    assert_eq!(
        world.engine.query(&created.order_no).await.unwrap().state,
        OrderState::Closed
    );
    // A verified success notification arrives for the closed attempt (a WeChat-side race).
    let notification = success_notification(&world, start.out_trade_no.as_str(), 888);
    let response = world
        .engine
        .handle_payment_notification(&notification)
        .await;
    assert_eq!(response.verdict, NotificationVerdict::Applied);
    let record = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Closed);
    assert!(record
        .refunds
        .iter()
        .any(|refund| refund.cause == RefundCause::PaidAfterClose));
    assert!(!record.alerts.is_empty());
}

/// A validly signed success notification for an attempt (HMAC, as the official account entry).
fn success_notification(world: &World, out_trade_no: &str, total: u64) -> Vec<u8> {
    let _ = world;
    let mut fields: Fields = [
        ("return_code", "SUCCESS"),
        ("appid", "wxd930ea5d5a258f4f"),
        ("mch_id", "10000100"),
        ("nonce_str", "late0success0nonce"),
        ("result_code", "SUCCESS"),
        ("openid", PAYER_OFFICIAL),
        ("trade_type", "JSAPI"),
        ("bank_type", "CMC"),
        ("fee_type", "CNY"),
        ("transaction_id", "4200009999202511279999999999"),
        ("out_trade_no", out_trade_no),
        ("time_end", "20251127110000"),
    ]
    .into_iter()
    .collect();
    fields.insert("total_fee", total.to_string());
    fields.insert("cash_fee", total.to_string());
    fields.sign_in_place(SignType::HmacSha256, &ApiKey::new(KEY).unwrap());
    cashier_adapters::xml::write(&fields).unwrap().into_bytes()
}

#[tokio::test]
async fn a_second_successful_attempt_is_refunded_automatically() {
    let world = World::start(114);
    let created = world.engine.create_order(order(500)).await.unwrap().record;
    // The payer opens the official account page, then switches to the mini program.
    let first = start_attempt(&world, &created.order_no, official_payer())
        .await
        .unwrap();
    let second = start_attempt(
        &world,
        &created.order_no,
        payer("mini_program", Some(PAYER_MINI)),
    )
    .await
    .unwrap();
    assert_ne!(first.out_trade_no, second.out_trade_no);
    world.pay(&first.out_trade_no);
    world.pay(&second.out_trade_no);
    world.advance(60).await;
    let record = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(record.paid_attempts().count(), 2);
    let duplicate = record
        .refunds
        .iter()
        .find(|refund| refund.cause == RefundCause::DuplicatePayment)
        .unwrap();
    assert_eq!(duplicate.out_trade_no, second.out_trade_no);
    assert!(
        matches!(duplicate.state, RefundState::Succeeded { .. }),
        "{record:#?}"
    );
    cashier_engine::machine::check_invariants(&record).unwrap();
}

#[tokio::test]
async fn client_ok_triggers_a_query_and_cancel_changes_nothing() {
    let world = World::start(115);
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![FaultRule {
                target: "payment_notification".into(),
                fault: Fault::Drop,
                probability: Some(1.0),
                next: None,
            }],
        })
        .unwrap();
    let (_, start) = started(&world, 888, "official_account", Some(PAYER_OFFICIAL)).await;
    let after_cancel = world
        .engine
        .report_client_result(&start.out_trade_no, ClientResult::Cancel)
        .await
        .unwrap();
    assert_eq!(after_cancel.state, OrderState::Paying);
    // The client says "ok" before WeChat has the payment: a query says NOTPAY, nothing changes.
    let early = world
        .engine
        .report_client_result(&start.out_trade_no, ClientResult::Ok)
        .await
        .unwrap();
    assert_eq!(early.state, OrderState::Paying);
    world.settle().await;
    assert_eq!(
        world.engine.query(&early.order_no).await.unwrap().state,
        OrderState::Paying
    );
    world.pay(&start.out_trade_no);
    let hinted = world
        .engine
        .report_client_result(&start.out_trade_no, ClientResult::Ok)
        .await
        .unwrap();
    // The hint only starts a query; its answer is applied as its own transition.
    assert_eq!(hinted.state, OrderState::Paying);
    world.settle().await;
    let ok = world.engine.query(&hinted.order_no).await.unwrap();
    assert_eq!(ok.state, OrderState::Paid);
}

#[tokio::test]
async fn creating_an_order_again_is_idempotent_and_conflicts_are_named() {
    let world = World::start(116);
    let created = world.engine.create_order(order(100)).await.unwrap();
    assert_eq!(created.outcome, cashier_engine::machine::Outcome::Created);
    let mut again = order(100);
    again.order_no = Some(created.record.order_no.clone());
    let repeated = world.engine.create_order(again.clone()).await.unwrap();
    assert_eq!(repeated.record, created.record);
    assert_eq!(
        repeated.outcome,
        cashier_engine::machine::Outcome::AlreadyExists
    );
    again.amount = cashier_adapters::AmountFen::from_fen(101);
    assert!(matches!(
        world.engine.create_order(again).await,
        Err(cashier_engine::EngineError::Rejected(
            cashier_engine::machine::Rejection::ConflictingContent
        ))
    ));
    assert!(matches!(
        refund(&world, &created.record.order_no, 1, "x").await,
        Err(cashier_engine::EngineError::Rejected(_))
    ));
}

#[tokio::test]
async fn the_same_payer_on_the_same_entry_reuses_the_prepared_attempt() {
    let world = World::start(117);
    let created = world.engine.create_order(order(100)).await.unwrap().record;
    let first = start_attempt(&world, &created.order_no, official_payer())
        .await
        .unwrap();
    let again = start_attempt(&world, &created.order_no, official_payer())
        .await
        .unwrap();
    assert_eq!(first.out_trade_no, again.out_trade_no);
    assert_eq!(world.simulator.ledger().orders.len(), 1);
}

#[tokio::test]
async fn refund_uses_the_paying_attempts_appid_and_sign_type() {
    let world = World::start(118);
    // Paid through the mini program (appid wx1f1e2d3c4b5a6978, MD5) although the same merchant
    // also has an official account entry (another appid, HMAC).
    let (order_no, out_trade_no) = paid_order(&world, "mini_program", Some(PAYER_MINI), 800).await;
    refund(&world, &order_no, 200, "退药").await.unwrap();
    world.advance(30).await;
    let ledger = world.simulator.ledger();
    let refund = ledger.refunds.values().next().unwrap();
    assert_eq!(refund.out_trade_no, out_trade_no.as_str());
    assert_eq!(refund.requested_appid, "wx1f1e2d3c4b5a6978");
    assert_eq!(
        world.engine.query(&order_no).await.unwrap().state,
        OrderState::PartiallyRefunded
    );
}

/// A simulated world whose idle actors passivate after `idle_ms`.
fn world_passivating_after(seed: u64, idle_ms: u64) -> cashier::simulation::SimulatedWorld {
    let simulator = std::sync::Arc::new(cashier_harness::Simulator::new(
        cashier_harness::SimConfig::embedded_default().unwrap(),
        cashier_harness::SimOptions::deterministic(seed),
    ));
    let config = cashier::simulation::engine_config(simulator.config()).unwrap();
    let store = std::sync::Arc::new(cashier_engine::store::SledStore::temporary().unwrap());
    cashier::simulation::SimulatedWorld::with_simulator(
        simulator,
        config,
        store,
        seed,
        2,
        |runtime| {
            runtime.idle_passivation = std::time::Duration::from_millis(idle_ms);
        },
    )
    .unwrap()
}

#[tokio::test]
async fn idle_actors_passivate_and_come_back_from_the_store() {
    let world = world_passivating_after(119, 200);
    let created = world.engine.create_order(order(300)).await.unwrap().record;
    assert_eq!(world.engine.live_actors(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(world.engine.live_actors(), 0, "the idle actor passivated");
    // The next command starts a new actor, which loads the order from the store.
    let start = start_attempt(&world, &created.order_no, payer("native", None))
        .await
        .unwrap();
    assert_eq!(world.engine.live_actors(), 1);
    world.payer(&start.out_trade_no, "success").unwrap();
    world.advance(1, 1).await.unwrap();
    assert_eq!(
        world.engine.query(&created.order_no).await.unwrap().state,
        OrderState::Paid
    );
}

#[tokio::test]
async fn an_actor_in_use_outlives_its_idle_period_and_passivates_once_idle() {
    let world = world_passivating_after(122, 400);
    let created = world.engine.create_order(order(300)).await.unwrap().record;
    // A command every 150 ms re-arms the idle check: the actor stays through four periods.
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        world.engine.query(&created.order_no).await.unwrap();
        assert_eq!(world.engine.live_actors(), 1, "an actor in use stays");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert_eq!(world.engine.live_actors(), 0, "an idle actor passivates");
}

#[tokio::test]
async fn after_shutdown_commands_are_refused_and_notifications_get_fail() {
    let world = World::start(120);
    let created = world.engine.create_order(order(300)).await.unwrap().record;
    world.engine.shutdown().await;
    assert!(matches!(
        world.engine.query(&created.order_no).await,
        Err(cashier_engine::EngineError::ShuttingDown)
    ));
    let response = world
        .engine
        .handle_payment_notification(b"<xml><return_code>SUCCESS</return_code></xml>")
        .await;
    assert!(String::from_utf8_lossy(&response.ack).contains("FAIL"));
}

#[tokio::test]
async fn payer_fields_follow_the_trade_type() {
    let world = World::start(121);
    let created = world.engine.create_order(order(300)).await.unwrap().record;
    let missing = start_attempt(&world, &created.order_no, payer("official_account", None)).await;
    assert!(
        matches!(
            missing,
            Err(cashier_engine::EngineError::Rejected(
                cashier_engine::machine::Rejection::PayerRequired
            ))
        ),
        "JSAPI needs the payer's openid: {missing:?}"
    );
    let extra = start_attempt(
        &world,
        &created.order_no,
        payer("native", Some(PAYER_OFFICIAL)),
    )
    .await;
    assert!(
        matches!(
            extra,
            Err(cashier_engine::EngineError::Rejected(
                cashier_engine::machine::Rejection::PayerNotTaken(_)
            ))
        ),
        "NATIVE takes no openid: {extra:?}"
    );
    assert!(world
        .engine
        .query(&created.order_no)
        .await
        .unwrap()
        .attempts
        .is_empty());
}

/// A single-threaded engine runs its actors on the caller's arbiter, so it needs an actix
/// System there; without one it is refused with a typed error, not a panic.
#[test]
fn a_single_threaded_engine_outside_an_actix_system_is_refused() {
    let started = cashier::simulation::SimulatedWorld::start_tuned(
        3,
        std::sync::Arc::new(cashier_engine::store::SledStore::temporary().unwrap()),
        cashier_harness::FaultPlan::none(),
        1,
        |runtime| runtime.single_thread = true,
    );
    let error = started.err().unwrap();
    assert!(error.contains("actix System"), "{error}");
}

/// Inside an actix System on one thread the engine pays an order end to end.
#[test]
fn a_single_threaded_engine_pays_an_order_on_the_callers_thread() {
    actix_rt::System::new().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let world = cashier::simulation::SimulatedWorld::start_tuned(
            3,
            cashier::simulation::SimulatedWorld::open_store_inline(dir.path()).unwrap(),
            cashier_harness::FaultPlan::none(),
            1,
            |runtime| runtime.single_thread = true,
        )
        .unwrap();
        let created = world.engine.create_order(order(500)).await.unwrap().record;
        let start = world
            .engine
            .start_payment(&created.order_no, official_payer())
            .await
            .unwrap();
        world.payer(&start.out_trade_no, "success").unwrap();
        world.advance(2, 1).await.unwrap();
        let paid = world.engine.query(&created.order_no).await.unwrap();
        assert_eq!(paid.state, OrderState::Paid, "{paid:#?}");
        world.engine.shutdown().await;
    });
}
