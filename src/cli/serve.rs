//! `cashier serve`: the example hospital. One process runs the engine (on `--data-dir` or a
//! temporary sled store), the simulator as WeChat (in process, real time), the host layer
//! behind axum, and the hospital's pages (`serve_pages/`). Notifications take the real path:
//! the simulator delivers them over HTTP to this server's `/notify/...` endpoints.
//!
//! Outside WeChat there is no `WeixinJSBridge` and no `wx.miniProgram`: in this mode only, the
//! pages load a clearly labelled simulation shim (`/__shim/shim.js`) standing in for WeChat's
//! client; it logs the payer in and pays, cancels or fails through the simulator's control
//! calls under `/__shim/`, so every click goes through the engine as a real payment would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use cashier_adapters::ApiBase;
use cashier_engine::clock::FnClock;
use cashier_engine::store::{SledStore, Store};
use cashier_engine::{Engine, EngineRuntime};
use cashier_harness::{
    ClockMode, HttpSink, PayCommand, SimConfig, SimOptions, SimTransport, Simulator,
};
use cashier_host::{HostConfig, HostCore, LoginApp};

/// The `serve` options.
#[derive(Clone, Debug)]
pub struct ServeArguments {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The engine's store; a temporary directory when absent.
    pub data_dir: Option<std::path::PathBuf>,
    /// The simulator's seed.
    pub seed: u64,
}

/// The staff token of the example (shown on the staff page; a real host reads its own).
pub const STAFF_TOKEN: &str = "staff-token-of-the-example-hospital";

/// The payer the shim logs in as (the default world's insured payer).
const PAYER_UNIONID: &str = "o6_bmasdasdsad6_2sgVt7hMZOPfL";

/// A running example hospital.
pub struct Serving {
    /// The address it listens on.
    pub address: SocketAddr,
    /// The simulator behind it.
    pub simulator: Arc<Simulator>,
    /// The engine behind it.
    pub engine: Engine,
    _store_dir: Option<tempfile::TempDir>,
}

