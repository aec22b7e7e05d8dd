//! `cashier reconcile --day YYYYMMDD --data-dir DIR --config FILE [--api-base URL]`: opens the
//! engine's store with the host's configuration (keys from the environment or files it names),
//! downloads WeChat's bills of the day for every merchant, reconciles them with the engine
//! (`Engine::reconcile`), records what remains as alerts on the feed, and prints the report.
//! Exit status: 0 when nothing is left unresolved, 1 when discrepancies remain, 2 on an error.

use std::path::PathBuf;
use std::sync::Arc;

use cashier_adapters::ApiBase;
use cashier_engine::config::EngineConfig;
use cashier_engine::store::{SledStore, Store};
use cashier_engine::{Engine, EngineRuntime, ReconciliationReport};

use crate::cli::CommandOutput;

/// The command's options.
#[derive(Clone, Debug)]
pub struct ReconcileArguments {
    /// The Beijing day, `yyyymmdd`.
    pub day: String,
    /// The engine's store.
    pub data_dir: PathBuf,
    /// The engine configuration (JSON).
    pub config: PathBuf,
    /// Where WeChat is (a `cashier sim`, for example); WeChat's production host by default.
    pub api_base: Option<String>,
    /// One JSON object instead of text.
    pub json: bool,
}

fn error(message: impl std::fmt::Display) -> CommandOutput {
    CommandOutput {
        stdout: format!("error: {message}\n"),
        exit_code: 2,
    }
}

fn render(report: &ReconciliationReport) -> String {
    let mut out = format!(
        "reconciliation of {}: {} bills, {} payments, {} refunds\n",
        report.day, report.bills, report.payments, report.refunds
    );
    for found in &report.resolved {
        out.push_str(&format!("  resolved by query: {found:?}\n"));
    }
    for found in &report.unresolved {
        out.push_str(&format!("  unresolved (alert recorded): {found:?}\n"));
    }
    out.push_str(&format!(
        "{} resolved, {} unresolved\n",
        report.resolved.len(),
        report.unresolved.len()
    ));
    out
}

/// Runs the command.
pub async fn run(arguments: &ReconcileArguments) -> CommandOutput {
    let Some(day) = arguments
        .day
        .parse::<u32>()
        .ok()
        .filter(|_| arguments.day.len() == 8)
    else {
        return error(format!("--day must be yyyymmdd, not {:?}", arguments.day));
    };
    let read = cashier_engine::config::read_bounded(
        &arguments.config,
        cashier_engine::config::CONFIG_FILE_LIMIT_BYTES,
    )
    .and_then(|bytes| {
        String::from_utf8(bytes)
            .map_err(|_| format!("{} is not UTF-8 text", arguments.config.display()))
    });
    let text = match read {
        Ok(text) => text,
        Err(reason) => return error(reason),
    };
    let config = match EngineConfig::from_json(&text) {
        Ok(config) => config,
        Err(reason) => return error(reason),
    };
    let store = match SledStore::open(&arguments.data_dir) {
        Ok(store) => Arc::new(store),
        Err(reason) => return error(reason),
    };
    let mut runtime = EngineRuntime::production();
    runtime.background_tick = None;
    if let Some(base) = &arguments.api_base {
        runtime.api_base = ApiBase::custom(base.clone());
    }
    let engine = match Engine::start(config, store as Arc<dyn Store>, runtime) {
        Ok(engine) => engine,
        Err(reason) => return error(reason),
    };
    let outcome = engine.reconcile(day).await;
    engine.shutdown().await;
    match outcome {
        Ok(report) => CommandOutput {
            stdout: if arguments.json {
                serde_json::to_string(&report).unwrap_or_default() + "\n"
            } else {
                render(&report)
            },
            exit_code: if report.unresolved.is_empty() { 0 } else { 1 },
        },
        Err(reason) => error(reason),
    }
}
