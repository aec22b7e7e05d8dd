//! 医保 pay 1.0 through the engine against the in-process simulator (issue #7): authorisation
//! (yibao-pay.md §3), NHSA pre-settlement with the computed split (§4, §9), the payinsurance
//! order and the jump (§7.2, §2.2), the notification and the query deciding (§7.3), refunds by
//! leg with the insurance parts whole (§4.3, §7.5), expiry closing at WeChat and revoking at
//! NHSA (§4.1 6401), and bad input changing nothing.

use cashier_adapters::medical::nhsa::Split;
use cashier_adapters::medical::payinsurance::unified_order::MedicalOrderType;
use cashier_adapters::{AmountFen, OpenId};
use cashier_engine::machine::{check_invariants, Rejection};
use cashier_engine::model::{AlertKind, LegState, MedicalState, OrderState};
use cashier_engine::order_number::OrderNumber;
use cashier_engine::{
    EngineError, MedicalPaymentRequest, MedicalPaymentStart, NotificationVerdict,
};
use cashier_harness::medical::MedicalPayerAction;
use cashier_harness::{Fault, FaultPlan, FaultRule};

use crate::support::*;

fn fen(amount: u64) -> AmountFen {
    AmountFen::from_fen(amount)
}

fn medical_request(world: &World, entry: &str, openid: &str) -> MedicalPaymentRequest {
    // The payer authorises in the 医保 auth mini program (the control API stands in for it).
    let auth_code = world.simulator.medical_authorize(openid);
    MedicalPaymentRequest {
        entry: entry.into(),
        auth_code,
        openid: OpenId::new(openid).unwrap(),
        order_type: MedicalOrderType::Clinic,
        client_ip: "123.12.12.123".parse().unwrap(),
        fee_lines: Vec::new(),
        med_type: None,
    }
}

async fn medical_order(world: &World, amount_fen: u64) -> (OrderNumber, MedicalPaymentStart) {
    let order_no = world
        .engine
        .create_order(order(amount_fen))
        .await
        .unwrap()
        .record
        .order_no;
    let request = medical_request(world, "medical_mini_program", PAYER_MINI);
    let start = world
        .engine
        .start_medical_payment(&order_no, request)
        .await
        .unwrap();
    (order_no, start)
}

fn med_trans_id(start: &MedicalPaymentStart) -> String {
    start
        .pay_url
        .as_str()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned()
}

fn nhsa_view(world: &World) -> serde_json::Value {
    world.simulator.medical_view()
}

#[tokio::test]
async fn section_2_2_a_paid_medical_order_keeps_nhsa_split_and_the_jump_carries_pay_appid_and_pay_url(
) {
    let world = World::start(71);
    // 600.00 yuan: deductible 10.00, fund 60% of the rest, the account's 200.00, cash the rest.
    let (order_no, start) = medical_order(&world, 60_000).await;
    assert_eq!(
        start.split,
        Split::new(fen(60_000), fen(35_400), fen(20_000), fen(4_600)).unwrap()
    );
    assert_eq!(start.pay_appid.as_str(), "wxe1022cca111d18be");
    let bridge = start.bridge_url.clone().unwrap();
    assert!(bridge.starts_with("/pages/pay/pay?type=2&appid=wxe1022cca111d18be&payUrl=pages%2Fpay%2Findex%3FmedTransId%3D"), "{bridge}");
    assert_eq!(
        world.engine.query(&order_no).await.unwrap().state,
        OrderState::Paying
    );

    world
        .simulator
        .medical_payer(&med_trans_id(&start), MedicalPayerAction::Pay)
        .unwrap();
    world.advance(5).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Paid);
    let attempt = &record.medical[0];
    assert_eq!(attempt.paid_split(), Some(&start.split));
    // The payAuthNo is gone with the states that needed it, and from the audit trail.
    let stored = format!("{record:?}{:?}", world.engine.events(&order_no).unwrap());
    let view = nhsa_view(&world);
    let order = view["nhsa_orders"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(order["status"], 6, "settled at NHSA");
    assert!(!stored.contains("AUTH"), "payAuthNo kept: {stored}");
    check_invariants(&record).unwrap();
}

