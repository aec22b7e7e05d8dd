//! Stored format 1's audit events, frozen, and their migration to the current [`Event`]s
//! (the choices of `v1.rs` apply: refund request keys `v1-<out_refund_no>`).

use cashier_adapters::{
    AmountFen, ErrCode, OutRefundNo, OutTradeNo, PrepayId, RefundId, TransactionId,
};
use serde::Deserialize;

use crate::model::{self as current, Event};
use crate::store::v1::{self, PaymentAttempt};
use crate::store::StoreError;

#[derive(Deserialize)]
enum ClientResult {
    Ok,
    Cancel,
    Fail,
}

#[derive(Deserialize)]
enum CallFailure {
    Unknown,
    Retry { code: String, after_ms: i64 },
    Final { code: String },
}

#[derive(Deserialize)]
enum PrepayOutcome {
    Prepared {
        prepay_id: String,
        code_url: Option<String>,
        mweb_url: Option<String>,
    },
    AlreadyPaid,
    AlreadyClosed,
    Failed(CallFailure),
}

#[derive(Deserialize)]
enum QueryOutcome {
    Paid {
        transaction_id: String,
        total_fen: u64,
        time_end: Option<String>,
    },
    NotPaid,
    Closed,
    NotFound,
    Failed(CallFailure),
}

#[derive(Deserialize)]
enum CloseOutcome {
    Closed,
    AlreadyPaid,
    QueryFirst,
    Failed(CallFailure),
}

#[derive(Deserialize)]
enum RefundOutcome {
    Accepted { refund_id: String },
    Failed(CallFailure),
}

#[derive(Deserialize)]
enum RefundStatusReport {
    Processing { refund_id: String },
    Succeeded { refund_id: String },
    Closed,
    Abnormal,
    NotFound,
    Failed(CallFailure),
}

#[derive(Deserialize)]
enum OldEvent {
    Created {
        amount_fen: u64,
    },
    StartPayment {
        attempt: Box<PaymentAttempt>,
    },
    PrepayResult {
        out_trade_no: String,
        outcome: PrepayOutcome,
    },
    ClientReported {
        out_trade_no: String,
        result: ClientResult,
    },
    PaymentNotified {
        out_trade_no: String,
        transaction_id: String,
        time_end: Option<String>,
    },
    QueryResult {
        out_trade_no: String,
        outcome: QueryOutcome,
    },
    CloseRequested,
    CloseResult {
        out_trade_no: String,
        outcome: CloseOutcome,
    },
    DeadlineReached,
    RefundRequested {
        out_refund_no: String,
        amount_fen: u64,
        reason: String,
    },
    RefundResult {
        out_refund_no: String,
        outcome: RefundOutcome,
    },
    RefundStatus {
        out_refund_no: String,
        report: RefundStatusReport,
        from_notification: bool,
    },
    ConflictingNotification {
        detail: String,
    },
}

/// A format-1 audit line.
#[derive(Deserialize)]
pub(crate) struct LoggedEvent {
    revision: u64,
    at_ms: i64,
    event: OldEvent,
}

fn typed<T, E: std::fmt::Display>(what: &str, made: Result<T, E>) -> Result<T, StoreError> {
    made.map_err(|error| StoreError::Migration(format!("format 1 event {what}: {error}")))
}

fn trade_no(text: String) -> Result<OutTradeNo, StoreError> {
    typed("out_trade_no", OutTradeNo::new(text))
}

fn refund_no(text: String) -> Result<OutRefundNo, StoreError> {
    typed("out_refund_no", OutRefundNo::new(text))
}

fn failure(old: CallFailure) -> current::CallFailure {
    match old {
        CallFailure::Unknown => current::CallFailure::Unknown,
        CallFailure::Retry { code, after_ms } => current::CallFailure::Retry {
            code: ErrCode::parse(&code),
            after_ms,
        },
        CallFailure::Final { code } => current::CallFailure::Final {
            refusal: v1::refusal(&code),
        },
    }
}

fn transaction(text: String) -> Result<TransactionId, StoreError> {
    typed("transaction_id", TransactionId::new(text))
}

fn paid_at(time_end: Option<String>) -> Option<i64> {
    time_end
        .as_deref()
        .and_then(cashier_adapters::wechat::time::parse_compact)
}

fn prepay(old: PrepayOutcome) -> Result<current::PrepayOutcome, StoreError> {
    Ok(match old {
        PrepayOutcome::Prepared {
            prepay_id,
            code_url,
            mweb_url,
        } => current::PrepayOutcome::Prepared {
            prepay_id: typed("prepay_id", PrepayId::new(prepay_id))?,
            link: v1::link(code_url, mweb_url)?,
        },
        PrepayOutcome::AlreadyPaid => current::PrepayOutcome::AlreadyPaid,
        PrepayOutcome::AlreadyClosed => current::PrepayOutcome::AlreadyClosed,
        PrepayOutcome::Failed(old) => current::PrepayOutcome::Failed(failure(old)),
    })
}

fn query(old: QueryOutcome) -> Result<current::QueryOutcome, StoreError> {
    Ok(match old {
        QueryOutcome::Paid {
            transaction_id,
            total_fen,
            time_end,
        } => current::QueryOutcome::Paid {
            transaction_id: transaction(transaction_id)?,
            total: AmountFen::from_fen(total_fen),
            paid_at_s: paid_at(time_end),
        },
        QueryOutcome::NotPaid => current::QueryOutcome::NotPaid,
        QueryOutcome::Closed => current::QueryOutcome::Closed,
        QueryOutcome::NotFound => current::QueryOutcome::NotFound,
        QueryOutcome::Failed(old) => current::QueryOutcome::Failed(failure(old)),
    })
}

