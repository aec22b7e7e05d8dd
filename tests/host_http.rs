//! The host layer behind both frameworks (issue #8): axum and actix-web serve the same core, so
//! every request answers the same way through either; bad input on every kind of endpoint
//! (oversized, slow or non-JSON bodies, bad JSON, unknown orders, another payer's order, a
//! replayed or invalid login code, a forged notification, a missing staff credential) gets a
//! clear JSON error or WeChat's FAIL, changes nothing and holds nothing; a payment notified
//! over HTTP through the axum endpoint pays the order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cashier::simulation::SimulatedWorld;
use cashier_engine::clock::FnClock;
use cashier_engine::store::SledStore;
use cashier_harness::{FaultPlan, HttpSink, SimConfig, SimOptions, SimTransport, Simulator};
use cashier_host::{HostConfig, HostCore, LoginApp};

const OA_APPID: &str = "wxd930ea5d5a258f4f";
const PAYER: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const OTHER_PAYER: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6p";

struct Hosts {
    axum: SocketAddr,
    actix: SocketAddr,
    world: SimulatedWorld,
    _dir: tempfile::TempDir,
}

async fn start() -> Hosts {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(88),
    ));
    let axum_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum_address = axum_listener.local_addr().unwrap();
    let text = include_str!("../fixtures/engine/simulated-world.json").replace(
        "http://127.0.0.1:9/wechat/pay-notify",
        &format!("http://{axum_address}/notify/pay"),
    );
    let keys = cashier::simulation::simulated_keys(simulator.config()).unwrap();
    let mut config =
        cashier_engine::config::EngineConfig::from_json_with_keys(&text, Arc::new(keys)).unwrap();
    let medical = cashier::simulation::simulated_medical_credentials(simulator.config()).unwrap();
    for entry in &mut config.medical {
        entry.credentials = Some(medical.clone());
    }
    let world = SimulatedWorld::with_simulator(
        simulator.clone(),
        config,
        Arc::new(SledStore::temporary().unwrap()),
        88,
        2,
        |_| {},
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = |appid: &str| {
        simulator
            .config()
            .merchants
            .iter()
            .flat_map(|merchant| merchant.apps.iter())
            .find(|app| app.appid == appid)
            .and_then(|app| app.secret.clone())
            .unwrap()
    };
    let clock_source = simulator.clone();
    let core = Arc::new(
        HostCore::new(
            world.engine.clone(),
            HostConfig {
                session_secret: b"host-http-test-session-secret-0123456789".to_vec(),
                staff_token: "staff-secret".into(),
                login_apps: vec![LoginApp {
                    name: "official_account".into(),
                    appid: OA_APPID.into(),
                    secret: secret(OA_APPID),
                    mini_program: false,
                }],
                wechat_api_base: "http://sim.invalid".into(),
                secure_cookies: false,
                data_dir: dir.path().join("host"),
                catalogue: vec![("registration".into(), "挂号".into(), 1_000)],
            },
            Arc::new(SimTransport::new(simulator.clone())),
            Arc::new(FnClock(move || clock_source.now_ms())),
        )
        .unwrap(),
    );
    let router = cashier_host::axum_adapter::router(core.clone());
    tokio::spawn(async move {
        axum::serve(
            axum_listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new()
                    .configure(cashier_host::actix_adapter::configure(core.clone()))
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
            sender.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    let actix = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    Hosts {
        axum: axum_address,
        actix,
        world,
        _dir: dir,
    }
}

/// One raw HTTP/1.1 exchange: (status, body).
fn raw(address: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

fn json_code(body: &str) -> String {
    // Chunked bodies (actix) carry size lines around the JSON.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |end| end + 1);
    let value: serde_json::Value = serde_json::from_str(&body[start..end]).unwrap_or_default();
    value["code"].as_str().unwrap_or("").to_owned()
}

fn cookie_of(address: SocketAddr, code: &str) -> Option<String> {
    let body = format!(r#"{{"app":"official_account","code":"{code}"}}"#);
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .write_all(
            request(
                "POST",
                "/api/login/oauth",
                &[("Content-Type", "application/json")],
                &body,
            )
            .as_bytes(),
        )
        .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with("set-cookie:"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, value)| value.trim().split(';').next().unwrap_or("").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_frameworks_answer_alike_and_bad_input_changes_nothing() {
    let hosts = start().await;
    let simulator = hosts.world.simulator.clone();
    simulator.set_fault_plan(FaultPlan::none()).unwrap();
    for address in [hosts.axum, hosts.actix] {
        // Logins: a code works once; replayed → code_used; garbage → invalid_code.
        let code = simulator.login_code(OA_APPID, PAYER).unwrap();
        let cookie = cookie_of(address, &code).expect("a session cookie");
        let replay = raw(
            address,
            &request(
                "POST",
                "/api/login/oauth",
                &[("Content-Type", "application/json")],
                &format!(r#"{{"app":"official_account","code":"{code}"}}"#),
            ),
        );
        assert_eq!(
            (replay.0, json_code(&replay.1)),
            (401, "code_used".into()),
            "{address}"
        );
        let garbage = raw(
            address,
            &request(
                "POST",
                "/api/login/oauth",
                &[("Content-Type", "application/json")],
                r#"{"app":"official_account","code":"nope"}"#,
            ),
        );
        assert_eq!(
            (garbage.0, json_code(&garbage.1)),
            (401, "invalid_code".into())
        );

        let with_cookie = [
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        let created = raw(
            address,
            &request(
                "POST",
                "/api/orders",
                &with_cookie,
                r#"{"item":"registration"}"#,
            ),
        );
        assert_eq!(created.0, 201, "{}", created.1);
        let start = created.1.find('{').unwrap();
        let order: serde_json::Value =
            serde_json::from_str(&created.1[start..=created.1.rfind('}').unwrap()]).unwrap();
        let order_no = order["order_no"].as_str().unwrap().to_owned();

        // Another payer cannot see or pay it; they get the answer an unknown order gets.
        let other = cookie_of(
            address,
            &simulator.login_code(OA_APPID, OTHER_PAYER).unwrap(),
        )
        .unwrap();
        let theirs = raw(
            address,
            &request(
                "GET",
                &format!("/api/orders/{order_no}"),
                &[("Cookie", other.as_str())],
                "",
            ),
        );
        assert_eq!(
            (theirs.0, json_code(&theirs.1)),
            (404, "no_such_order".into())
        );
        let pay_theirs = raw(
            address,
            &request(
                "POST",
                &format!("/api/orders/{order_no}/pay"),
                &[
                    ("Cookie", other.as_str()),
                    ("Content-Type", "application/json"),
                ],
                r#"{"entry":"h5"}"#,
            ),
        );
        assert_eq!(
            (pay_theirs.0, json_code(&pay_theirs.1)),
            (404, "no_such_order".into())
        );

        let cases: Vec<(String, u16, &str)> = vec![
            (request("GET", "/api/orders", &[], ""), 401, "not_logged_in"),
            (
                request(
                    "POST",
                    "/api/orders",
                    &[("Cookie", cookie.as_str()), ("Content-Type", "text/plain")],
                    r#"{"item":"registration"}"#,
                ),
                415,
                "json_required",
            ),
            (
                request("POST", "/api/orders", &with_cookie, "{not json"),
                400,
                "bad_request",
            ),
            (
                request(
                    "POST",
                    "/api/orders",
                    &with_cookie,
                    r#"{"item":"free-lunch"}"#,
                ),
                400,
                "bad_request",
            ),
            (
                request(
                    "GET",
                    "/api/orders/12345",
                    &[("Cookie", cookie.as_str())],
                    "",
                ),
                404,
                "no_such_order",
            ),
            (
                request(
                    "POST",
                    &format!("/api/staff/orders/{order_no}/refund"),
                    &with_cookie,
                    r#"{"key":"k","amount_fen":1,"reason":"x"}"#,
                ),
                403,
                "staff_only",
            ),
            (
                request(
                    "GET",
                    &format!("/api/orders/{order_no}/pay"),
                    &[("Cookie", cookie.as_str())],
                    "",
                ),
                405,
                "method_not_allowed",
            ),
            (
                request("DELETE", "/api/orders", &[("Cookie", cookie.as_str())], ""),
                405,
                "method_not_allowed",
            ),
        ];
        for (text, status, code) in &cases {
            let answer = raw(address, text);
            assert_eq!(
                (answer.0, json_code(&answer.1).as_str()),
                (*status, *code),
                "{address}: {text}"
            );
        }
        // An oversized declared body is refused at once, without reading it.
        let began = Instant::now();
        let huge = raw(address, "POST /notify/pay HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 104857600\r\n\r\n<xml>");
        assert_eq!(huge.0, 413, "{address}: {}", huge.1);
        assert!(began.elapsed() < Duration::from_secs(5));
        // A forged notification, with WeChat's content type or none: FAIL, nothing changed.
        for content_type in ["text/xml", "application/xml", ""] {
            let headers: Vec<(&str, &str)> = if content_type.is_empty() {
                vec![]
            } else {
                vec![("Content-Type", content_type)]
            };
            let forged = format!("<xml><return_code>SUCCESS</return_code><out_trade_no>{order_no}</out_trade_no><sign>00</sign></xml>");
            let answer = raw(address, &request("POST", "/notify/pay", &headers, &forged));
            assert_eq!(answer.0, 200);
            assert!(answer.1.contains("FAIL"), "{address}: {}", answer.1);
        }
        let record = hosts
            .world
            .engine
            .query(&cashier_engine::order_number::OrderNumber::parse(order_no.clone()).unwrap())
            .await
            .unwrap();
        assert!(!record.state.is_paid());
    }

    // The same request answers the same through both frameworks.
    for text in [
        request("GET", "/api/catalogue", &[], ""),
        request("GET", "/nowhere", &[], ""),
        request("POST", "/notify/refund", &[], "<xml/>"),
    ] {
        let (axum, actix) = (raw(hosts.axum, &text), raw(hosts.actix, &text));
        assert_eq!(axum.0, actix.0, "{text}");
        assert_eq!(json_code(&axum.1), json_code(&actix.1), "{text}");
    }

    // A real payment, notified over HTTP through the axum endpoint.
    let code = simulator.login_code(OA_APPID, PAYER).unwrap();
    let cookie = cookie_of(hosts.axum, &code).unwrap();
    let with_cookie = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/json"),
    ];
    let created = raw(
        hosts.axum,
        &request(
            "POST",
            "/api/orders",
            &with_cookie,
            r#"{"item":"registration"}"#,
        ),
    );
    let order: serde_json::Value = serde_json::from_str(&created.1).unwrap();
    let order_no = order["order_no"].as_str().unwrap().to_owned();
    let paid = raw(
        hosts.axum,
        &request(
            "POST",
            &format!("/api/orders/{order_no}/pay"),
            &with_cookie,
            r#"{"entry":"h5"}"#,
        ),
    );
    let started: serde_json::Value = serde_json::from_str(&paid.1).unwrap();
    hosts
        .world
        .payer(
            &cashier_adapters::OutTradeNo::new(started["out_trade_no"].as_str().unwrap()).unwrap(),
            "success",
        )
        .unwrap();
    simulator.deliver_due(&HttpSink::new().unwrap()).await;
    let status = raw(
        hosts.axum,
        &request(
            "GET",
            &format!("/api/orders/{order_no}?wait_ms=3000&since=Paying"),
            &[("Cookie", cookie.as_str())],
            "",
        ),
    );
    assert!(status.1.contains(r#""state":"Paid""#), "{}", status.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_is_cut_off_and_holds_nothing() {
    let hosts = start().await;
    for address in [hosts.axum, hosts.actix] {
        let began = Instant::now();
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(b"POST /notify/pay HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n<xml>")
            .unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.starts_with("HTTP/1.1 408") || text.is_empty() || text.starts_with("HTTP/1.1 400"),
            "{address}: {text}"
        );
        assert!(
            began.elapsed() < Duration::from_secs(25),
            "{address}: held {:?}",
            began.elapsed()
        );
    }
}
