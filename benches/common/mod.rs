//! Shared bench inputs: a realistic JSAPI unifiedorder parameter set and a 20-field payment
//! notification (the shapes perf-anchors.md measured), plus an interleaved ratio timer.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use cashier::adapters::endpoints::unified_order::{Payer, Trade, UnifiedOrderRequest};
use cashier::adapters::{
    AmountFen, ApiKey, AppId, Fields, MchId, MerchantContext, OpenId, OutTradeNo, SignType,
};

pub const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

pub fn merchant(sign_type: SignType) -> MerchantContext {
    MerchantContext::direct(
        AppId::new("wxd930ea5d5a258f4f").unwrap(),
        MchId::new("10000100").unwrap(),
        sign_type,
        ApiKey::new(KEY).unwrap(),
    )
}

pub fn unified_order_request() -> UnifiedOrderRequest {
    let mut request = UnifiedOrderRequest::new(
        OutTradeNo::new("0110120261127100000000001").unwrap(),
        "仁心医院-门诊缴费",
        AmountFen::from_fen(888),
        IpAddr::V4(Ipv4Addr::new(123, 12, 12, 123)),
        "https://pay.example.com/wechat/notify",
        Trade::Jsapi {
            payer: Payer::OpenId(OpenId::new("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").unwrap()),
        },
    );
    request.attach = Some("挂号".into());
    request
}

/// The signed fields of a JSAPI unifiedorder (13 parameters, about 330 bytes canonical).
pub fn unified_order_fields() -> Fields {
    let mut fields: Fields = [
        ("appid", "wxd930ea5d5a258f4f"),
        ("mch_id", "10000100"),
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("sign_type", "MD5"),
        ("body", "仁心医院-门诊缴费"),
        ("attach", "挂号"),
        ("out_trade_no", "0110120261127100000000001"),
        ("total_fee", "888"),
        ("spbill_create_ip", "123.12.12.123"),
        ("notify_url", "https://pay.example.com/wechat/notify"),
        ("trade_type", "JSAPI"),
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ("time_expire", "20261127103000"),
    ]
    .into_iter()
    .collect();
    fields.remove("sign");
    fields
}

/// The canonical string the signer streams, with `&key=` appended: the raw hash input.
pub fn canonical_bytes(fields: &Fields) -> Vec<u8> {
    let mut text = fields
        .iter()
        .filter(|(name, value)| !value.is_empty() && *name != "sign")
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    text.push_str("&key=");
    text.push_str(KEY);
    text.into_bytes()
}

/// A 20-field payment notification in WeChat's style (CDATA strings), signed.
pub fn notification_body(sign_type: SignType) -> Vec<u8> {
    let mut fields: Fields = [
        ("return_code", "SUCCESS"),
        ("return_msg", "OK"),
        ("appid", "wxd930ea5d5a258f4f"),
        ("mch_id", "10000100"),
        ("device_info", "WEB"),
        ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c"),
        ("result_code", "SUCCESS"),
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ("is_subscribe", "Y"),
        ("trade_type", "JSAPI"),
        ("bank_type", "CMC"),
        ("total_fee", "888"),
        ("fee_type", "CNY"),
        ("cash_fee", "888"),
        ("cash_fee_type", "CNY"),
        ("transaction_id", "4200000483202001042069747825"),
        ("out_trade_no", "0110120261127100000000001"),
        ("attach", "仁心医院-门诊缴费-挂号"),
        ("time_end", "20261127101530"),
    ]
    .into_iter()
    .collect();
    fields.sign_in_place(sign_type, &ApiKey::new(KEY).unwrap());
    assert_eq!(fields.len(), 20);
    cashier::adapters::xml::write(&fields).unwrap().into_bytes()
}

/// Times `first` and `second` in alternating batches and prints their medians and ratio, so the
/// ratio comes from one run under the same machine load.
pub fn report_ratio(label: &str, mut first: impl FnMut(), mut second: impl FnMut()) {
    const BATCH: u32 = 20_000;
    let mut first_ns = Vec::new();
    let mut second_ns = Vec::new();
    // Rounds alternate which side runs first, so neither gains from running after the other.
    for round in 0..40 {
        let mut time_first = || {
            let start = Instant::now();
            for _ in 0..BATCH {
                first();
            }
            start.elapsed().as_nanos() as f64 / f64::from(BATCH)
        };
        let first_sample = if round % 2 == 0 { time_first() } else { 0.0 };
        let start = Instant::now();
        for _ in 0..BATCH {
            second();
        }
        second_ns.push(start.elapsed().as_nanos() as f64 / f64::from(BATCH));
        first_ns.push(if round % 2 == 0 {
            first_sample
        } else {
            time_first()
        });
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(|a, b| a.total_cmp(b));
        values[values.len() / 2]
    };
    let (first_median, second_median) = (median(&mut first_ns), median(&mut second_ns));
    println!(
        "ratio {label}: {first_median:.0} ns / {second_median:.0} ns = {:.2}x",
        first_median / second_median
    );
    black_box(());
}