fn close(old: CloseOutcome) -> current::CloseOutcome {
    match old {
        CloseOutcome::Closed => current::CloseOutcome::Closed,
        CloseOutcome::AlreadyPaid => current::CloseOutcome::AlreadyPaid,
        CloseOutcome::QueryFirst => current::CloseOutcome::QueryFirst,
        CloseOutcome::Failed(old) => current::CloseOutcome::Failed(failure(old)),
    }
}

fn refund_outcome(old: RefundOutcome) -> Result<current::RefundOutcome, StoreError> {
    Ok(match old {
        RefundOutcome::Accepted { refund_id } => current::RefundOutcome::Accepted {
            refund_id: typed("refund_id", RefundId::new(refund_id))?,
        },
        RefundOutcome::Failed(old) => current::RefundOutcome::Failed(failure(old)),
    })
}

fn refund_report(old: RefundStatusReport) -> Result<current::RefundStatusReport, StoreError> {
    let id = |text: String| typed("refund_id", RefundId::new(text));
    Ok(match old {
        RefundStatusReport::Processing { refund_id } => current::RefundStatusReport::Processing {
            refund_id: id(refund_id)?,
        },
        RefundStatusReport::Succeeded { refund_id } => current::RefundStatusReport::Succeeded {
            refund_id: id(refund_id)?,
        },
        RefundStatusReport::Closed => current::RefundStatusReport::Closed,
        RefundStatusReport::Abnormal => current::RefundStatusReport::Abnormal,
        RefundStatusReport::NotFound => current::RefundStatusReport::NotFound,
        RefundStatusReport::Failed(old) => current::RefundStatusReport::Failed(failure(old)),
    })
}

fn start_payment(old: PaymentAttempt) -> Result<Event, StoreError> {
    let (out_trade_no, channel, request) = old.into_parts()?;
    let openid = request.payer.as_ref().map(|payer| payer.openid().clone());
    Ok(Event::StartPayment {
        spec: Box::new(current::AttemptSpec {
            out_trade_no,
            channel,
            notify_url: request.notify_url,
            h5_site: request.h5_site,
            openid,
            client_ip: request.client_ip,
        }),
    })
}

fn client(old: ClientResult) -> current::ClientResult {
    match old {
        ClientResult::Ok => current::ClientResult::Ok,
        ClientResult::Cancel => current::ClientResult::Cancel,
        ClientResult::Fail => current::ClientResult::Fail,
    }
}

fn event(old: OldEvent) -> Result<Event, StoreError> {
    Ok(match old {
        OldEvent::Created { amount_fen } => Event::Created {
            amount: AmountFen::from_fen(amount_fen),
        },
        OldEvent::StartPayment { attempt } => start_payment(*attempt)?,
        OldEvent::PrepayResult {
            out_trade_no,
            outcome,
        } => Event::PrepayResult {
            out_trade_no: trade_no(out_trade_no)?,
            outcome: prepay(outcome)?,
        },
        OldEvent::ClientReported {
            out_trade_no,
            result,
        } => Event::ClientReported {
            out_trade_no: trade_no(out_trade_no)?,
            result: client(result),
        },
        OldEvent::PaymentNotified {
            out_trade_no,
            transaction_id,
            time_end,
        } => Event::PaymentNotified {
            out_trade_no: trade_no(out_trade_no)?,
            transaction_id: transaction(transaction_id)?,
            paid_at_s: paid_at(time_end),
        },
        OldEvent::QueryResult {
            out_trade_no,
            outcome,
        } => Event::QueryResult {
            out_trade_no: trade_no(out_trade_no)?,
            outcome: query(outcome)?,
        },
        OldEvent::CloseRequested => Event::CloseRequested,
        OldEvent::CloseResult {
            out_trade_no,
            outcome,
        } => Event::CloseResult {
            out_trade_no: trade_no(out_trade_no)?,
            outcome: close(outcome),
        },
        OldEvent::DeadlineReached => Event::DeadlineReached,
        OldEvent::RefundRequested {
            out_refund_no,
            amount_fen,
            reason,
        } => Event::RefundRequested {
            key: v1::request_key(&out_refund_no)?,
            out_refund_no: refund_no(out_refund_no)?,
            amount: AmountFen::from_fen(amount_fen),
            reason: typed("reason", current::RefundReason::new(reason))?,
        },
        OldEvent::RefundResult {
            out_refund_no,
            outcome,
        } => Event::RefundResult {
            out_refund_no: refund_no(out_refund_no)?,
            outcome: refund_outcome(outcome)?,
        },
        OldEvent::RefundStatus {
            out_refund_no,
            report,
            from_notification,
        } => Event::RefundStatus {
            out_refund_no: refund_no(out_refund_no)?,
            report: refund_report(report)?,
            from_notification,
        },
        OldEvent::ConflictingNotification { detail } => Event::ConflictingNotification { detail },
    })
}

/// Migrates one format-1 audit line.
pub(crate) fn migrate_event(old: LoggedEvent) -> Result<current::LoggedEvent, StoreError> {
    Ok(current::LoggedEvent {
        revision: old.revision,
        at_ms: old.at_ms,
        event: event(old.event)?,
    })
}
