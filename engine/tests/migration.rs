//! Stored formats (issue #9): a store written by format 1 (`fixtures/engine/store-v1`, made by
//! the first engine's `cashier demo --orders 40 --seed 3 --faults default`) opens, every record
//! and audit line migrates to the current model with the same content as the JSON the old
//! engine dumped (`fixtures/engine/store-v1-records.json`), and the indexes format 1 lacked
//! (payer, state, day) are built.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;

mod common;

use cashier_engine::model::*;
use cashier_engine::store::{IndexKind, OrderFilter, SledStore, Store, CURRENT_FORMAT};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/engine")
}

fn state_name(state: OrderState) -> String {
    format!("{state:?}")
}

#[test]
fn a_format_1_store_opens_and_every_record_migrates() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&fixtures().join("store-v1"), dir.path());
    let expected: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("store-v1-records.json")).unwrap(),
    )
    .unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.format().unwrap(), CURRENT_FORMAT);
    let mut records = store.all_orders().unwrap();
    records.sort_by(|left, right| left.order_no.cmp(&right.order_no));
    assert_eq!(records.len(), expected.len());
    assert_eq!(records.len(), 40);
    for (record, old) in records.iter().zip(&expected) {
        assert_eq!(record.order_no.as_str(), old["order_no"].as_str().unwrap());
        assert_eq!(record.amount.fen(), old["amount_fen"].as_u64().unwrap());
        assert_eq!(state_name(record.state), old["state"].as_str().unwrap());
        assert_eq!(record.revision, old["revision"].as_u64().unwrap());
        assert_eq!(
            record.attempts.len(),
            old["attempts"].as_array().unwrap().len()
        );
        assert_eq!(
            record.refunds.len(),
            old["refunds"].as_array().unwrap().len()
        );
        for (attempt, old) in record
            .attempts
            .iter()
            .zip(old["attempts"].as_array().unwrap())
        {
            assert_eq!(
                attempt.out_trade_no.as_str(),
                old["out_trade_no"].as_str().unwrap()
            );
            assert_eq!(
                attempt.request.total.fen(),
                old["request"]["total_fen"].as_u64().unwrap()
            );
            assert_eq!(
                attempt.channel.sign_type.as_str(),
                old["channel"]["sign_type"].as_str().unwrap()
            );
            assert_eq!(
                attempt.channel.trade.as_str(),
                old["channel"]["trade_type"].as_str().unwrap()
            );
            assert_eq!(
                attempt.channel.appid.as_str(),
                old["channel"]["appid"].as_str().unwrap()
            );
            if let AttemptState::Paid { transaction_id, .. } = &attempt.state {
                assert_eq!(
                    transaction_id.as_str(),
                    old["state"]["Paid"]["transaction_id"].as_str().unwrap()
                );
            }
        }
        for (refund, old) in record
            .refunds
            .iter()
            .zip(old["refunds"].as_array().unwrap())
        {
            assert_eq!(
                refund.out_refund_no.as_str(),
                old["out_refund_no"].as_str().unwrap()
            );
            assert_eq!(refund.amount.fen(), old["amount_fen"].as_u64().unwrap());
            if matches!(refund.cause, RefundCause::Requested { .. }) {
                let key = format!("v1-{}", refund.out_refund_no);
                assert_eq!(
                    refund.request_key().map(RequestKey::as_str),
                    Some(key.as_str())
                );
            }
        }
        cashier_engine::machine::check_invariants(record).unwrap();
        // Every audit line decodes in the current model, in revision order.
        let events = store.events(&record.order_no).unwrap();
        assert!(!events.is_empty());
        assert!(events
            .windows(2)
            .all(|pair| pair[0].revision < pair[1].revision));
        // The lookups format 1 wrote still answer.
        for attempt in &record.attempts {
            let found = store
                .find(IndexKind::OutTradeNo, attempt.out_trade_no.as_str())
                .unwrap();
            assert_eq!(found.as_ref(), Some(&record.order_no));
        }
    }
    // The indexes format 1 lacked were built by the migration.
    let paid = store
        .orders_by(&OrderFilter::State(OrderState::Paid), None, 100)
        .unwrap();
    let expected_paid = expected.iter().filter(|old| old["state"] == "Paid").count();
    assert_eq!(paid.len(), expected_paid);
    let alerts: usize = records.iter().map(|record| record.alerts.len()).sum();
    assert_eq!(alerts, 1);
    assert!(records
        .iter()
        .flat_map(|record| &record.alerts)
        .all(|alert| alert.kind != AlertKind::Other));
    // Reopening a migrated store changes nothing.
    drop(store);
    let reopened = SledStore::open(dir.path()).unwrap();
    assert_eq!(reopened.all_orders().unwrap().len(), 40);
}

/// Opens a fixture store and checks what every format must keep: each record keeps its
/// invariants and its audit trail, the state index agrees with the records, the feed is there.
fn open_fixture(name: &str) -> (tempfile::TempDir, SledStore, Vec<OrderRecord>) {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&fixtures().join(name), dir.path());
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.format().unwrap(), CURRENT_FORMAT);
    let records = store.all_orders().unwrap();
    assert!(records.len() >= 30, "{}", records.len());
    for record in &records {
        cashier_engine::machine::check_invariants(record).unwrap();
        assert!(!store.events(&record.order_no).unwrap().is_empty());
    }
    let paid = store
        .orders_by(&OrderFilter::State(OrderState::Paid), None, 1000)
        .unwrap();
    assert_eq!(
        paid.len(),
        records
            .iter()
            .filter(|record| record.state == OrderState::Paid)
            .count()
    );
    assert!(
        !store.feed(0, 1000).unwrap().is_empty(),
        "the host feed was written"
    );
    (dir, store, records)
}

/// Format 2's fixture (`cashier demo --orders 30 --seed 3 --faults default`, written by
/// format 2, before 医保 attempts): it migrates to the current format with none.
#[test]
fn a_format_2_store_migrates_without_medical_attempts() {
    let (_dir, _store, records) = open_fixture("store-v2");
    assert!(records.iter().all(|record| record.medical.is_empty()));
}

/// The current format's own fixture (`cashier demo --orders 30 --seed 3 --faults default
/// --data-dir fixtures/engine/store-v3`, written by format 3, 医保 orders among them): a later
/// format must keep opening it.
#[test]
fn a_format_3_store_opens_as_written_with_its_medical_orders() {
    let (_dir, store, records) = open_fixture("store-v3");
    let medical: Vec<&OrderRecord> = records
        .iter()
        .filter(|record| !record.medical.is_empty())
        .collect();
    assert!(!medical.is_empty(), "the fixture has 医保 orders");
    for record in medical {
        let number = record.medical[0].out_trade_no.as_str();
        assert_eq!(
            store.find(IndexKind::OutTradeNo, number).unwrap(),
            Some(record.order_no.clone()),
            "a 医保 attempt is found by its hosp_out_trade_no"
        );
    }
}

#[test]
fn a_store_of_an_unknown_future_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("format", &[CURRENT_FORMAT + 1])
            .unwrap();
        db.flush().unwrap();
    }
    let opened = SledStore::open(dir.path());
    assert!(
        matches!(
            opened,
            Err(cashier_engine::store::StoreError::UnknownFormat(_))
        ),
        "{:?}",
        opened.err()
    );
}
