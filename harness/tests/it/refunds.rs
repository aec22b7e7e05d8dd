//! Refund rules (wechatpay-v2.md §2.5, §2.6, §2.7): only paid orders of the same merchant and
//! mode, the same out_refund_no is one refund, cumulative ≤ paid, at most 50 and one minute
//! apart, a one-year window, PROCESSING → SUCCESS/REFUNDCLOSE/CHANGE over virtual time,
//! refundquery paging, and the bill.

use cashier_adapters::endpoints::download_bill::{BillType, DownloadBillRequest};
use cashier_adapters::endpoints::refund::RefundRequest;
use cashier_adapters::endpoints::refund_query::{RefundQueryRequest, RefundRef};
use cashier_adapters::{
    AmountFen, MerchantContext, OrderRef, OutRefundNo, OutTradeNo, RefundStatus, SignType,
};
use cashier_harness::SimTransport;

use crate::support::*;

fn refund(out_trade_no: &str, out_refund_no: &str, total: u64, fee: u64) -> RefundRequest {
    RefundRequest {
        order: OrderRef::OutTradeNo(OutTradeNo::new(out_trade_no).unwrap()),
        out_refund_no: OutRefundNo::new(out_refund_no).unwrap(),
        total_fee: AmountFen::from_fen(total),
        refund_fee: AmountFen::from_fen(fee),
        refund_desc: None,
        refund_account: None,
        notify_url: Some(NOWHERE.into()),
    }
}

fn by_order(out_trade_no: &str, offset: Option<u32>) -> RefundQueryRequest {
    RefundQueryRequest {
        refund: RefundRef::OutTradeNo(OutTradeNo::new(out_trade_no).unwrap()),
        offset,
    }
}

async fn paid_order(world: &World, merchant: &MerchantContext, out_trade_no: &str, total: u64) {
    world
        .call(merchant, &jsapi(out_trade_no, total))
        .await
        .unwrap();
    world.pay(out_trade_no);
}

#[tokio::test]
async fn section_2_5_refunds_need_a_paid_order_of_the_same_merchant_and_mode() {
    let world = World::start(50).await;
    let merchant = direct(SignType::Md5);
    world
        .call(&merchant, &jsapi("REFUND0001", 888))
        .await
        .unwrap();
    assert_eq!(
        err_code(
            &world
                .call(&merchant, &refund("REFUND0001", "R1", 888, 100))
                .await
        ),
        "ORDERNOTEXIST"
    );
    world.pay("REFUND0001");
    assert!(world
        .call(&merchant, &refund("REFUND0001", "R1", 888, 100))
        .await
        .is_ok());
    // The service provider cannot refund the direct merchant's order.
    assert_eq!(
        err_code(
            &world
                .call(&service_provider(), &refund("REFUND0001", "R2", 888, 100))
                .await
        ),
        "ORDERNOTEXIST"
    );
}

#[tokio::test]
async fn section_2_5_same_out_refund_no_is_the_same_refund() {
    let world = World::start(51).await;
    let merchant = direct(SignType::HmacSha256);
    paid_order(&world, &merchant, "REFUND0002", 888).await;
    let first = world
        .call(&merchant, &refund("REFUND0002", "R1", 888, 100))
        .await
        .unwrap();
    let again = world
        .call(&merchant, &refund("REFUND0002", "R1", 888, 100))
        .await
        .unwrap();
    assert_eq!(first.refund_id, again.refund_id);
    assert_eq!(
        err_code(
            &world
                .call(&merchant, &refund("REFUND0002", "R1", 888, 101))
                .await
        ),
        "PARAM_ERROR"
    );
    assert_eq!(world.simulator.ledger().refunds.len(), 1);
}

#[tokio::test]
async fn section_2_5_cumulative_refunds_never_exceed_the_payment() {
    let world = World::start(52).await;
    let merchant = direct(SignType::Md5);
    paid_order(&world, &merchant, "REFUND0003", 888).await;
    assert!(world
        .call(&merchant, &refund("REFUND0003", "R1", 888, 800))
        .await
        .is_ok());
    world.advance(60).await;
    assert_eq!(
        err_code(
            &world
                .call(&merchant, &refund("REFUND0003", "R2", 888, 89))
                .await
        ),
        "ERROR"
    );
    assert!(world
        .call(&merchant, &refund("REFUND0003", "R3", 888, 88))
        .await
        .is_ok());
    assert_eq!(
        err_code(
            &world
                .call(&merchant, &refund("REFUND0003", "R4", 999, 1))
                .await
        ),
        "PARAM_ERROR"
    );
}

#[tokio::test]
async fn section_2_5_refunds_of_one_order_are_a_minute_apart_and_at_most_fifty() {
    let world = World::start(53).await;
    let merchant = direct(SignType::Md5);
    paid_order(&world, &merchant, "REFUND0004", 1000).await;
    assert!(world
        .call(&merchant, &refund("REFUND0004", "R0", 1000, 1))
        .await
        .is_ok());
    assert_eq!(
        err_code(
            &world
                .call(&merchant, &refund("REFUND0004", "R1", 1000, 1))
                .await
        ),
        "FREQUENCY_LIMITED"
    );
    for index in 1..50 {
        world.advance(60).await;
        let result = world
            .call(
                &merchant,
                &refund("REFUND0004", &format!("R{index}"), 1000, 1),
            )
            .await;
        assert!(result.is_ok(), "refund {index}: {result:?}");
    }
    world.advance(60).await;
    assert_eq!(
        err_code(
            &world
                .call(&merchant, &refund("REFUND0004", "R50", 1000, 1))
                .await
        ),
        "ERROR"
    );
}