#[tokio::test]
async fn section_3_a_used_auth_code_is_refused_and_changes_nothing() {
    let world = World::start(72);
    let order_no = world
        .engine
        .create_order(order(3_000))
        .await
        .unwrap()
        .record
        .order_no;
    let request = medical_request(&world, "medical_mini_program", PAYER_MINI);
    world
        .engine
        .start_medical_payment(&order_no, request.clone())
        .await
        .unwrap();
    let before = world.engine.query(&order_no).await.unwrap();
    let replay = world.engine.start_medical_payment(&order_no, request).await;
    assert!(
        matches!(replay, Err(EngineError::MedicalAuthorisation { .. })),
        "{replay:?}"
    );
    assert_eq!(world.engine.query(&order_no).await.unwrap(), before);
    // A payer who is not insured never gets a payAuthNo either.
    let uninsured = medical_request(&world, "medical_mini_program", "oMiniPayer0000000000000002");
    let refused = world
        .engine
        .start_medical_payment(&order_no, uninsured)
        .await;
    assert!(
        matches!(refused, Err(EngineError::MedicalAuthorisation { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn section_7_3_a_late_notification_is_overtaken_by_the_query_ladder() {
    let world = World::start(73);
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![FaultRule {
                target: "medical_notification".into(),
                fault: Fault::Delay { seconds: 600 },
                probability: Some(1.0),
                next: None,
            }],
        })
        .unwrap();
    let (order_no, start) = medical_order(&world, 3_000).await;
    world
        .simulator
        .medical_payer(&med_trans_id(&start), MedicalPayerAction::Pay)
        .unwrap();
    world.advance(60).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Paid, "{record:#?}");
    assert!(
        record.medical[0].queries >= 1,
        "{record:#?} {:#?}",
        world.engine.events(&order_no).unwrap()
    );
}

#[tokio::test]
async fn section_7_3_a_forged_split_is_refused_with_an_alert_and_the_true_one_applies() {
    let world = World::start(74);
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![FaultRule {
                target: "medical_notification".into(),
                fault: Fault::ForgeAmount,
                probability: Some(1.0),
                next: None,
            }],
        })
        .unwrap();
    let (order_no, start) = medical_order(&world, 60_000).await;
    world
        .simulator
        .medical_payer(&med_trans_id(&start), MedicalPayerAction::Pay)
        .unwrap();
    world.advance(5).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Paid);
    assert!(record
        .alerts
        .iter()
        .any(|alert| alert.kind == AlertKind::ConflictingNotification));
    // Garbage and unknown orders: FAIL, nothing changed.
    let garbage = world
        .engine
        .handle_medical_notification(b"<xml><a>1</b></xml>")
        .await;
    assert!(matches!(garbage.verdict, NotificationVerdict::Rejected(_)));
    let unknown = world
        .engine
        .handle_medical_notification(
            b"<xml><hosp_out_trade_no>00000000000000000000000000000</hosp_out_trade_no></xml>",
        )
        .await;
    assert!(matches!(unknown.verdict, NotificationVerdict::Rejected(_)));
    assert_eq!(world.engine.query(&order_no).await.unwrap(), record);
}

#[tokio::test]
async fn section_4_3_cash_refunds_partly_the_insurance_goes_back_whole_and_the_account_is_restored()
{
    let world = World::start(75);
    let (order_no, start) = medical_order(&world, 60_000).await;
    world
        .simulator
        .medical_payer(&med_trans_id(&start), MedicalPayerAction::Pay)
        .unwrap();
    world.advance(5).await;
    let balance = |world: &World| {
        nhsa_view(world)["balances"]["o6_bmasdasdsad6_2sgVt7hMZOPfL"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(balance(&world), 0, "the account paid 200.00");
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(
        record.state,
        OrderState::Paid,
        "{record:#?} {:#?}",
        world.engine.events(&order_no).unwrap()
    );

    // More than the cash but not everything: the insurance parts go back whole.
    let shape = world
        .engine
        .refund(&order_no, refund_request("r-mixed", 10_000, "退号"))
        .await;
    assert!(
        matches!(
            shape,
            Err(EngineError::Rejected(Rejection::MedicalRefundShape {
                cash_left_fen: 4_600,
                total_left_fen: 60_000
            }))
        ),
        "{shape:?}"
    );
    // Part of the cash, twice with one key: one refund.
    let first = refund(&world, &order_no, 1_000, "部分退费").await.unwrap();
    let again = refund(&world, &order_no, 1_000, "部分退费").await.unwrap();
    assert_eq!(first, again);
    world.advance(5).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::PartiallyRefunded);
    // Everything left now mixes the insurance with part of the cash: 6203 CASH and HI.
    let between = world
        .engine
        .refund(&order_no, refund_request("r-between", 50_000, "退号"))
        .await;
    assert!(
        matches!(
            between,
            Err(EngineError::Rejected(Rejection::MedicalRefundShape {
                cash_left_fen: 3_600,
                total_left_fen: 59_000
            }))
        ),
        "{between:?}"
    );
    refund(&world, &order_no, 59_000, "退号").await.unwrap();
    world.advance(5).await;
    let rest = world.engine.query(&order_no).await.unwrap();
    let legs = &rest.medical[0].refunds[1].nhsa_legs;
    assert_eq!(legs.len(), 2, "{legs:?}");
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Refunded, "{record:#?}");
    assert!(record.medical[0]
        .refunds
        .iter()
        .all(|refund| refund.succeeded()));
    assert_eq!(balance(&world), 20_000, "the account got its 200.00 back");
    let nhsa = nhsa_view(&world);
    let order = nhsa["nhsa_orders"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(order["status"], 7, "everything refunded at NHSA");
    check_invariants(&record).unwrap();
}

#[tokio::test]
async fn section_7_5_err_code_556_is_retried_until_the_refund_goes_through() {
    let world = World::start(76);
    let (order_no, start) = medical_order(&world, 60_000).await;
    world
        .simulator
        .medical_payer(&med_trans_id(&start), MedicalPayerAction::Pay)
        .unwrap();
    world.advance(5).await;
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![FaultRule {
                target: "payinsurance_refund".into(),
                fault: Fault::InsuranceOutage,
                probability: None,
                next: Some(2),
            }],
        })
        .unwrap();
    refund(&world, &order_no, 60_000, "全额退费").await.unwrap();
    world.advance(5).await;
    let pending = world.engine.query(&order_no).await.unwrap();
    let refund_record = &pending.medical[0].refunds[0];
    assert_eq!(
        refund_record.cash_leg,
        Some(LegState::Sending),
        "556 is transient"
    );
    world.advance(300).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Refunded, "{record:#?}");
    check_invariants(&record).unwrap();
}

