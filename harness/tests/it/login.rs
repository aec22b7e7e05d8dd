//! WeChat's login endpoints on the simulator (issue #8): `/sns/oauth2/access_token` and
//! `/sns/jscode2session` answer the payer's openid in the app and their unionid for a code the
//! control API issued; a code works once (40163 after), only for its app and for 5 minutes
//! (40029), and only with the app's secret (40125).

use std::sync::Arc;

use cashier_adapters::{HttpRequest, Transport};
use cashier_harness::{ScriptedSink, SimConfig, SimOptions, SimTransport, Simulator};

const MINI_APPID: &str = "wx1f1e2d3c4b5a6978";
const MINI_SECRET: &str = "mp-app-secret-for-tests-000000001";
const OA_APPID: &str = "wxd930ea5d5a258f4f";
const OA_SECRET: &str = "oa-app-secret-for-tests-000000001";

async fn login(transport: &SimTransport, path: String) -> serde_json::Value {
    let request = HttpRequest {
        method: "GET",
        url: format!("http://sim{path}"),
        path,
        headers: Vec::new(),
        body: Vec::new(),
        needs_client_certificate: false,
    };
    serde_json::from_slice(&transport.send(request).await.unwrap().body).unwrap()
}

fn jscode(appid: &str, secret: &str, code: &str) -> String {
    format!("/sns/jscode2session?appid={appid}&secret={secret}&js_code={code}&grant_type=authorization_code")
}

#[tokio::test]
async fn login_codes_are_single_use_per_app_short_lived_and_need_the_app_secret() {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(5),
    ));
    let transport = SimTransport::new(simulator.clone());
    let code = simulator
        .login_code(MINI_APPID, "oMiniPayer0000000000000001")
        .unwrap();
    let wrong_secret = login(&transport, jscode(MINI_APPID, "nope", &code)).await;
    assert_eq!(wrong_secret["errcode"], 40125);
    let other_app = login(&transport, format!("/sns/oauth2/access_token?appid={OA_APPID}&secret={OA_SECRET}&code={code}&grant_type=authorization_code")).await;
    assert_eq!(other_app["errcode"], 40029, "a code is its app's only");
    let first = login(&transport, jscode(MINI_APPID, MINI_SECRET, &code)).await;
    assert_eq!(first["openid"], "oMiniPayer0000000000000001");
    assert_eq!(first["unionid"], "o6_bmasdasdsad6_2sgVt7hMZOPfL");
    assert!(first["session_key"].is_string());
    let again = login(&transport, jscode(MINI_APPID, MINI_SECRET, &code)).await;
    assert_eq!(again["errcode"], 40163);
    let late = simulator
        .login_code(MINI_APPID, "oMiniPayer0000000000000001")
        .unwrap();
    simulator.advance(301, &ScriptedSink::acknowledging()).await;
    assert_eq!(
        login(&transport, jscode(MINI_APPID, MINI_SECRET, &late)).await["errcode"],
        40029
    );
    // The official account's web login answers the same person under its own openid.
    let code = simulator
        .login_code(OA_APPID, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
        .unwrap();
    let web = login(&transport, format!("/sns/oauth2/access_token?appid={OA_APPID}&secret={OA_SECRET}&code={code}&grant_type=authorization_code")).await;
    assert_eq!(web["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    assert_eq!(web["unionid"], "o6_bmasdasdsad6_2sgVt7hMZOPfL");
    assert!(
        simulator.login_code(OA_APPID, "oSomebodyElse").is_err(),
        "only known payers log in"
    );
}
