//! `cashier sign` (wechatpay-v2.md §1, §10): canonical string with the key masked, both signs,
//! the match verdict and its sign type, the usual causes of 签名错误, and exit status 0/1/2.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::process::{Command, Stdio};

use cashier::adapters::{sign_canonical_text, ApiKey, SignType};
use cashier::cli::sign::{run, SignInput, EXAMPLE_KEY};

const KEY: &str = EXAMPLE_KEY;

fn pairs(items: &[&str]) -> SignInput {
    SignInput::Pairs(items.iter().map(|item| Some((*item).to_owned())).collect())
}

fn sign_of(sign_type: SignType, canonical: &str) -> String {
    sign_canonical_text(sign_type, &ApiKey::new_for_diagnostics(KEY), canonical).to_string()
}

#[test]
fn section_1_2_k1_matches_md5_and_prints_masked_canonical() {
    let output = run(
        KEY,
        pairs(&[
            "appid=wxd930ea5d5a258f4f",
            "mch_id=10000100",
            "device_info=1000",
            "body=test",
            "nonce_str=ibuaiVcKdpRxkhJA",
            "sign=9A0A8659F005D6984697E2CA0A9CF3B7",
        ]),
    );
    assert_eq!(output.exit_code, 0);
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines[0], "canonical: appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=19****************************2d");
    assert_eq!(lines[1], "MD5: 9A0A8659F005D6984697E2CA0A9CF3B7");
    assert_eq!(
        lines[2],
        "HMAC-SHA256: 6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    );
    assert_eq!(lines[3], "sign: matches MD5");
    assert!(
        !output.stdout.contains(KEY),
        "the key must never be printed"
    );
}

#[test]
fn section_10_1_empty_value_included_is_recognised() {
    let wrong = sign_of(SignType::Md5, "attach=&body=test");
    let output = run(
        KEY,
        pairs(&["body=test", "attach=", &format!("sign={wrong}")]),
    );
    assert_eq!(output.exit_code, 1);
    assert!(
        output
            .stdout
            .contains("hint: the sign was made with empty values included"),
        "{}",
        output.stdout
    );
}

#[test]
fn section_10_1_sign_type_left_out_is_recognised() {
    let wrong = sign_of(SignType::HmacSha256, "body=test");
    let output = run(
        KEY,
        pairs(&[
            "body=test",
            "sign_type=HMAC-SHA256",
            &format!("sign={wrong}"),
        ]),
    );
    assert_eq!(output.exit_code, 1);
    assert!(
        output.stdout.contains("without sign_type in the string"),
        "{}",
        output.stdout
    );
}

#[test]
fn section_1_4_whitespace_around_values_is_recognised() {
    let trimmed = sign_of(SignType::Md5, "body=test");
    let output = run(KEY, pairs(&["body= test ", &format!("sign={trimmed}")]));
    assert_eq!(output.exit_code, 1);
    assert!(output
        .stdout
        .contains("hint: body has whitespace around its value"));
    assert!(
        output.stdout.contains("made over trimmed values"),
        "{}",
        output.stdout
    );
}

#[test]
fn section_10_8_short_key_and_unknown_cause_are_reported() {
    let output = run(
        &KEY[..31],
        pairs(&["body=test", "sign=9A0A8659F005D6984697E2CA0A9CF3B7"]),
    );
    assert_eq!(output.exit_code, 1);
    assert!(output.stdout.contains("hint: the key is 31 bytes"));
    assert!(output.stdout.contains("most common cause"));
    let long = format!("{KEY}x");
    assert!(run(&long, pairs(&["body=test"]))
        .stdout
        .contains("the key is 33 bytes"));
}

#[test]
fn section_10_4_hmac_sign_without_sign_type_is_explained() {
    let hmac = sign_of(SignType::HmacSha256, "body=test");
    let output = run(KEY, pairs(&["body=test", &format!("sign={hmac}")]));
    assert_eq!(output.exit_code, 0);
    assert!(output.stdout.contains("sign: matches HMAC-SHA256"));
    assert!(output.stdout.contains("omit sign_type"));
}

#[test]
fn lower_case_sign_is_recognised() {
    let lower = sign_of(SignType::Md5, "body=test").to_lowercase();
    let output = run(KEY, pairs(&["body=test", &format!("sign={lower}")]));
    assert_eq!(output.exit_code, 1);
    assert!(output.stdout.contains("matches once upper-cased"));
}

#[test]
fn bad_input_exits_2() {
    assert_eq!(run(KEY, pairs(&[])).exit_code, 2);
    assert_eq!(run(KEY, pairs(&["novalue"])).exit_code, 2);
    assert_eq!(run(KEY, pairs(&["a=1", "a=2"])).exit_code, 2);
    assert_eq!(run("", pairs(&["a=1"])).exit_code, 2);
    assert_eq!(run(KEY, SignInput::Pairs(vec![None])).exit_code, 2);
    let gbk = run(
        KEY,
        SignInput::Xml(b"<xml><body>\xb2\xe2\xca\xd4</body></xml>".to_vec()),
    );
    assert_eq!(gbk.exit_code, 2);
    assert!(gbk.stdout.contains("not UTF-8"));
    let doctype = run(KEY, SignInput::Xml(b"<!DOCTYPE x><xml/>".to_vec()));
    assert_eq!(doctype.exit_code, 2);
}

fn cashier() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cashier"))
}

#[test]
fn binary_exit_status_is_0_1_2_and_stdin_is_read_for_dash() {
    let status = |args: &[&str]| {
        cashier()
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(status(&["sign", "--example"]), Some(0));
    assert_eq!(
        status(&[
            "sign",
            "--key",
            KEY,
            "body=test",
            "sign=00000000000000000000000000000000"
        ]),
        Some(1)
    );
    assert_eq!(
        status(&["sign", "--key", KEY, "/nonexistent/file.xml"]),
        Some(2)
    );
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/wechat_v2/notifications/payment_md5_official_example.xml"
    ))
    .unwrap();
    let mut child = cashier()
        .args(["sign", "--key", KEY, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&fixture).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("sign: matches MD5"));
}
