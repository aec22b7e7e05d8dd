//! The example hospital clicked through in headless Chromium (issue #8), one scenario per entry
//! point: the official account's JSAPI pay sheet, the mini program's web-view bridge (decoded
//! by the real pages/pay/pay code), H5 (MWEB), Native (QR), 医保 from the official account
//! (authorise, split, the 医保 pay mini program), cancel then pay again, a dropped
//! notification rescued by the query ladder (the result page says paid only when the engine
//! does), the payer's history across two apps as one person, and a staff refund. A screenshot
//! per scenario is saved under `target/browser/`, and on failure.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them the
//! test says so loudly and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cashier::cli::serve::{ServeArguments, Serving, STAFF_TOKEN};
use cashier_harness::{Fault, FaultPlan, FaultRule};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser(profile: &std::path::Path) -> (Driver, Client) {
    // fantoccini's rustls needs a process-wide provider; the workspace's rustls uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(driver);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=480,900",
                format!("--user-data-dir={}", profile.display())],
        }),
    );
    for _ in 0..50 {
        let built = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        if let Ok(client) = built {
            return (driver, client);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not start");
}

async fn screenshot(client: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css}: {error}"))
}

// Pages re-render while they poll: an element found a moment ago may be gone, so each action
// finds its element again until it holds.
async fn click(client: &Client, css: &str) {
    for _ in 0..50 {
        if find(client, css).await.click().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} kept going stale");
}

async fn text_of(client: &Client, css: &str) -> String {
    for _ in 0..50 {
        if let Ok(text) = find(client, css).await.text().await {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} kept going stale");
}

/// Waits until the element's text contains `wanted` (the page long-polls the server).
async fn wait_text(client: &Client, css: &str, wanted: &str, seconds: u64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let text = text_of(client, css).await;
        if text.contains(wanted) || tokio::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens the site in an environment, creates a registration order and opens its page.
async fn new_order(client: &Client, base: &str, environment: &str) -> String {
    client
        .goto(&format!("{base}/?shim_env={environment}#/"))
        .await
        .unwrap();
    click(client, "[data-item=registration]").await;
    text_of(client, "#order-no").await
}

async fn pay_and_see(
    client: &Client,
    serving: &Serving,
    name: &str,
    outcome_button: &str,
) -> String {
    click(client, "#pay").await;
    if name == "native" {
        text_of(client, "#qr-image").await;
        screenshot(client, "native_qr").await;
        click(client, "#shim-scan").await;
    }
    click(client, outcome_button).await;
    let text = wait_text(client, "#result", "支付成功", 40).await;
    screenshot(client, name).await;
    let _ = serving;
    text
}

async fn scenarios(client: &Client, serving: &Serving) {
    let base = format!("http://{}", serving.address);
    for (environment, name) in [
        ("official_account", "official_account_jsapi"),
        ("mini_program", "mini_program_bridge"),
        ("h5", "h5_mweb"),
        ("desktop", "native"),
    ] {
        new_order(client, &base, environment).await;
        let name = if environment == "desktop" {
            "native"
        } else {
            name
        };
        let result = pay_and_see(client, serving, name, "#shim-pay").await;
        assert!(result.contains("支付成功"), "{name}: {result}");
    }

    // 医保 from the official account: authorise, see the split, pay in the 医保 mini program.
    new_order(client, &base, "official_account").await;
    click(client, "#pay-medical").await;
    let split = wait_text(client, "#pay-area", "统筹", 20).await;
    assert!(split.contains("个人账户"), "{split}");
    click(client, "#shim-pay").await;
    let result = wait_text(client, "#result", "支付成功", 40).await;
    screenshot(client, "medical_official_account").await;
    assert!(result.contains("支付成功"), "{result}");

    // Cancel, then pay again.
    new_order(client, &base, "official_account").await;
    click(client, "#pay").await;
    click(client, "#shim-cancel").await;
    let area = wait_text(client, "#pay-area", "支付未完成", 20).await;
    assert!(area.contains("支付未完成"), "{area}");
    let result = pay_and_see(client, serving, "cancel_then_pay", "#shim-pay").await;
    assert!(result.contains("支付成功"), "{result}");

    // Every notification dropped: the result page waits, and the engine's query ladder (its
    // first query 15 s after the unified order) finds the payment.
    serving
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
    new_order(client, &base, "desktop").await;
    click(client, "#pay").await;
    click(client, "#shim-scan").await;
    click(client, "#shim-pay").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let early = text_of(client, "#order-state").await;
    assert!(
        !early.contains("已支付"),
        "paid before any notification or query: {early}"
    );
    let result = wait_text(client, "#result", "支付成功", 40).await;
    screenshot(client, "dropped_notification_rescued").await;
    assert!(result.contains("支付成功"), "{result}");
    serving.simulator.set_fault_plan(FaultPlan::none()).unwrap();

    // One person across two apps: the history shows the official account's and the mini
    // program's payments together.
    client
        .goto(&format!("{base}/?shim_env=mini_program#/history"))
        .await
        .unwrap();
    let history = wait_text(client, "main", "mini_program", 20).await;
    screenshot(client, "history_one_person").await;
    assert!(
        history.contains("official_account") && history.contains("mini_program"),
        "{history}"
    );

    // Staff refund of the first order.
    let order_no = serving
        .engine
        .orders()
        .unwrap()
        .into_iter()
        .find(|record| record.state.is_paid())
        .unwrap()
        .order_no;
    client.goto(&format!("{base}/#/staff")).await.unwrap();
    for (css, value) in [
        ("#staff-token", STAFF_TOKEN.to_owned()),
        ("#staff-order", order_no.to_string()),
        ("#staff-amount", "1000".to_owned()),
    ] {
        let field = client.find(Locator::Css(css)).await.unwrap();
        field.send_keys(&value).await.unwrap();
    }
    click(client, "#staff-refund").await;
    let answer = wait_text(client, "#staff-result", "已受理", 20).await;
    screenshot(client, "staff_refund").await;
    assert!(answer.contains("已受理"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_hospital_is_paid_on_every_entry_in_a_real_browser() {
    if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
        eprintln!("\n\n*** SKIPPED: browser tests need {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver) ***\n\n");
        return;
    }
    let serving = cashier::cli::serve::start(&ServeArguments {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        seed: 8,
    })
    .await
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = browser(profile.path()).await;
    let run = tokio::spawn({
        let client = client.clone();
        async move { scenarios(&client, &serving).await }
    });
    let outcome = run.await;
    if outcome.is_err() {
        screenshot(&client, "failure").await;
    }
    let _ = client.close().await;
    outcome.unwrap();
}
