//! The simulator behaves like api.mch.weixin.qq.com closely enough that an independent,
//! unmodified WeChat Pay v2 client library works against it: wechatpy 1.8.18 drives the real
//! `cashier sim` binary over HTTP and over TLS with a client certificate
//! (`fixtures/harness/wechatpy_client.py`). Skipped, with a message, where python3 or wechatpy is
//! missing; `.ci/run` installs wechatpy so CI always runs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Sim {
    child: Child,
    base_url: String,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim(extra: &[&str]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args(["sim", "--seed", "11"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first_line).unwrap();
    let base_url = first_line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line must be `listening on URL`, got {first_line:?}"))
        .to_owned();
    Sim {
        child,
        base_url,
        _stdout: stdout,
    }
}

fn wechatpy_available() -> bool {
    Command::new("python3")
        .args(["-c", "import wechatpy"])
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

fn run_script(arguments: &[String]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/harness/wechatpy_client.py"
    );
    let output = Command::new("python3")
        .arg(script)
        .args(arguments)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("\"passed\": true"),
        "wechatpy run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sim_first_line_names_the_address() {
    let sim = start_sim(&[]);
    assert!(
        sim.base_url.starts_with("http://127.0.0.1:"),
        "{}",
        sim.base_url
    );
}

#[test]
fn wechatpy_unmodified_works_against_the_simulator_over_http() {
    if !wechatpy_available() {
        eprintln!("wechatpy not installed (python3 -m pip install wechatpy==1.8.18): skipping");
        return;
    }
    let sim = start_sim(&[]);
    run_script(std::slice::from_ref(&sim.base_url));
}

#[test]
fn wechatpy_unmodified_works_against_the_simulator_over_tls_with_client_certificate() {
    if !wechatpy_available() {
        eprintln!("wechatpy not installed (python3 -m pip install wechatpy==1.8.18): skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().to_string_lossy().into_owned();
    let sim = start_sim(&["--tls", "--tls-dir", &tls_dir]);
    assert!(sim.base_url.starts_with("https://"));
    let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    run_script(&[
        sim.base_url.replace("127.0.0.1", "localhost"),
        file("ca.pem"),
        file("apiclient_cert.pem"),
        file("apiclient_key.pem"),
    ]);
}
