//! Data-driven transition tests (style-anchors L11): every script in
//! `fixtures/engine/transitions/` is a sequence of events applied to one order; after each
//! block's `----` stands the expected summary (state, attempts, refunds, effects, deadline).
//! `UPDATE_EXPECT=1 cargo test -p cashier-engine --test transitions` rewrites the expectations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{key, new_order, refund_no, spec, trade_no};

use std::path::PathBuf;

use cashier_adapters::{AmountFen, ErrCode, PrepayId, RefundId, TransactionId};
use cashier_engine::machine::{step, Outcome};
use cashier_engine::model::*;

fn failure(word: &str) -> CallFailure {
    match word {
        "retry" => CallFailure::Retry {
            code: ErrCode::SystemError,
            after_ms: 0,
        },
        "unknown" => CallFailure::Unknown,
        _ => CallFailure::Final {
            refusal: Refusal::Wechat(ErrCode::NoAuth),
        },
    }
}

fn number(name: &str) -> cashier_adapters::OutTradeNo {
    trade_no(name)
}

fn h5_spec(out_trade_no: cashier_adapters::OutTradeNo) -> AttemptSpec {
    let mut spec = spec(out_trade_no, "o1");
    spec.openid = None;
    spec.channel.entry = EntryName::new("h5").unwrap();
    spec.channel.trade = TradeKind::Mweb;
    spec.h5_site = Some(H5Site {
        url: NotifyUrl::new("https://h5.example.com").unwrap(),
        name: Description::new("h5").unwrap(),
    });
    spec
}

fn transaction(name: &str) -> TransactionId {
    TransactionId::new(name).unwrap()
}

fn fen(text: &str) -> AmountFen {
    AmountFen::from_fen(text.parse().unwrap())
}

fn is_requested(refund: &RefundRecord) -> bool {
    matches!(refund.cause, RefundCause::Requested { .. })
}

