//! One life of the engine process in a chaos campaign (`cashier chaos-child`, run by
//! `cashier chaos`): recover on the store, serve WeChat's notifications through the host
//! layer's axum endpoints, and (unless draining) drive orders until killed: payments on every
//! entry, client hints, queries, refunds, and one order in five through 医保. Its clock mirrors
//! the simulator's virtual clock, polled over HTTP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cashier_adapters::medical::payinsurance::unified_order::MedicalOrderType;
use cashier_adapters::{
    AmountFen, ApiBase, ClientIdentity, OpenId, OutTradeNo, ReqwestTransport,
    ReqwestTransportConfig, Transport,
};
use cashier_engine::clock::FnClock;
use cashier_engine::model::{ClientResult, Description, RefundReason, RequestKey};
use cashier_engine::order_number::{OrderNumber, ProductType};
use cashier_engine::store::{SledStore, Store};
use cashier_engine::{
    Engine, EngineRuntime, MedicalPaymentRequest, NewOrder, PaymentRequest, RefundRequest,
};
use cashier_harness::SimConfig;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// One life's options.
#[derive(Clone, Debug)]
pub struct ChildArguments {
    /// The simulator's base URL.
    pub sim: String,
    /// The engine's store.
    pub data_dir: std::path::PathBuf,
    /// Where to serve notifications.
    pub notify_port: u16,
    /// The seed of this life's orders.
    pub seed: u64,
    /// Recovery only: drive no new orders.
    pub drain: bool,
    /// Arms the engine's failpoints with this seed (builds with the `chaos` feature only).
    pub failpoints: Option<u64>,
    /// Soak: start orders at this rate per second (open loop) instead of one after another,
    /// and print a line of figures to stderr every minute.
    pub soak_rate: Option<u32>,
}

/// Failpoint hits that abort, per million: about one abort in a half-second life under load.
const FAILPOINT_PER_MILLION: u32 = 3_000;

async fn control(
    http: &ReqwestTransport,
    sim: &str,
    route: &str,
    body: serde_json::Value,
) -> Option<serde_json::Value> {
    let request = cashier_adapters::HttpRequest {
        method: "POST",
        url: format!("{sim}/__sim/{route}"),
        path: format!("/__sim/{route}"),
        headers: vec![("Content-Type", "application/json".into())],
        body: body.to_string().into_bytes(),
        needs_client_certificate: false,
    };
    let response = http.send(request).await.ok()?;
    serde_json::from_slice(&response.body).ok()
}

fn clock_of(sim: &str) -> Option<i64> {
    use std::io::{Read, Write};
    let address = sim.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET /__sim/clock HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let value: serde_json::Value = serde_json::from_str(response.split("\r\n\r\n").nth(1)?).ok()?;
    value["now_ms"].as_i64()
}

/// Runs one life until the process is killed.
pub async fn run(arguments: ChildArguments) -> Result<(), String> {
    let now = Arc::new(AtomicI64::new(
        clock_of(&arguments.sim).ok_or("the simulator's clock cannot be read")?,
    ));
    let (poll, poll_sim) = (now.clone(), arguments.sim.clone());
    std::thread::spawn(move || loop {
        if let Some(value) = clock_of(&poll_sim) {
            poll.store(value, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(10));
    });
    if let Some(seed) = arguments.failpoints {
        cashier_engine::failpoints::arm(seed, FAILPOINT_PER_MILLION);
    }
    let simulated = SimConfig::embedded_default().map_err(|error| error.to_string())?;
    let notify_base = format!("http://127.0.0.1:{}", arguments.notify_port);
    let config = crate::simulation::engine_config_at(&simulated, &notify_base, &arguments.sim)?;
    let pki = cashier_harness::tls::TestPki::generate().map_err(|error| error.to_string())?;
    let identity = ClientIdentity::from_pem(
        pki.client_certificate_pem.as_bytes(),
        pki.client_key_pem.as_bytes(),
    );
    let transport = Arc::new(
        ReqwestTransport::new(ReqwestTransportConfig {
            timeout_ms: 2_000,
            client_identity: Some(identity),
            ..ReqwestTransportConfig::default()
        })
        .map_err(|error| error.to_string())?,
    );
    let mut runtime = EngineRuntime::new(transport.clone(), ApiBase::custom(arguments.sim.clone()));
    let clock = now.clone();
    let clock = Arc::new(FnClock(move || clock.load(Ordering::SeqCst)));
    runtime.clock = clock.clone();
    runtime.background_tick = Some(Duration::from_millis(20));
    runtime.arbiters = 2;
    let store = Arc::new(SledStore::open(&arguments.data_dir).map_err(|error| error.to_string())?);
    let engine = Engine::start(config, store as Arc<dyn Store>, runtime)
        .map_err(|error| error.to_string())?;
    let host = cashier_host::HostConfig {
        session_secret: b"chaos-child-session-secret-0123456789".to_vec(),
        staff_token: String::new(),
        login_apps: Vec::new(),
        wechat_api_base: arguments.sim.clone(),
        secure_cookies: false,
        data_dir: arguments.data_dir.join("host"),
        catalogue: Vec::new(),
    };
    let core = Arc::new(cashier_host::HostCore::new(
        engine.clone(),
        host,
        transport.clone(),
        clock,
    )?);
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], arguments.notify_port)))
            .await
            .map_err(|error| error.to_string())?;
    let router = cashier_host::axum_adapter::router(core);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    if arguments.drain {
        // Recovery only: the background timer resumes every order from its deadlines.
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    match arguments.soak_rate {
        Some(rate) => {
            crate::cli::soak_child::drive(
                engine,
                transport,
                arguments.sim.clone(),
                arguments.seed,
                rate,
            )
            .await
        }
        None => drive(&engine, &transport, &arguments.sim, arguments.seed).await,
    }
    Ok(())
}

