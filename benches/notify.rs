//! Notification benches (issue #2 target: parse + verify of a 20-field notification under
//! 5 us): the full path (XML read, sign check, identity and amount checks, typed details), and
//! its parts; and the 医保 (payinsurance) notification's parse + verify (issue #7), on the
//! independently signed fixture.

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

fn medical_notify_bench(criterion: &mut Criterion) {
    use cashier::adapters::medical::payinsurance::notify::{
        ExpectedAmounts, UnverifiedMedicalNotification,
    };
    use cashier::adapters::{ApiKey, AppId, MchId, MerchantContext};
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/medical/payinsurance/notification.xml"
    ))
    .unwrap();
    let merchant = MerchantContext::direct(
        AppId::new("wxd930ea5d5a258f4f").unwrap(),
        MchId::new("10000100").unwrap(),
        SignType::Md5,
        ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap(),
    );
    let expected = ExpectedAmounts {
        total: AmountFen::from_fen(8800),
        cash: AmountFen::from_fen(1520),
        insurance: AmountFen::from_fen(7280),
    };
    UnverifiedMedicalNotification::parse(&body)
        .unwrap()
        .verify(&merchant, expected)
        .unwrap();
    println!("medical notification body: {} bytes", body.len());
    criterion.bench_function("notify/medical_parse_verify_md5", |bench| {
        bench.iter(|| {
            UnverifiedMedicalNotification::parse(black_box(&body))
                .unwrap()
                .verify(&merchant, expected)
                .unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = notify_benches, medical_notify_bench
}
criterion_main!(benches);
