//! Engine benches (style-anchors L15): the pure transition (`machine::step` on a payment
//! notification), a sled commit of one transition (record, indexes, audit event, deadline,
//! feed notices), and a commit made durable by a flush and an fdatasync (one writer, so no
//! group commit to share it).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use cashier::adapters::{OutTradeNo, PrepayId, TransactionId};
use cashier::engine::machine::step;
use cashier::engine::model::*;
use cashier::engine::store::{Commit, SledStore, Store};
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../engine/tests/common/mod.rs"]
mod common;

fn paying_record() -> OrderRecord {
    let record = common::new_order(888, 1_800_000);
    // The engine tests' builders, with the realistic request a hospital page sends.
    let out_trade_no = OutTradeNo::new("01107251127100000010000000001").unwrap();
    let spec = common::spec(out_trade_no.clone(), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    let started = step(
        &record,
        &Event::StartPayment {
            spec: Box::new(spec),
        },
        0,
    )
    .unwrap()
    .record;
    let prepared = Event::PrepayResult {
        out_trade_no,
        outcome: PrepayOutcome::Prepared {
            prepay_id: PrepayId::new("wx201410272009395522657a690389285100").unwrap(),
            link: ClientLinkKind::None,
        },
    };
    step(&started, &prepared, 1_000).unwrap().record
}

fn engine_benches(criterion: &mut Criterion) {
    let record = paying_record();
    let notified = Event::PaymentNotified {
        out_trade_no: OutTradeNo::new("01107251127100000010000000001").unwrap(),
        transaction_id: TransactionId::new("4200000483202001042069747825").unwrap(),
        paid_at_s: None,
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
    let notices = cashier::engine::feed::notices(Some(&record), &transition.record);
    let commit = Commit {
        previous: Some(&record),
        record: &transition.record,
        event: &logged,
        notices: &notices,
    };
    // A real directory: a flush is the write-ahead log's write plus its fdatasync.
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Commits wait in memory for the next flush; one flush per 4,096 commits keeps the
    // hundreds of thousands of iterations from piling up gigabytes (about 50 ns a commit).
    let mut commits = 0u32;
    criterion.bench_function("engine/store_commit_transition", |bench| {
        bench.iter(|| {
            store.commit(black_box(commit)).unwrap();
            commits = commits.wrapping_add(1);
            if commits % 4096 == 0 {
                runtime.block_on(store.flush()).unwrap();
            }
        })
    });
    let mut group = criterion.benchmark_group("engine");
    group.sample_size(30);
    group.bench_function("store_commit_and_flush_one_writer", |bench| {
        bench.iter(|| {
            store.commit(commit).unwrap();
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
