//! Notification benches (issue #2 target: parse + verify of a 20-field notification under
//! 5 us): the full path (XML read, sign check, identity and amount checks, typed details), and
//! its parts.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use cashier::adapters::notify::payment::UnverifiedPaymentNotification;
use cashier::adapters::{xml, AmountFen, SignType};
use criterion::{criterion_group, criterion_main, Criterion};

fn notify_benches(criterion: &mut Criterion) {
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        let body = common::notification_body(sign_type);
        let merchant = common::merchant(sign_type);
        let amount = AmountFen::from_fen(888);
        // Sanity: the body verifies, so the bench measures the success path.
        UnverifiedPaymentNotification::parse(&body)
            .unwrap()
            .verify(&merchant, amount)
            .unwrap();
        let label = sign_type.as_str();
        criterion.bench_function(&format!("notify/parse_verify_20_fields_{label}"), |bench| {
            bench.iter(|| {
                UnverifiedPaymentNotification::parse(black_box(&body))
                    .unwrap()
                    .verify(&merchant, amount)
                    .unwrap()
            })
        });
        if sign_type == SignType::Md5 {
            println!("notification body: {} bytes", body.len());
            criterion.bench_function("notify/xml_read_only", |bench| {
                bench.iter(|| xml::read(black_box(&body)).unwrap())
            });
            let fields = xml::read(&body).unwrap();
            criterion.bench_function("notify/verify_only", |bench| {
                bench.iter(|| {
                    black_box(&fields)
                        .verify(SignType::Md5, &merchant.key)
                        .unwrap()
                })
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = notify_benches
}
criterion_main!(benches);
