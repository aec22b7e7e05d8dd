//! 医保 pay 1.0 over real HTTP (issue #7, "done when"): the engine, with its reqwest
//! transport, against `cashier sim`'s server on loopback; the payer's authorisation and
//! confirmation through the simulator's control API, as a tester would drive them; the
//! payinsurance notification delivered over HTTP to the merchant's endpoint. One order is paid,
//! queried and refunded by leg; another expires and is closed at WeChat and revoked at NHSA.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "common/notify_server.rs"]
mod notify_server;

use std::sync::Arc;
use std::time::Duration;

use cashier_adapters::medical::payinsurance::unified_order::MedicalOrderType;
use cashier_adapters::{AmountFen, ApiBase, OpenId, ReqwestTransport, ReqwestTransportConfig};
use cashier_engine::clock::FnClock;
use cashier_engine::config::EngineConfig;
use cashier_engine::model::{Description, MedicalState, OrderState, RefundReason, RequestKey};
use cashier_engine::order_number::{OrderNumber, ProductType};
use cashier_engine::store::{SledStore, Store};
use cashier_engine::{Engine, EngineRuntime, MedicalPaymentRequest, NewOrder, RefundRequest};
use cashier_harness::{HttpSink, SimConfig, SimOptions, Simulator};

const OPENID: &str = "oMiniPayer0000000000000001";

async fn control(sim: &str, route: &str, body: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{sim}/__sim/{route}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or_default()
}

fn engine_over_http(simulator: &Arc<Simulator>, sim: &str, port: u16) -> Engine {
    let simulated = simulator.config().clone();
    let text = include_str!("../fixtures/engine/simulated-world.json")
        .replace("127.0.0.1:9", &format!("127.0.0.1:{port}"))
        .replace("http://sim.invalid", sim);
    let keys = cashier::simulation::simulated_keys(&simulated).unwrap();
    let mut config = EngineConfig::from_json_with_keys(&text, Arc::new(keys)).unwrap();
    let medical = cashier::simulation::simulated_medical_credentials(&simulated).unwrap();
    for entry in &mut config.medical {
        entry.credentials = Some(medical.clone());
    }
    let transport = ReqwestTransport::new(ReqwestTransportConfig::default()).unwrap();
    let mut runtime = EngineRuntime::new(Arc::new(transport), ApiBase::custom(sim.to_owned()));
    let clock = simulator.clone();
    runtime.clock = Arc::new(FnClock(move || clock.now_ms()));
    runtime.background_tick = Some(Duration::from_millis(20));
    let store = Arc::new(SledStore::temporary().unwrap());
    Engine::start(config, store as Arc<dyn Store>, runtime).unwrap()
}

async fn medical_order(engine: &Engine, sim: &str, amount_fen: u64) -> (OrderNumber, String) {
    let order = engine
        .create_order(NewOrder {
            order_no: None,
            product_type: ProductType(2),
            amount: AmountFen::from_fen(amount_fen),
            description: Description::new("仁心医院-挂号").unwrap(),
            payer_unionid: None,
        })
        .await
        .unwrap();
    let authorised = control(
        sim,
        "medical/authorize",
        serde_json::json!({ "openid": OPENID }),
    )
    .await;
    let request = MedicalPaymentRequest {
        entry: "medical_mini_program".into(),
        auth_code: authorised["auth_code"].as_str().unwrap().to_owned(),
        openid: OpenId::new(OPENID).unwrap(),
        order_type: MedicalOrderType::Registration,
        client_ip: "127.0.0.1".parse().unwrap(),
        fee_lines: Vec::new(),
        med_type: None,
    };
    let start = engine
        .start_medical_payment(&order.record.order_no, request)
        .await
        .unwrap();
    let med_trans_id = start
        .pay_url
        .as_str()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    (order.record.order_no, med_trans_id)
}

async fn advance(simulator: &Simulator, sink: &HttpSink, seconds: i64, step_s: i64) {
    let mut left = seconds;
    while left > 0 {
        simulator.advance(step_s.min(left), sink).await;
        left -= step_s;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_medical_order_is_paid_queried_refunded_and_another_expires_over_http() {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(707),
    ));
    let server =
        cashier_harness::server::start(simulator.clone(), "127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
    let sim = server.base_url();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let engine = engine_over_http(&simulator, &sim, port);
    tokio::spawn(notify_server::serve_notifications(engine.clone(), port));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sink = HttpSink::new().unwrap();

    // Paid in the 医保 mini program; the notification comes over HTTP.
    let (paid_no, med_trans_id) = medical_order(&engine, &sim, 60_000).await;
    let answer = control(
        &sim,
        "medical/pay",
        serde_json::json!({ "med_trans_id": med_trans_id, "outcome": "success" }),
    )
    .await;
    assert_eq!(answer["ok"], true, "{answer}");
    advance(&simulator, &sink, 5, 5).await;
    let record = engine.query(&paid_no).await.unwrap();
    assert_eq!(record.state, OrderState::Paid, "{record:#?}");
    let queried = engine
        .query_wechat(&paid_no, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(queried.state, OrderState::Paid);

    // Refunded whole: cash through payinsurance, every part through NHSA 6203 (ALL).
    let refund = RefundRequest {
        key: RequestKey::new("http-refund-1").unwrap(),
        amount: AmountFen::from_fen(60_000),
        reason: RefundReason::new("取消挂号").unwrap(),
    };
    engine.refund(&paid_no, refund).await.unwrap();
    advance(&simulator, &sink, 10, 5).await;
    let record = engine.query(&paid_no).await.unwrap();
    assert_eq!(record.state, OrderState::Refunded, "{record:#?}");

    // Another is never paid: at expiry it is closed at WeChat and revoked at NHSA.
    let (unpaid_no, _) = medical_order(&engine, &sim, 3_000).await;
    advance(&simulator, &sink, 2_000, 100).await;
    let mut record = engine.query(&unpaid_no).await.unwrap();
    for _ in 0..50 {
        if record.state == OrderState::Closed {
            break;
        }
        advance(&simulator, &sink, 60, 60).await;
        record = engine.query(&unpaid_no).await.unwrap();
    }
    assert_eq!(record.state, OrderState::Closed, "{record:#?}");
    assert!(matches!(
        record.medical[0].state,
        MedicalState::Closed { .. }
    ));
    let view = simulator.medical_ledger();
    let revoked = view
        .nhsa_orders
        .values()
        .filter(|order| order.status == 12)
        .count();
    assert_eq!(revoked, 1, "the unpaid pre-settlement is revoked at NHSA");
    let problems: Vec<String> =
        cashier::medical_checks::medical_checks(&engine.orders().unwrap(), &simulator)
            .into_iter()
            .flat_map(|(check, failures)| {
                failures
                    .into_iter()
                    .map(move |failure| format!("{check}: {failure}"))
            })
            .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    engine.shutdown().await;
    server.shutdown().await;
}