#[derive(Clone)]
struct Shim {
    simulator: Arc<Simulator>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

fn login_apps(simulated: &SimConfig) -> Vec<LoginApp> {
    let secret_of = |appid: &str| {
        simulated
            .merchants
            .iter()
            .flat_map(|merchant| merchant.apps.iter())
            .find(|app| app.appid == appid)
            .and_then(|app| app.secret.clone())
            .unwrap_or_default()
    };
    vec![
        LoginApp {
            name: "official_account".into(),
            appid: "wxd930ea5d5a258f4f".into(),
            secret: secret_of("wxd930ea5d5a258f4f"),
            mini_program: false,
        },
        LoginApp {
            name: "mini_program".into(),
            appid: "wx1f1e2d3c4b5a6978".into(),
            secret: secret_of("wx1f1e2d3c4b5a6978"),
            mini_program: true,
        },
    ]
}

/// The example hospital's host layer over `engine`, with the simulator as WeChat's login
/// endpoints, its session secret and staff token, and its catalogue.
pub fn host_core(
    engine: &Engine,
    simulator: &Arc<Simulator>,
    dir: &std::path::Path,
) -> Result<Arc<HostCore>, String> {
    let host = HostConfig {
        session_secret: format!("example-hospital-session-secret-{}", simulator.seed())
            .into_bytes(),
        staff_token: STAFF_TOKEN.into(),
        login_apps: login_apps(simulator.config()),
        wechat_api_base: "http://sim.invalid".into(),
        secure_cookies: false,
        data_dir: dir.to_path_buf(),
        catalogue: vec![
            ("registration".into(), "普通门诊挂号".into(), 1_000),
            ("clinic".into(), "诊间缴费-检验费".into(), 12_850),
            ("medicine".into(), "药品费".into(), 36_600),
        ],
    };
    let transport = Arc::new(SimTransport::new(simulator.clone()));
    let clock_source = simulator.clone();
    let clock = Arc::new(FnClock(move || clock_source.now_ms()));
    Ok(Arc::new(HostCore::new(
        engine.clone(),
        host,
        transport,
        clock,
    )?))
}

/// Starts the example hospital and returns once it listens.
pub async fn start(arguments: &ServeArguments) -> Result<Serving, String> {
    let simulated = SimConfig::embedded_default().map_err(|error| error.to_string())?;
    let options = SimOptions {
        seed: arguments.seed,
        clock: ClockMode::Real { epoch_ms: now_ms() },
        notification_sign_type: false,
    };
    let simulator = Arc::new(Simulator::new(simulated.clone(), options));
    let listener = tokio::net::TcpListener::bind(arguments.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", arguments.listen))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    let base = format!("http://{address}");
    // The 医保 services are the in-process simulator too (the transport ignores the host).
    let config = crate::simulation::engine_config_at(&simulated, &base, "http://sim.invalid")?;
    let (store_dir, path) = match &arguments.data_dir {
        Some(path) => (None, path.clone()),
        None => {
            let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    };
    let store = Arc::new(SledStore::open(&path.join("engine")).map_err(|error| error.to_string())?);
    let transport = Arc::new(SimTransport::new(simulator.clone()));
    let mut runtime = EngineRuntime::new(transport, ApiBase::production());
    let clock_source = simulator.clone();
    runtime.clock = Arc::new(FnClock(move || clock_source.now_ms()));
    let engine = Engine::start(config, store as Arc<dyn Store>, runtime)
        .map_err(|error| error.to_string())?;
    let core = host_core(&engine, &simulator, &path.join("host"))?;
    let shim = Shim {
        simulator: simulator.clone(),
    };
    let app = axum::Router::new()
        .route(
            "/",
            get(|| async {
                page(
                    "text/html; charset=utf-8",
                    include_str!("serve_pages/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("serve_pages/app.js"),
                )
            }),
        )
        .route(
            "/app.css",
            get(|| async {
                page(
                    "text/css; charset=utf-8",
                    include_str!("serve_pages/app.css"),
                )
            }),
        )
        .route(
            "/__shim/pay-page.js",
            get(|| async {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("../../miniprogram/pages/pay/pay.js"),
                )
            }),
        )
        .route(
            "/__shim/shim.js",
            get(|| async {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("serve_pages/shim.js"),
                )
            }),
        )
        .route("/qr.svg", get(qr_svg))
        .route("/__shim/login", post(shim_login))
        .route("/__shim/pay", post(shim_pay))
        .route("/__shim/medical-authorize", post(shim_medical_authorize))
        .route("/__shim/medical-pay", post(shim_medical_pay))
        .with_state(shim)
        .merge(cashier_host::axum_adapter::router(core));
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(listener, service).await {
            eprintln!("serve: {error}");
        }
    });
    let sink = HttpSink::new()?;
    let deliverer = simulator.clone();
    tokio::spawn(async move {
        loop {
            deliverer.deliver_due(&sink).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Ok(Serving {
        address,
        simulator,
        engine,
        _store_dir: store_dir,
    })
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The Native `code_url` as a QR code the payer scans with WeChat (`?text=`, at most 512 bytes).
async fn qr_svg(
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let text = query.get("text").map(String::as_str).unwrap_or("");
    if text.is_empty() || text.len() > 512 {
        return (StatusCode::BAD_REQUEST, "text: 1 to 512 bytes").into_response();
    }
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build();
            ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

fn shim_error(error: impl std::fmt::Display) -> Response {
    (
        StatusCode::CONFLICT,
        Json(serde_json::json!({ "error": error.to_string() })),
    )
        .into_response()
}

/// The simulated WeChat client logs the payer in through an app: a login code.
async fn shim_login(State(shim): State<Shim>, Json(body): Json<serde_json::Value>) -> Response {
    let appid = body["appid"].as_str().unwrap_or("");
    let config = shim.simulator.config();
    let openid = config
        .payers
        .iter()
        .find(|payer| payer.unionid == PAYER_UNIONID)
        .and_then(|payer| payer.openids.get(appid).cloned());
    let Some(openid) = openid else {
        return shim_error(format!("the example payer has no openid in {appid}"));
    };
    match shim.simulator.login_code(appid, &openid) {
        Ok(code) => Json(serde_json::json!({ "code": code })).into_response(),
        Err(error) => shim_error(error),
    }
}

/// The simulated WeChat client's pay sheet: the payer pays, cancels or fails.
async fn shim_pay(State(shim): State<Shim>, Json(body): Json<serde_json::Value>) -> Response {
    let command = PayCommand {
        out_trade_no: body["out_trade_no"].as_str().map(str::to_owned),
        prepay_id: body["prepay_id"].as_str().map(str::to_owned),
        outcome: body["outcome"].as_str().unwrap_or("").to_owned(),
        bank_type: None,
        coupons: Vec::new(),
    };
    match shim.simulator.pay(&command) {
        Ok(_) => Json(serde_json::json!({ "ok": true })).into_response(),
        Err(error) => shim_error(error),
    }
}

async fn shim_medical_authorize(
    State(shim): State<Shim>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let appid = body["appid"].as_str().unwrap_or("");
    let openid = shim
        .simulator
        .config()
        .payers
        .iter()
        .find(|payer| payer.unionid == PAYER_UNIONID)
        .and_then(|payer| payer.openids.get(appid).cloned())
        .unwrap_or_default();
    Json(serde_json::json!({ "auth_code": shim.simulator.medical_authorize(&openid) }))
        .into_response()
}

async fn shim_medical_pay(
    State(shim): State<Shim>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    use cashier_harness::medical::MedicalPayerAction as Action;
    let action = match body["outcome"].as_str() {
        Some("success") => Action::Pay,
        Some("fail") => Action::Fail,
        _ => Action::Cancel,
    };
    match shim
        .simulator
        .medical_payer(body["med_trans_id"].as_str().unwrap_or(""), action)
    {
        Ok(()) => Json(serde_json::json!({ "ok": true })).into_response(),
        Err(error) => shim_error(error),
    }
}
