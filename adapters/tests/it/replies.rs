//! Data-driven reply tests (wechatpay-v2.md §2, §3): every file under
//! `fixtures/wechat_v2/replies/` is listed in `replies/cases.json` with the one-line summary the
//! parser must produce, success or typed error with its caller action. The files are signed by
//! `fixtures/wechat_v2/tools/make_fixtures.py` (Python hashlib), an independent signer.

use cashier_adapters::endpoints::close_order::CloseOrderRequest;
use cashier_adapters::endpoints::download_bill::DownloadBillRequest;
use cashier_adapters::endpoints::order_query::OrderQueryRequest;
use cashier_adapters::endpoints::refund::RefundRequest;
use cashier_adapters::endpoints::refund_query::RefundQueryRequest;
use cashier_adapters::endpoints::sandbox_sign_key::SandboxSignKeyRequest;
use cashier_adapters::endpoints::unified_order::UnifiedOrderRequest;
use cashier_adapters::{Endpoint, HttpResponse, MerchantContext, WechatError};

use crate::support::{fixture_dir, merchant, read_fixture, read_json};

/// One line naming the error's layer, its detail, the caller action and whether the outcome is
/// unknown.
pub fn describe_error(error: &WechatError) -> String {
    let detail = match error {
        WechatError::Business { err_code, .. } => format!("Business({err_code})"),
        WechatError::Protocol { return_msg } => format!("Protocol({return_msg})"),
        WechatError::Signature(check) => format!("Signature({check:?})"),
        WechatError::IdentityMismatch { field, .. } => format!("IdentityMismatch({field})"),
        WechatError::MalformedReply(xml) => format!("MalformedReply({xml:?})"),
        WechatError::ReplyField(field) => format!("ReplyField({field})"),
        other => format!("{other:?}"),
    };
    format!(
        "error {detail} action={:?} unknown={}",
        error.action(),
        error.outcome_unknown()
    )
}

fn summarize<E: Endpoint>(
    body: Vec<u8>,
    merchant: &MerchantContext,
    describe: impl Fn(&E::Reply) -> String,
) -> String {
    let response = HttpResponse { status: 200, body };
    match E::parse(&response, merchant) {
        Ok(reply) => format!("ok {}", describe(&reply)),
        Err(error) => describe_error(&error),
    }
}

fn summarize_case(endpoint: &str, body: Vec<u8>, merchant: &MerchantContext) -> String {
    match endpoint {
        "unifiedorder" => summarize::<UnifiedOrderRequest>(body, merchant, |reply| {
            format!(
                "trade_type={} prepay_id={} code_url={:?} mweb_url={}",
                reply.trade_type,
                reply.prepay_id,
                reply.code_url,
                reply.mweb_url.is_some()
            )
        }),
        "orderquery" => summarize::<OrderQueryRequest>(body, merchant, |reply| {
            let details = &reply.details;
            format!(
                "trade_state={} out_trade_no={} transaction_id={:?} total_fee={:?} cash_fee={:?} coupons={:?}",
                reply.trade_state,
                details.out_trade_no,
                details.transaction_id.as_ref().map(|id| id.as_str()),
                details.total_fee.map(|fee| fee.fen()),
                details.cash_fee.map(|fee| fee.fen()),
                details
                    .coupons
                    .iter()
                    .map(|coupon| format!("{}:{}:{}", coupon.coupon_id, coupon.coupon_type.as_deref().unwrap_or("-"), coupon.coupon_fee))
                    .collect::<Vec<_>>()
            )
        }),
        "closeorder" => summarize::<CloseOrderRequest>(body, merchant, |reply| {
            format!("result_msg={:?}", reply.result_msg)
        }),
        "refund" => summarize::<RefundRequest>(body, merchant, |reply| {
            format!(
                "refund_id={} out_refund_no={} refund_fee={}",
                reply.refund_id, reply.out_refund_no, reply.refund_fee
            )
        }),
        "refundquery" => summarize::<RefundQueryRequest>(body, merchant, |reply| {
            let refunds: Vec<String> = reply
                .refunds
                .iter()
                .map(|refund| {
                    format!(
                        "{}:{}:{}:coupons={}",
                        refund.out_refund_no,
                        refund.refund_status,
                        refund.refund_fee,
                        refund.coupon_refunds.len()
                    )
                })
                .collect();
            format!(
                "total_refund_count={:?} next_offset_from_10={:?} refunds={refunds:?}",
                reply.total_refund_count,
                reply.next_offset(10)
            )
        }),
        "downloadbill" => summarize::<DownloadBillRequest>(body, merchant, |bill| {
            format!(
                "rows={} trade_count={}",
                bill.rows.len(),
                bill.summary.trade_count
            )
        }),
        "getsignkey" => summarize::<SandboxSignKeyRequest>(body, merchant, |key| {
            format!("sandbox key {}", key.masked())
        }),
        other => panic!("unknown endpoint {other}"),
    }
}

#[test]
fn section_2_and_3_every_reply_fixture_parses_to_its_expected_summary() {
    let manifest = read_json("replies/cases.json");
    let cases = manifest["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for case in cases {
        let endpoint = case["endpoint"].as_str().unwrap();
        let file = case["file"].as_str().unwrap();
        listed.insert(format!("{endpoint}/{file}"));
        let merchant = merchant(case["merchant"].as_str().unwrap());
        let body = read_fixture(&format!("replies/{endpoint}/{file}"));
        let actual = summarize_case(endpoint, body, &merchant);
        let expected = case["expect"].as_str().unwrap();
        if actual != expected {
            failures.push(format!(
                "{endpoint}/{file}\n  expected: {expected}\n  actual:   {actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every fixture file is covered by a case, so none is silently untested.
    for entry in std::fs::read_dir(fixture_dir().join("replies")).unwrap() {
        let endpoint_dir = entry.unwrap().path();
        if !endpoint_dir.is_dir() {
            continue;
        }
        let endpoint = endpoint_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for file in std::fs::read_dir(&endpoint_dir).unwrap() {
            let name = file.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                listed.contains(&format!("{endpoint}/{name}")),
                "{endpoint}/{name} has no case in replies/cases.json"
            );
        }
    }
}

#[test]
fn section_3_non_200_status_leaves_the_outcome_unknown() {
    let merchant = merchant("direct_md5");
    let response = HttpResponse {
        status: 502,
        body: b"<html>Bad Gateway</html>".to_vec(),
    };
    let error = UnifiedOrderRequest::parse(&response, &merchant).unwrap_err();
    assert_eq!(
        describe_error(&error),
        "error HttpStatus { status: 502 } action=RetrySameParameters unknown=true"
    );
}
