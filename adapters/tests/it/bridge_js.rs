//! The web-view bridge end to end (wechatpay-v2.md §6.1): the URL Rust builds is handed by the H5
//! page (`fixtures/webview-bridge/h5-bridge.js`) to `wx.miniProgram.navigateTo`, and the mini
//! program page (`miniprogram/pages/pay/pay.js`) decodes exactly the parameters Rust signed, whether the framework
//! passes the query raw or already decoded. Runs the real JavaScript under node; skipped (with a
//! message) where node is not installed.

use std::process::Command;

use cashier_adapters::bridge::{medical_pay_url, mini_program_pay_url, BRIDGE_PARAMETERS};
use cashier_adapters::client_params::JsapiPayParams;
use cashier_adapters::{ApiKey, SignType};

use crate::support::fixture_dir;

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false)
}

fn run_node(script: &str) -> String {
    let output = Command::new("node").arg("-e").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn section_6_1_mini_program_page_decodes_what_the_engine_encoded() {
    if !node_available() {
        eprintln!("node not installed: skipping the JavaScript bridge test");
        return;
    }
    let key = ApiKey::new("qazwsxedcrfvtgbyhnujmikolp111111").unwrap();
    let params = JsapiPayParams::sign(
        "wxd678efh567hg6787",
        "1490840662",
        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        "wx2017033010242291fcfe0db70013231072",
        SignType::HmacSha256,
        &key,
    );
    let url = mini_program_pay_url("/pages/pay/pay", &params).unwrap();
    let query = url.split_once('?').unwrap().1;
    let raw: serde_json::Map<String, serde_json::Value> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), serde_json::Value::String(value.to_owned()))
        })
        .collect();
    let decoded = serde_json::to_value(&params).unwrap();
    let dir = fixture_dir().join("../webview-bridge");
    let page = dir.join("../../miniprogram/pages/pay/pay.js");
    let h5 = dir.join("h5-bridge.js");
    let script = format!(
        r#"
        const page = require({page:?});
        const h5 = require({h5:?});
        let navigated = null;
        h5.payInMiniProgram({{ miniProgram: {{ navigateTo: (o) => {{ navigated = o.url; }} }} }}, {url:?}, (e) => {{ throw e; }});
        const fromRaw = page.decodePayParams({raw});
        const fromDecoded = page.decodePayParams({decoded});
        const options = page.requestPaymentOptions(fromRaw);
        console.log(JSON.stringify({{ navigated, fromRaw, fromDecoded, options }}));
        "#,
        raw = serde_json::Value::Object(raw),
    );
    let output: serde_json::Value = serde_json::from_str(&run_node(&script)).unwrap();
    assert_eq!(output["navigated"], serde_json::Value::String(url.clone()));
    assert_eq!(output["fromRaw"], decoded);
    assert_eq!(output["fromDecoded"], decoded);
    // wx.requestPayment gets everything but appId, and the values still verify.
    assert!(output["options"].get("appId").is_none());
    let back: JsapiPayParams = serde_json::from_value(output["fromRaw"].clone()).unwrap();
    assert!(back.verify(&key));
    assert_eq!(BRIDGE_PARAMETERS.len(), 6);
}

#[test]
fn section_6_1_h5_outside_a_mini_program_reports_an_error() {
    if !node_available() {
        eprintln!("node not installed: skipping the JavaScript bridge test");
        return;
    }
    let h5 = fixture_dir().join("../webview-bridge/h5-bridge.js");
    let script = format!(
        r#"const h5 = require({h5:?}); let message = null;
        h5.payInMiniProgram(undefined, "/pages/pay/pay?x=1", (e) => {{ message = e.message; }});
        console.log(message);"#
    );
    assert_eq!(
        run_node(&script).trim(),
        "not inside a mini program web-view"
    );
}

/// 医保 (yibao-pay.md §2.2, §7.3): the H5 page hands the page a `type=2` URL with payinsurance's
/// `pay_appid` and `pay_url`; the page takes the jump branch and calls
/// `wx.navigateToMiniProgram` with exactly the decoded appid and path, raw or pre-decoded query.
#[test]
fn section_7_3_medical_jump_decodes_pay_appid_and_pay_url() {
    if !node_available() {
        eprintln!("node not installed: skipping the JavaScript bridge test");
        return;
    }
    let pay_url = "pages/pay/index?medTransId=MED2025112710000001&from=仁心";
    let url = medical_pay_url("/pages/pay/pay", "wxe1022cca111d18be", pay_url).unwrap();
    let query = url.split_once('?').unwrap().1;
    let raw: serde_json::Map<String, serde_json::Value> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), serde_json::Value::String(value.to_owned()))
        })
        .collect();
    let decoded =
        serde_json::json!({ "type": "2", "appid": "wxe1022cca111d18be", "payUrl": pay_url });
    let dir = fixture_dir().join("../webview-bridge");
    let page = dir.join("../../miniprogram/pages/pay/pay.js");
    let h5 = dir.join("h5-bridge.js");
    let script = format!(
        r#"
        const page = require({page:?});
        const h5 = require({h5:?});
        let navigated = null;
        h5.payInMiniProgram({{ miniProgram: {{ navigateTo: (o) => {{ navigated = o.url; }} }} }}, {url:?}, (e) => {{ throw e; }});
        const raw = {raw};
        const fromRaw = page.decodeMedicalJump(raw);
        const fromDecoded = page.decodeMedicalJump({decoded});
        let missing = null;
        try {{ page.decodeMedicalJump({{ type: "2", appid: "wx1" }}); }} catch (e) {{ missing = e.message; }}
        console.log(JSON.stringify({{ navigated, jump: page.isMedicalJump(raw), pay: page.isMedicalJump({{ type: "1" }}),
            legacy: page.isMedicalJump({{ appId: "x" }}), fromRaw, fromDecoded, missing }}));
        "#,
        raw = serde_json::Value::Object(raw),
    );
    let output: serde_json::Value = serde_json::from_str(&run_node(&script)).unwrap();
    assert_eq!(output["navigated"], serde_json::Value::String(url.clone()));
    assert_eq!(output["jump"], true);
    assert_eq!(output["pay"], false, "type 1 is wx.requestPayment");
    assert_eq!(output["legacy"], false, "no type is wx.requestPayment");
    let target = serde_json::json!({ "appId": "wxe1022cca111d18be", "path": pay_url });
    assert_eq!(output["fromRaw"], target);
    assert_eq!(output["fromDecoded"], target);
    assert_eq!(output["missing"], "missing 医保 parameter payUrl");
}
