//! End-to-end flows against the simulator: each entry point, notifications, refunds.

use cashier_engine::model::{OrderState, RefundState};
use cashier_engine::{ClientPayment, NewOrder, PaymentRequest};

use crate::support::*;

fn order(amount_fen: u64) -> NewOrder {
    NewOrder {
        order_no: None,
        product_type: 7,
        amount_fen,
        description: "仁心医院-门诊缴费".into(),
        payer_unionid: None,
    }
}

fn payer(entry: &str, openid: Option<&str>) -> PaymentRequest {
    PaymentRequest {
        entry: entry.into(),
        openid: openid.map(str::to_owned),
        client_ip: "123.12.12.123".into(),
    }
}

#[tokio::test]
async fn official_account_flow_pays_by_notification_and_refunds_with_the_paying_appid() {
    let world = World::start(100);
    let created = world.engine.create_order(order(888)).await.unwrap();
    assert_eq!(created.state, OrderState::Created);
    let start = world.engine.start_payment(&created.order_no, payer("official_account", Some(PAYER_OFFICIAL))).await.unwrap();
    assert!(matches!(start.client, ClientPayment::Jsapi(_)));
    assert_eq!(world.engine.query(&created.order_no).await.unwrap().state, OrderState::Paying);
    world.pay(&start.out_trade_no);
    world.advance(1).await;
    let paid = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(paid.state, OrderState::Paid, "{paid:#?}");
    assert_eq!(world.engine.metrics().payment_notifications_applied, 1);
    let (_, out_refund_no) = world.engine.refund(&created.order_no, 300, "退号").await.unwrap();
    world.advance(30).await;
    let refunded = world.engine.query(&created.order_no).await.unwrap();
    assert_eq!(refunded.state, OrderState::PartiallyRefunded, "{refunded:#?}");
    assert!(matches!(refunded.refund(&out_refund_no).unwrap().state, RefundState::Succeeded { .. }));
}