/// Parses one event line; `R-auto` names the latest automatic refund.
fn event(line: &str, record: &OrderRecord) -> Event {
    let words: Vec<&str> = line.split_whitespace().collect();
    let word = |index: usize| words.get(index).copied().unwrap_or("");
    let refund_name = |name: &str| {
        if name == "R-auto" {
            record
                .refunds
                .iter()
                .rev()
                .find(|refund| !is_requested(refund))
                .map(|refund| refund.out_refund_no.clone())
                .unwrap()
        } else {
            refund_no(name)
        }
    };
    match word(0) {
        // `start P2 o2`: attempt P2 by payer o2 (default o1).
        "start" => Event::StartPayment {
            spec: Box::new(spec(
                number(word(1)),
                if word(2).is_empty() { "o1" } else { word(2) },
            )),
        },
        // `start_h5 P5`: attempt P5 through the H5 (MWEB) entry.
        "start_h5" => Event::StartPayment {
            spec: Box::new(h5_spec(number(word(1)))),
        },
        "prepay" => Event::PrepayResult {
            out_trade_no: number(word(1)),
            outcome: match word(2) {
                "prepared" => PrepayOutcome::Prepared {
                    prepay_id: PrepayId::new("wx1").unwrap(),
                    link: ClientLinkKind::None,
                },
                "prepared_mweb" => PrepayOutcome::Prepared {
                    prepay_id: PrepayId::new("wx1").unwrap(),
                    link: ClientLinkKind::MwebUrl(
                        ClientLink::new("https://wx.tenpay.com/x").unwrap(),
                    ),
                },
                "paid" => PrepayOutcome::AlreadyPaid,
                "closed" => PrepayOutcome::AlreadyClosed,
                other => PrepayOutcome::Failed(failure(other)),
            },
        },
        "client" => Event::ClientReported {
            out_trade_no: number(word(1)),
            result: match word(2) {
                "ok" => ClientResult::Ok,
                "cancel" => ClientResult::Cancel,
                _ => ClientResult::Fail,
            },
        },
        "notify" => Event::PaymentNotified {
            out_trade_no: number(word(1)),
            transaction_id: transaction(word(2)),
            paid_at_s: None,
        },
        "query" => Event::QueryResult {
            out_trade_no: number(word(1)),
            outcome: match word(2) {
                "paid" => QueryOutcome::Paid {
                    transaction_id: transaction(word(3)),
                    total: fen(word(4)),
                    paid_at_s: None,
                },
                "notpaid" => QueryOutcome::NotPaid,
                "closed" => QueryOutcome::Closed,
                "notfound" => QueryOutcome::NotFound,
                other => QueryOutcome::Failed(failure(other)),
            },
        },
        "close" => Event::CloseRequested,
        "close_result" => Event::CloseResult {
            out_trade_no: number(word(1)),
            outcome: match word(2) {
                "closed" => CloseOutcome::Closed,
                "paid" => CloseOutcome::AlreadyPaid,
                "query" => CloseOutcome::QueryFirst,
                other => CloseOutcome::Failed(failure(other)),
            },
        },
        "deadline" => Event::DeadlineReached,
        // `refund R1 100 [K]`: refund R1 of 100 fen under key K (default: the number).
        "refund" => Event::RefundRequested {
            key: key(if word(3).is_empty() { word(1) } else { word(3) }),
            out_refund_no: refund_no(word(1)),
            amount: fen(word(2)),
            reason: RefundReason::new("r").unwrap(),
        },
        "refund_result" => Event::RefundResult {
            out_refund_no: refund_name(word(1)),
            outcome: match word(2) {
                "accepted" => RefundOutcome::Accepted {
                    refund_id: RefundId::new(word(3)).unwrap(),
                },
                other => RefundOutcome::Failed(failure(other)),
            },
        },
        "refund_status" => Event::RefundStatus {
            out_refund_no: refund_name(word(1)),
            report: match word(2) {
                "processing" => RefundStatusReport::Processing {
                    refund_id: RefundId::new("RID").unwrap(),
                },
                "succeeded" => RefundStatusReport::Succeeded {
                    refund_id: RefundId::new("RID").unwrap(),
                },
                "closed" => RefundStatusReport::Closed,
                "abnormal" => RefundStatusReport::Abnormal,
                "notfound" => RefundStatusReport::NotFound,
                other => RefundStatusReport::Failed(failure(other)),
            },
            from_notification: false,
        },
        "ask" => Event::QueryRequested,
        "conflict" => Event::ConflictingNotification {
            detail: "total_fee 1 differs".into(),
        },
        other => panic!("unknown event {other:?}"),
    }
}

fn short(number: &impl AsRef<str>) -> String {
    number.as_ref().trim_start_matches('0').to_owned()
}

fn attempt_state(state: &AttemptState) -> String {
    match state {
        AttemptState::Prepared { .. } => "Prepared".into(),
        AttemptState::Paid { transaction_id, .. } => format!("Paid({transaction_id})"),
        AttemptState::Failed { refusal } => format!("Failed({refusal})"),
        other => format!("{other:?}"),
    }
}

