//! `cashier reconcile` (issue #11) against `cashier sim`'s server on loopback: a day without
//! bills has nothing to reconcile (exit 0), a day whose bill is still being made is an error
//! (exit 2), a seeded payment the engine never made is reported (exit 1), bad input is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;
use std::sync::Arc;

use cashier_harness::{ScriptedSink, SimConfig, SimOptions, Simulator};

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn reconcile(dir: &std::path::Path, api_base: &str, day: &str) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args([
            "reconcile",
            "--day",
            day,
            "--api-base",
            api_base,
            "--data-dir",
        ])
        .arg(dir.join("store"))
        .arg("--config")
        .arg(dir.join("cashier.json"))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_reports_a_seeded_payment_and_refuses_bad_days() {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(501),
    ));
    let server =
        cashier_harness::server::start(simulator.clone(), "127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), KEY).unwrap();
    let config = format!(
        r#"{{"node_id": 1, "entries": [{{"name": "native", "kind": "native", "appid": "wxd930ea5d5a258f4f",
        "mch_id": "10000100", "sign_type": "MD5", "api_key": {{"file": {:?}}},
        "notify_url": "http://127.0.0.1:9/notify"}}]}}"#,
        dir.path().join("key")
    );
    std::fs::write(dir.path().join("cashier.json"), config).unwrap();
    let base = server.base_url();

    let (code, out) = reconcile(dir.path(), &base, "2025-11-26");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--day must be yyyymmdd"), "{out}");
    let (code, out) = reconcile(dir.path(), &base, "20251126");
    assert_eq!(code, 0, "no bill that day: {out}");
    assert!(out.contains("0 resolved, 0 unresolved"), "{out}");
    let (code, out) = reconcile(dir.path(), &base, "20251127");
    assert_eq!(
        code, 2,
        "the bill is being made until 09:00 tomorrow: {out}"
    );
    simulator.seed_unknown_payment("10000100", "FOREIGN0002", 888, None);
    simulator
        .advance(86_400, &ScriptedSink::acknowledging())
        .await;
    let (code, out) = reconcile(dir.path(), &base, "20251127");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("PaidAtWechatUnknownToEngine") && out.contains("FOREIGN0002"),
        "{out}"
    );
}
