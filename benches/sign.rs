//! Signing benches (issue #2 target: signing within 1.3x of the raw hash of the same bytes):
//! MD5 and HMAC-SHA256 over a realistic unifiedorder parameter set next to the raw hash of the
//! same canonical string, plus a whole unifiedorder request build (validate, sign, write XML).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use cashier::adapters::{ApiBase, Endpoint, Nonce, SignType};
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::Mac;
use md5::Digest;

fn raw_md5(bytes: &[u8]) -> [u8; 16] {
    md5::Md5::digest(bytes).into()
}

fn raw_hmac(prototype: &hmac::Hmac<sha2::Sha256>, bytes: &[u8]) -> [u8; 32] {
    let mut mac = prototype.clone();
    mac.update(bytes);
    mac.finalize().into_bytes().into()
}

fn sign_benches(criterion: &mut Criterion) {
    let fields = common::unified_order_fields();
    let canonical = common::canonical_bytes(&fields);
    let key = cashier::adapters::ApiKey::new(common::KEY).unwrap();
    let prototype =
        <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(common::KEY.as_bytes()).unwrap();
    println!(
        "canonical string: {} bytes, {} parameters",
        canonical.len(),
        fields.len()
    );

    let mut group = criterion.benchmark_group("sign");
    group.bench_function("raw_md5_of_canonical", |bench| {
        bench.iter(|| raw_md5(black_box(&canonical)))
    });
    group.bench_function("sign_md5", |bench| {
        bench.iter(|| black_box(&fields).sign(SignType::Md5, &key))
    });
    group.bench_function("raw_hmac_sha256_of_canonical", |bench| {
        bench.iter(|| raw_hmac(&prototype, black_box(&canonical)))
    });
    group.bench_function("sign_hmac_sha256", |bench| {
        bench.iter(|| black_box(&fields).sign(SignType::HmacSha256, &key))
    });
    group.finish();

    common::report_ratio(
        "sign_md5 / raw_md5",
        || {
            black_box(black_box(&fields).sign(SignType::Md5, &key));
        },
        || {
            black_box(raw_md5(black_box(&canonical)));
        },
    );
    common::report_ratio(
        "sign_hmac_sha256 / raw_hmac_sha256",
        || {
            black_box(black_box(&fields).sign(SignType::HmacSha256, &key));
        },
        || {
            black_box(raw_hmac(&prototype, black_box(&canonical)));
        },
    );

    let request = common::unified_order_request();
    let merchant = common::merchant(SignType::Md5);
    let base = ApiBase::production();
    let nonce = Nonce::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap();
    criterion.bench_function("request_build/unifiedorder_md5", |bench| {
        bench.iter(|| black_box(&request).build(&base, &merchant, &nonce).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = sign_benches
}
criterion_main!(benches);