const ENTRIES: [(&str, Option<&str>); 4] = [
    ("official_account", Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")),
    ("app", None),
    ("native", None),
    ("mini_program", Some("oMiniPayer0000000000000001")),
];

async fn new_order(engine: &Engine, amount_fen: u64, product: u8) -> Option<OrderNumber> {
    let order = engine
        .create_order(NewOrder {
            order_no: None,
            product_type: ProductType(product),
            amount: AmountFen::from_fen(amount_fen),
            description: Description::new("崩溃测试").ok()?,
            payer_unionid: None,
        })
        .await
        .ok()?;
    Some(order.record.order_no)
}

async fn refund_all_or_half(engine: &Engine, order_no: &OrderNumber, amount_fen: u64) {
    if let (Ok(key), Ok(reason)) = (
        RequestKey::new(format!("crash-{order_no}")),
        RefundReason::new("崩溃测试退款"),
    ) {
        let request = RefundRequest {
            key,
            amount: AmountFen::from_fen(amount_fen),
            reason,
        };
        let _ = engine.refund(order_no, request).await;
    }
}

async fn drive(engine: &Engine, http: &ReqwestTransport, sim: &str, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    loop {
        one_order(engine, http, sim, &mut rng).await;
    }
}

/// One order of the mix: one in five through 医保, the rest on a random entry, 80% paid and
/// half of those half refunded. Returns how long `start_payment` took (WeChat Pay orders).
pub(crate) async fn one_order(
    engine: &Engine,
    http: &ReqwestTransport,
    sim: &str,
    rng: &mut ChaCha8Rng,
) -> Option<Duration> {
    let amount_fen = 100 + u64::from(rng.next_u32() % 10_000);
    if rng.next_u32() % 5 == 0 {
        drive_medical(engine, http, sim, amount_fen * 10).await;
        return None;
    }
    let (entry, openid) = ENTRIES[(rng.next_u32() % 4) as usize];
    let order_no = new_order(engine, amount_fen, 1).await?;
    let request = PaymentRequest {
        entry: entry.into(),
        openid: openid.and_then(|openid| OpenId::new(openid).ok()),
        client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    };
    let asked = std::time::Instant::now();
    let out_trade_no: OutTradeNo = match engine.start_payment(&order_no, request).await {
        Ok(start) => start.out_trade_no,
        Err(cashier_engine::EngineError::PaymentNotReady { out_trade_no, .. }) => out_trade_no,
        Err(_) => return None,
    };
    let start_payment = asked.elapsed();
    if rng.next_u32() % 10 < 8 {
        let _ = control(
            http,
            sim,
            "pay",
            serde_json::json!({ "out_trade_no": out_trade_no.as_str(), "outcome": "success" }),
        )
        .await;
        // The client's hint starts a query; asking WeChat now waits for its answer.
        let _ = engine
            .report_client_result(&out_trade_no, ClientResult::Ok)
            .await;
        let paid = engine.query_wechat(&order_no, Duration::from_secs(2)).await;
        if paid.is_ok_and(|record| record.state.is_paid()) && rng.next_u32() % 2 == 0 {
            refund_all_or_half(engine, &order_no, amount_fen / 2).await;
        }
    }
    Some(start_payment)
}

/// A 医保 order: the payer authorises, the engine pre-settles and orders, the payer pays in the
/// 医保 mini program, and the whole payment is refunded.
async fn drive_medical(engine: &Engine, http: &ReqwestTransport, sim: &str, amount_fen: u64) {
    let openid = "oMiniPayer0000000000000001";
    let Some(order_no) = new_order(engine, amount_fen, 2).await else {
        return;
    };
    let authorised = control(
        http,
        sim,
        "medical/authorize",
        serde_json::json!({ "openid": openid }),
    )
    .await;
    let Some(auth_code) = authorised.and_then(|body| body["auth_code"].as_str().map(str::to_owned))
    else {
        return;
    };
    let Ok(openid) = OpenId::new(openid) else {
        return;
    };
    let request = MedicalPaymentRequest {
        entry: "medical_mini_program".into(),
        auth_code,
        openid,
        order_type: MedicalOrderType::Registration,
        client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        fee_lines: Vec::new(),
        med_type: None,
    };
    let Ok(start) = engine.start_medical_payment(&order_no, request).await else {
        return;
    };
    let med_trans_id = start
        .pay_url
        .as_str()
        .rsplit('=')
        .next()
        .unwrap_or("")
        .to_owned();
    let _ = control(
        http,
        sim,
        "medical/pay",
        serde_json::json!({ "med_trans_id": med_trans_id, "outcome": "success" }),
    )
    .await;
    let paid = engine.query_wechat(&order_no, Duration::from_secs(2)).await;
    if paid.is_ok_and(|record| record.state.is_paid()) {
        refund_all_or_half(engine, &order_no, amount_fen).await;
    }
}
