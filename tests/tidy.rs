//! Tidy checks (style-anchors L13): every Rust file opens with a `//!` comment saying what it
//! holds, every WeChat endpoint file names the WeChat page it implements, and no to-do marker
//! is left without an issue number.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

fn workspace_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "adapters", "engine", "harness"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "the tidy check must see the workspace");
    files
}

#[test]
fn every_rust_file_opens_with_a_module_comment() {
    let missing: Vec<String> = workspace_files()
        .into_iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! comment:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_endpoint_file_names_its_wechat_page() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/src/wechat/endpoints");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "mod.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let header: String = text
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .collect();
        assert!(
            header.contains("https://pay.weixin.qq.com/"),
            "{} does not cite the WeChat page it implements",
            path.display()
        );
        assert!(
            header.contains("§"),
            "{} does not cite the reference section",
            path.display()
        );
    }
}

#[test]
fn no_todo_without_an_issue_number() {
    let marker_todo = concat!("TO", "DO");
    let marker_fixme = concat!("FIX", "ME");
    for path in workspace_files() {
        for (number, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            if (line.contains(marker_todo) || line.contains(marker_fixme)) && !line.contains('#') {
                panic!(
                    "{}:{}: a {marker_todo}/{marker_fixme} needs an issue number (#N)",
                    path.display(),
                    number + 1
                );
            }
        }
    }
}

/// Issue #9: keys reach the engine through a key provider, never through the process
/// environment (racy once threads run, `unsafe` from edition 2024): no `set_var` outside tests.
#[test]
fn no_library_code_writes_the_process_environment() {
    let offenders: Vec<String> = workspace_files()
        .into_iter()
        .filter(|path| {
            let text = path.to_string_lossy();
            text.contains("/src/") && !text.contains("/tests/")
        })
        .filter(|path| {
            let source = std::fs::read_to_string(path).unwrap_or_default();
            source
                .lines()
                .any(|line| line.contains("env::set_var") && !line.trim_start().starts_with("///"))
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "set_var in {offenders:?}");
}
