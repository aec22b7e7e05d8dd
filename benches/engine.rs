//! Engine benches (style-anchors L15): the pure transition (`machine::step` on a payment
//! notification), a sled commit of one transition (record, indexes, audit event, deadline),
//! and a commit made durable by a flush (one writer, so no group commit to share it).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use cashier::engine::machine::{self, step};
use cashier::engine::model::*;
use cashier::engine::order_number::OrderNumber;
use cashier::engine::store::{SledStore, Store};
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../engine/tests/common/mod.rs"]
mod common;

fn paying_record() -> OrderRecord {
    let record = machine::new_order(
        OrderNumber::parse("00007251127100000010000000001").unwrap(),
        7,
        888,
        "仁心医院-门诊缴费".into(),
        None,
        0,
        1_800_000,
    );
    // The engine tests' attempt builder, with the realistic request a hospital page sends.
    let mut attempt = common::attempt("01107251127100000010000000001", 888);
    attempt.request.body = "仁心医院-门诊缴费".into();
    attempt.request.client_ip = "123.12.12.123".into();
    attempt.request.notify_url = "https://pay.example.com/notify".into();
    attempt.request.openid = Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into());
    attempt.request.attach = "00007251127100000010000000001".into();
    let started = step(
        &record,
        &Event::StartPayment {
            attempt: Box::new(attempt),
        },
        0,
    )
    .unwrap()
    .record;
    let prepared = Event::PrepayResult {
        out_trade_no: "01107251127100000010000000001".into(),
        outcome: PrepayOutcome::Prepared {
            prepay_id: "wx201410272009395522657a690389285100".into(),
            code_url: None,
            mweb_url: None,
        },
    };
    step(&started, &prepared, 1_000).unwrap().record
}

fn engine_benches(criterion: &mut Criterion) {
    let record = paying_record();
    let notified = Event::PaymentNotified {
        out_trade_no: "01107251127100000010000000001".into(),
        transaction_id: "4200000483202001042069747825".into(),
        time_end: None,
    };
    criterion.bench_function("engine/machine_step_payment_notified", |bench| {
        bench.iter(|| step(black_box(&record), black_box(&notified), 2_000).unwrap())
    });
    let transition = step(&record, &notified, 2_000).unwrap();
    let logged = LoggedEvent {
        revision: transition.record.revision,
        at_ms: 2_000,
        event: notified.clone(),
    };
    let store = SledStore::temporary().unwrap();
    criterion.bench_function("engine/store_commit_transition", |bench| {
        bench.iter(|| {
            store
                .commit(Some(&record), black_box(&transition.record), Some(&logged))
                .unwrap()
        })
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = criterion.benchmark_group("engine");
    group.sample_size(30);
    group.bench_function("store_commit_and_flush_one_writer", |bench| {
        bench.iter(|| {
            store
                .commit(Some(&record), &transition.record, Some(&logged))
                .unwrap();
            runtime.block_on(store.flush()).unwrap();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = engine_benches
}
criterion_main!(benches);