#[tokio::test]
async fn section_4_1_an_unpaid_medical_order_is_closed_at_wechat_and_revoked_at_nhsa_at_expiry() {
    let world = World::start(77);
    let (order_no, start) = medical_order(&world, 3_000).await;
    // The payer backs out in the 医保 mini program: nothing changes.
    world
        .simulator
        .medical_payer(&med_trans_id(&start), MedicalPayerAction::Cancel)
        .unwrap();
    world.advance(60).await;
    assert_eq!(
        world.engine.query(&order_no).await.unwrap().state,
        OrderState::Paying
    );
    world.advance(1_900).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Closed, "{record:#?}");
    assert!(matches!(
        record.medical[0].state,
        MedicalState::Closed { .. }
    ));
    let view = nhsa_view(&world);
    let nhsa = view["nhsa_orders"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(nhsa["status"], 12, "revoked at NHSA");
    let wechat = view["orders"].as_object().unwrap().values().next().unwrap();
    assert_eq!(wechat["state"], "CLOSED");
    check_invariants(&record).unwrap();
}

#[tokio::test]
async fn a_medical_payment_racing_a_wechat_payment_is_refunded_whole_automatically() {
    let world = World::start(78);
    let order_no = world
        .engine
        .create_order(order(60_000))
        .await
        .unwrap()
        .record
        .order_no;
    let request = medical_request(&world, "medical_official_account", PAYER_OFFICIAL);
    let medical = world
        .engine
        .start_medical_payment(&order_no, request)
        .await
        .unwrap();
    assert!(
        medical.bridge_url.is_none(),
        "the official account redirects to pay_url"
    );
    let wechat = world
        .engine
        .start_payment(&order_no, payer("official_account", Some(PAYER_OFFICIAL)))
        .await
        .unwrap();
    // The payer pays both before either notification arrives.
    world.pay(&wechat.out_trade_no);
    world
        .simulator
        .medical_payer(&med_trans_id(&medical), MedicalPayerAction::Pay)
        .unwrap();
    world.advance(30).await;
    let record = world.engine.query(&order_no).await.unwrap();
    assert_eq!(record.state, OrderState::Paid, "{record:#?}");
    assert!(record
        .alerts
        .iter()
        .any(|alert| alert.kind == AlertKind::DuplicatePayment));
    let automatic = record.medical_refunds().count() + record.refunds.len();
    assert_eq!(
        automatic, 1,
        "one of the two payments goes back: {record:#?}"
    );
    check_invariants(&record).unwrap();
}

#[tokio::test]
async fn section_7_3_a_notification_with_a_bad_sign_gets_fail_and_changes_nothing() {
    let world = World::start(79);
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![FaultRule {
                target: "medical_notification".into(),
                fault: Fault::TamperSign,
                probability: Some(1.0),
                next: None,
            }],
        })
        .unwrap();
    let (order_no, start) = medical_order(&world, 3_000).await;
    world
        .simulator
        .medical_payer(&med_trans_id(&start), MedicalPayerAction::Pay)
        .unwrap();
    world.advance(5).await;
    let record = world.engine.query(&order_no).await.unwrap();
    // The tampered copy was refused without an alert (anyone can send garbage); the true one
    // that followed it paid the order.
    assert_eq!(record.state, OrderState::Paid);
    assert!(record.alerts.is_empty(), "{:?}", record.alerts);
    assert!(world.engine.metrics().medical_notifications_rejected >= 1);
}