#[tokio::test]
async fn section_2_5_refund_window_is_one_year() {
    let world = World::start(54).await;
    let merchant = direct(SignType::Md5);
    paid_order(&world, &merchant, "REFUND0005", 888).await;
    world.advance(366 * 24 * 3600).await;
    assert_eq!(
        err_code(
            &world
                .call(&merchant, &refund("REFUND0005", "R1", 888, 1))
                .await
        ),
        "TRADE_OVERDUE"
    );
}

#[tokio::test]
async fn section_2_6_refund_states_move_over_virtual_time_and_query_pages_by_ten() {
    let world = World::start(55).await;
    let merchant = direct(SignType::Md5);
    paid_order(&world, &merchant, "REFUND0006", 1200).await;
    world
        .simulator
        .set_refund_outcome("R1", "REFUNDCLOSE")
        .unwrap();
    world.simulator.set_refund_outcome("R2", "CHANGE").unwrap();
    for index in 0..12 {
        world
            .call(
                &merchant,
                &refund("REFUND0006", &format!("R{index}"), 1200, 10),
            )
            .await
            .unwrap();
        world.advance(60).await;
    }
    let first_page = world
        .call(&merchant, &by_order("REFUND0006", None))
        .await
        .unwrap();
    assert_eq!(first_page.total_refund_count, Some(12));
    assert_eq!(first_page.refunds.len(), 10);
    assert_eq!(first_page.next_offset(0), Some(10));
    let statuses: Vec<RefundStatus> = first_page
        .refunds
        .iter()
        .take(3)
        .map(|refund| refund.refund_status.clone())
        .collect();
    assert_eq!(
        statuses,
        [
            RefundStatus::Success,
            RefundStatus::RefundClose,
            RefundStatus::Change
        ]
    );
    let second_page = world
        .call(&merchant, &by_order("REFUND0006", Some(10)))
        .await
        .unwrap();
    assert_eq!(second_page.refunds.len(), 2);
    assert_eq!(second_page.refunds[1].out_refund_no.as_str(), "R11");
    assert_eq!(
        err_code(
            &world
                .call(&merchant, &by_order("REFUND0006", Some(12)))
                .await
        ),
        "PARAM_ERROR"
    );
    // A fresh refund is PROCESSING until the processing time passes.
    paid_order(&world, &merchant, "REFUND0007", 100).await;
    world
        .call(&merchant, &refund("REFUND0007", "RX", 100, 100))
        .await
        .unwrap();
    let one = RefundQueryRequest {
        refund: RefundRef::OutRefundNo(OutRefundNo::new("RX").unwrap()),
        offset: None,
    };
    assert_eq!(
        world.call(&merchant, &one).await.unwrap().refunds[0].refund_status,
        RefundStatus::Processing
    );
    world.advance(5).await;
    let done = world.call(&merchant, &one).await.unwrap();
    assert_eq!(done.refunds[0].refund_status, RefundStatus::Success);
    assert!(done.refunds[0].refund_success_time.is_some());
    assert_eq!(
        err_code(&world.call(&merchant, &by_order("REFUND0001", None)).await),
        "REFUNDNOTEXIST"
    );
}

#[tokio::test]
async fn section_2_5_secapi_refund_without_client_certificate_is_refused() {
    let world = World::start(56).await;
    let merchant = direct(SignType::Md5);
    paid_order(&world, &merchant, "REFUND0008", 100).await;
    let client = cashier_adapters::WechatPayClient::new(
        SimTransport::new(world.simulator.clone()).without_client_certificate(),
        cashier_adapters::ApiBase::production(),
        cashier_adapters::ChaChaNonceSource::seeded(1),
    );
    let result = client
        .call(&merchant, &refund("REFUND0008", "R1", 100, 1))
        .await;
    assert!(err_code(&result).contains("证书验证失败"), "{result:?}");
}

#[tokio::test]
async fn section_2_7_downloadbill_serves_the_day_in_wechat_format() {
    let world = World::start(57).await;
    let merchant = direct(SignType::Md5);
    paid_order(&world, &merchant, "BILL000001", 888).await;
    paid_order(&world, &merchant, "BILL000002", 1000).await;
    world
        .call(&merchant, &refund("BILL000002", "RB1", 1000, 250))
        .await
        .unwrap();
    let bill_date = cashier_adapters::wechat::time::format_date(world.simulator.now_ms() / 1000);
    let request = DownloadBillRequest {
        bill_date: bill_date.clone(),
        bill_type: BillType::All,
        gzip: false,
    };
    // The day's bill is not ready before 09:00 the next day.
    assert!(err_code(&world.call(&merchant, &request).await).contains("Bill Creating"));
    world.advance(24 * 3600).await;
    let bill = world.call(&merchant, &request).await.unwrap();
    assert_eq!(bill.rows.len(), 3);
    assert_eq!(bill.summary.trade_count, 3);
    assert_eq!(bill.summary.settlement_total_fee, AmountFen::from_fen(1888));
    assert_eq!(bill.summary.refund_fee, Some(AmountFen::from_fen(250)));
    let gzip = DownloadBillRequest {
        bill_date,
        bill_type: BillType::All,
        gzip: true,
    };
    assert_eq!(world.call(&merchant, &gzip).await.unwrap(), bill);
    let empty_day = DownloadBillRequest {
        bill_date: "20251120".into(),
        bill_type: BillType::Success,
        gzip: false,
    };
    assert!(err_code(&world.call(&merchant, &empty_day).await).contains("No Bill Exist"));
}