fn summary(record: &OrderRecord, effects: &[Effect], changed: bool, outcome: &Outcome) -> String {
    let attempts: Vec<String> = record
        .attempts
        .iter()
        .map(|attempt| {
            format!(
                "{}:{}",
                short(&attempt.out_trade_no),
                attempt_state(&attempt.state)
            )
        })
        .collect();
    let refunds: Vec<String> = record
        .refunds
        .iter()
        .map(|refund| {
            let state = match &refund.state {
                RefundState::Processing { .. } => "Processing".to_owned(),
                RefundState::Succeeded { .. } => "Succeeded".to_owned(),
                RefundState::Failed { refusal } => format!("Failed({refusal})"),
                other => format!("{other:?}"),
            };
            let name = match &refund.cause {
                RefundCause::Requested { key, .. } => format!("{}[{key}]", refund.out_refund_no),
                other => format!("auto({other:?})"),
            };
            format!("{name}:{}:{state}", refund.amount.fen())
        })
        .collect();
    let effects: Vec<String> = effects
        .iter()
        .map(|effect| match effect {
            Effect::SendUnifiedOrder { out_trade_no } => {
                format!("SendUnifiedOrder({})", short(out_trade_no))
            }
            Effect::QueryOrder { out_trade_no } => format!("QueryOrder({})", short(out_trade_no)),
            Effect::CloseOrder { out_trade_no } => format!("CloseOrder({})", short(out_trade_no)),
            Effect::SendRefund { out_refund_no } => format!("SendRefund({})", short(out_refund_no)),
            Effect::QueryRefund { out_refund_no } => {
                format!("QueryRefund({})", short(out_refund_no))
            }
            medical => format!("{medical:?}"),
        })
        .collect();
    let deadline = record
        .deadline_ms
        .map_or("none".to_owned(), |at| format!("{}s", at / 1000));
    format!(
        "state={:?} attempts=[{}] refunds=[{}] effects=[{}] deadline={deadline} changed={changed} alerts={}{}",
        record.state,
        attempts.join(", "),
        refunds.join(", "),
        effects.join(", "),
        record.alerts.len(),
        outcome_text(outcome),
    )
}

fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Applied => String::new(),
        Outcome::AttemptStarted(number) => format!(" outcome=AttemptStarted({})", short(number)),
        Outcome::AttemptReused(number) => format!(" outcome=AttemptReused({})", short(number)),
        Outcome::AttemptRefreshing(number) => {
            format!(" outcome=AttemptRefreshing({})", short(number))
        }
        Outcome::RefundRequested(number) => format!(" outcome=RefundRequested({number})"),
        Outcome::RefundAlreadyRequested(number) => {
            format!(" outcome=RefundAlreadyRequested({number})")
        }
        other => format!(" outcome={other:?}"),
    }
}

/// Runs a script and returns it with every expectation replaced by the actual result.
fn run_script(text: &str) -> String {
    let mut output = String::new();
    let mut record: Option<OrderRecord> = None;
    let mut now_ms = 0;
    let mut block: Vec<&str> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with('#') || line.trim().is_empty() {
            output.push_str(line);
            output.push('\n');
            continue;
        }
        if let Some(rest) = line.strip_prefix("new_order ") {
            let field = |name: &str| {
                rest.split_whitespace()
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            };
            let expiry_ms = i64::try_from(field("expiry") * 1000).unwrap();
            record = Some(new_order(field("amount"), expiry_ms));
            output.push_str(line);
            output.push('\n');
            continue;
        }
        if line == "----" {
            while lines.peek().is_some_and(|next| !next.trim().is_empty()) {
                lines.next();
            }
            let mut result = String::new();
            for entry in &block {
                if let Some(seconds) = entry.strip_prefix("at ") {
                    now_ms = seconds.parse::<i64>().unwrap() * 1000;
                    continue;
                }
                let current = record.clone().expect("new_order first");
                let event = event(entry, &current);
                result = match step(&current, &event, now_ms) {
                    Ok(transition) => {
                        let line = summary(
                            &transition.record,
                            &transition.effects,
                            transition.changed,
                            &transition.outcome,
                        );
                        record = Some(transition.record);
                        line
                    }
                    Err(rejection) => format!("rejected: {rejection}"),
                };
            }
            output.push_str("----\n");
            output.push_str(&result);
            output.push('\n');
            block.clear();
            continue;
        }
        output.push_str(line);
        output.push('\n');
        block.push(line);
    }
    output
}

fn diff(expected: &str, actual: &str) -> String {
    expected
        .lines()
        .zip(actual.lines())
        .filter(|(left, right)| left != right)
        .map(|(left, right)| format!("- {left}\n+ {right}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn transition_scripts_match_their_expectations() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/engine/transitions");
    let mut failures = Vec::new();
    let mut scripts = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|extension| extension != "txt") {
            continue;
        }
        scripts += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let actual = run_script(&text);
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, &actual).unwrap();
        } else if actual != text {
            failures.push(format!("{}:\n{}", path.display(), diff(&text, &actual)));
        }
    }
    assert!(scripts >= 5);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
