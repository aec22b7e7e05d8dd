//! The adapters' requests built from typed records: the unified order of an attempt (the same
//! bytes on every retry, WeChat's re-entry rule), the refund of a refund record.

use cashier_adapters::endpoints::refund::RefundRequest;
use cashier_adapters::endpoints::unified_order::{
    H5Scene, Payer as WirePayer, Trade, UnifiedOrderRequest,
};
use cashier_adapters::OrderRef;

use crate::model::*;

/// The unified order of an attempt.
pub(crate) fn unified_order(attempt: &PaymentAttempt) -> Result<UnifiedOrderRequest, Refusal> {
    let request = &attempt.request;
    let trade = match (attempt.channel.trade, &request.payer) {
        (TradeKind::Jsapi, Some(Payer::OpenId(openid))) => Trade::Jsapi {
            payer: WirePayer::OpenId(openid.clone()),
        },
        (TradeKind::Jsapi, Some(Payer::SubOpenId(openid))) => Trade::Jsapi {
            payer: WirePayer::SubOpenId(openid.clone()),
        },
        (TradeKind::Jsapi, None) => {
            return Err(Refusal::Invalid("JSAPI attempt without a payer".into()))
        }
        (TradeKind::Native, _) => Trade::Native {
            product_id: format!("{:02}", request.product.map_or(0, |product| product.0)),
        },
        (TradeKind::Mweb, _) => {
            let site = request
                .h5_site
                .as_ref()
                .ok_or_else(|| Refusal::Invalid("MWEB attempt without an H5 site".into()))?;
            Trade::Mweb {
                scene: H5Scene {
                    wap_url: site.url.to_string(),
                    wap_name: site.name.to_string(),
                },
            }
        }
        (TradeKind::App, _) => Trade::App,
    };
    let mut unified = UnifiedOrderRequest::new(
        attempt.out_trade_no.clone(),
        request.body.to_string(),
        request.total,
        request.client_ip,
        request.notify_url.to_string(),
        trade,
    );
    unified.attach = Some(request.attach.to_string());
    unified.time_start_unix_s = Some(request.time_start_s);
    unified.time_expire_unix_s = Some(request.time_expire_s);
    Ok(unified)
}

/// The refund request of a refund, of the attempt it returns money of.
pub(crate) fn refund(
    refund: &RefundRecord,
    attempt: &PaymentAttempt,
    notify_url: Option<&NotifyUrl>,
) -> RefundRequest {
    let reason = match &refund.cause {
        RefundCause::Requested { reason, .. } => reason.to_string(),
        RefundCause::DuplicatePayment => "重复支付退款".into(),
        RefundCause::PaidAfterClose => "订单已关闭，退回款项".into(),
    };
    RefundRequest {
        order: OrderRef::OutTradeNo(attempt.out_trade_no.clone()),
        out_refund_no: refund.out_refund_no.clone(),
        total_fee: attempt.request.total,
        refund_fee: refund.amount,
        refund_desc: (!reason.is_empty()).then_some(reason),
        refund_account: None,
        notify_url: notify_url.map(ToString::to_string),
    }
}
