//! downloadbill (wechatpay-v2.md §2.7): the backtick table, yuan amounts, summary, gzip.

use std::io::Write;

use cashier_adapters::endpoints::download_bill::{parse_bill_text, DownloadBillRequest};
use cashier_adapters::{AmountFen, Endpoint, HttpResponse};

use crate::support::{merchant, read_fixture};

#[test]
fn section_2_7_bill_rows_and_summary_are_typed() {
    let text = String::from_utf8(read_fixture("replies/downloadbill/bill_all.txt")).unwrap();
    let bill = parse_bill_text(&text).unwrap();
    assert_eq!(bill.columns.len(), 27);
    let paid = &bill.rows[0];
    assert_eq!(paid.trade_state, "SUCCESS");
    assert_eq!(paid.settlement_total_fee, AmountFen::from_fen(688));
    assert_eq!(paid.coupon_fee, Some(AmountFen::from_fen(300)));
    assert_eq!(paid.total_fee, Some(AmountFen::from_fen(888)));
    assert_eq!(paid.refund_id, None);
    // A comma inside a value does not split it: fields are separated by ",`".
    assert_eq!(paid.body.as_deref(), Some("门诊缴费,挂号费"));
    assert_eq!(paid.fee_millifen, Some(4_128));
    let refund = &bill.rows[1];
    assert_eq!(refund.out_refund_no.as_deref(), Some("R20200104001"));
    assert_eq!(refund.refund_fee, Some(AmountFen::from_fen(100)));
    assert_eq!(refund.fee_millifen, Some(-600));
    assert_eq!(bill.summary.trade_count, 2);
    assert_eq!(bill.summary.fee_millifen, Some(3_528));
    assert_eq!(
        bill.summary.requested_refund_fee,
        Some(AmountFen::from_fen(100))
    );
}

#[test]
fn section_2_7_gzip_bill_reads_like_the_plain_one() {
    let plain = read_fixture("replies/downloadbill/bill_all.txt");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&plain).unwrap();
    let gzip = encoder.finish().unwrap();
    let merchant = merchant("direct_md5");
    let from_gzip = DownloadBillRequest::parse(
        &HttpResponse {
            status: 200,
            body: gzip,
        },
        &merchant,
    )
    .unwrap();
    let from_plain = DownloadBillRequest::parse(
        &HttpResponse {
            status: 200,
            body: plain,
        },
        &merchant,
    )
    .unwrap();
    assert_eq!(from_gzip, from_plain);
    // A corrupt gzip body is a typed error.
    let corrupt = HttpResponse {
        status: 200,
        body: vec![0x1f, 0x8b, 1, 2, 3],
    };
    assert!(DownloadBillRequest::parse(&corrupt, &merchant).is_err());
}

#[test]
fn section_2_7_malformed_bills_are_typed_errors() {
    for text in [
        "",
        "a,b\n`1,`2\n",
        "a,b\n`1\n总交易单数\n`1\n",
        "交易时间\n`x\n总交易单数,应结订单总金额\n`1,`abc\n",
    ] {
        assert!(parse_bill_text(text).is_err(), "{text:?}");
    }
}
