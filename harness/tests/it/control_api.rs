//! The JSON control API under /__sim/ and notification delivery over HTTP to a loopback
//! merchant (and never to a host that is not loopback).

use cashier_adapters::notify::ack::ACK_SUCCESS;
use cashier_adapters::SignType;

use crate::merchant::Merchant;
use crate::support::*;

async fn post_json(world: &World, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(world.url(path))
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

async fn get_json(world: &World, path: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(world.url(path)).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn control_api_pays_advances_lists_and_resets() {
    let world = World::start(80).await;
    let merchant_server = Merchant::start(|count| {
        if count >= 2 {
            (200, ACK_SUCCESS)
        } else {
            (500, b"down")
        }
    })
    .await;
    let mut request = jsapi("CONTROL0001", 888);
    request.notify_url = merchant_server.notify_url();
    let reply = world.call(&direct(SignType::Md5), &request).await.unwrap();

    let (status, order) = post_json(&world, "/__sim/pay", serde_json::json!({ "prepay_id": reply.prepay_id.as_str(), "outcome": "success", "bank_type": "ICBC_DEBIT" })).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["trade_state"], "SUCCESS");
    let (status, _) = post_json(
        &world,
        "/__sim/pay",
        serde_json::json!({ "out_trade_no": "CONTROL0001", "outcome": "success" }),
    )
    .await;
    assert_eq!(status, 409, "paying twice is refused");
    let (status, _) = post_json(
        &world,
        "/__sim/pay",
        serde_json::json!({ "out_trade_no": "NOPE", "outcome": "success" }),
    )
    .await;
    assert_eq!(status, 404);

    // The first delivery fails (HTTP 500), the retry 15 s later is acknowledged.
    let (status, advanced) = post_json(
        &world,
        "/__sim/clock/advance",
        serde_json::json!({ "seconds": 20 }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(advanced["now_ms"].as_i64().unwrap() >= cashier_harness::DEFAULT_EPOCH_MS + 20_000);
    assert_eq!(merchant_server.count(), 2);
    let (_, notifications) = get_json(&world, "/__sim/notifications").await;
    let log = notifications["log"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["status"], 500);
    assert_eq!(log[1]["acknowledged"], true);

    let (status, orders) = get_json(&world, "/__sim/orders/CONTROL0001").await;
    assert_eq!(status, 200);
    assert_eq!(orders[0]["order"]["bank_type"], "ICBC_DEBIT");

    let (status, _) = post_json(&world, "/__sim/faults", serde_json::json!({ "rules": [{ "target": "unifiedorder", "fault": { "kind": "system_error" }, "next": 1 }] })).await;
    assert_eq!(status, 200);
    assert_eq!(
        err_code(
            &world
                .call(&direct(SignType::Md5), &jsapi("CONTROL0002", 1))
                .await
        ),
        "SYSTEMERROR"
    );
    assert!(world
        .call(&direct(SignType::Md5), &jsapi("CONTROL0002", 1))
        .await
        .is_ok());
    let (status, _) = post_json(&world, "/__sim/faults", serde_json::json!({ "rules": [{ "target": "nowhere", "fault": { "kind": "system_error" }, "next": 1 }] })).await;
    assert_eq!(status, 400);

    let (status, _) = post_json(&world, "/__sim/reset", serde_json::json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = get_json(&world, "/__sim/orders/CONTROL0001").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn notifications_are_never_sent_to_hosts_that_are_not_loopback() {
    let world = World::start(81).await;
    let mut request = jsapi("CONTROL0003", 888);
    request.notify_url = "https://pay.example.com/wechat/notify".into();
    world.call(&direct(SignType::Md5), &request).await.unwrap();
    world.pay("CONTROL0003");
    world
        .simulator
        .deliver_due(&cashier_harness::HttpSink::new().unwrap())
        .await;
    let log = world.simulator.delivery_log();
    assert!(
        log[0]
            .error
            .as_deref()
            .unwrap()
            .contains("is not a loopback address"),
        "{log:?}"
    );
    assert!(cashier_harness::transport::is_loopback_url(
        "http://127.0.0.1:8080/x"
    ));
    assert!(cashier_harness::transport::is_loopback_url(
        "http://localhost/x"
    ));
    assert!(cashier_harness::transport::is_loopback_url(
        "http://[::1]:1/x"
    ));
    assert!(!cashier_harness::transport::is_loopback_url(
        "http://10.0.0.1/x"
    ));
}

#[tokio::test]
async fn faults_endpoint_failures_take_effect_or_not_as_declared() {
    let world = World::with_timeout(82, 500).await;
    let merchant = direct(SignType::Md5);
    let plan = |kind: serde_json::Value| serde_json::json!({ "rules": [{ "target": "unifiedorder", "fault": kind, "next": 1 }] });
    // Reply lost: applied, but the client times out; the order exists.
    post_json(
        &world,
        "/__sim/faults",
        plan(serde_json::json!({ "kind": "reply_lost" })),
    )
    .await;
    let lost = world.call(&merchant, &jsapi("FAULT00001", 1)).await;
    assert!(
        lost.as_ref().is_err_and(|error| error.outcome_unknown()),
        "{lost:?}"
    );
    assert!(world
        .simulator
        .ledger()
        .orders
        .values()
        .any(|order| order.key.out_trade_no == "FAULT00001"));
    // 5xx and reset: not applied.
    post_json(
        &world,
        "/__sim/faults",
        plan(serde_json::json!({ "kind": "http5xx", "status": 503 })),
    )
    .await;
    assert!(matches!(
        world.call(&merchant, &jsapi("FAULT00002", 1)).await,
        Err(cashier_adapters::WechatError::HttpStatus { status: 503 })
    ));
    post_json(
        &world,
        "/__sim/faults",
        plan(serde_json::json!({ "kind": "connection_reset" })),
    )
    .await;
    assert!(world
        .call(&merchant, &jsapi("FAULT00003", 1))
        .await
        .is_err());
    let names: Vec<String> = world
        .simulator
        .ledger()
        .orders
        .values()
        .map(|order| order.key.out_trade_no.clone())
        .collect();
    assert_eq!(names, ["FAULT00001"]);
    // Slow reply beyond the client's timeout: applied, outcome unknown.
    post_json(
        &world,
        "/__sim/faults",
        plan(serde_json::json!({ "kind": "slow_reply", "delay_ms": 1500 })),
    )
    .await;
    assert!(world
        .call(&merchant, &jsapi("FAULT00004", 1))
        .await
        .is_err());
    assert_eq!(world.simulator.ledger().orders.len(), 2);
}

/// 医保 control calls (issue #7): a payer authorises (→ authCode), pays or backs out of a
/// medical order; `GET /__sim/medical` shows NHSA orders, payinsurance orders and balances.
#[tokio::test]
async fn medical_control_calls_authorise_and_act_for_the_payer() {
    let world = World::start(71).await;
    let (status, answer) = post_json(
        &world,
        "/__sim/medical/authorize",
        serde_json::json!({ "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        answer["auth_code"]
            .as_str()
            .is_some_and(|code| code.starts_with("AC")),
        "{answer}"
    );
    let (status, _) = post_json(
        &world,
        "/__sim/medical/pay",
        serde_json::json!({ "med_trans_id": "MEDNONE", "outcome": "success" }),
    )
    .await;
    assert_eq!(status, 409, "no such medical order");
    let (status, _) = post_json(
        &world,
        "/__sim/medical/pay",
        serde_json::json!({ "med_trans_id": "MEDNONE", "outcome": "maybe" }),
    )
    .await;
    assert_eq!(status, 400);
    let (status, view) = get_json(&world, "/__sim/medical").await;
    assert_eq!(status, 200);
    assert!(
        view["orders"]
            .as_object()
            .is_some_and(|orders| orders.is_empty()),
        "{view}"
    );
}
