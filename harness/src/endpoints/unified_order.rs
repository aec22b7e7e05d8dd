//! `pay/unifiedorder` (wechatpay-v2.md §2.2): validation per trade type, the payer's openid
//! bound to the app, re-entry with identical parameters (same usable prepay_id, refreshed after
//! two hours), `201 商户订单号重复` for changed parameters, ORDERPAID and ORDERCLOSED.

use std::net::IpAddr;

use cashier_adapters::wechat::time;
use cashier_adapters::Fields;

use crate::config::SimConfig;
use crate::endpoints::{check_length, check_number, fen, required};
use crate::endpoints::{Call, Outcome};
use crate::exchange::{Exchange, Rejection};
use crate::ledger::{OrderKey, SimOrder};
use crate::state::SimState;

/// The parameters whose values must match on re-entry. `nonce_str`, `sign`, `sign_type` and
/// `spbill_create_ip` (the payer's IP changes between attempts) are left out; WeChat does not
/// document the exact list, so this is an assumption.
const REENTRY_PARAMETERS: [&str; 19] = [
    "appid",
    "sub_appid",
    "device_info",
    "body",
    "detail",
    "attach",
    "fee_type",
    "total_fee",
    "time_start",
    "time_expire",
    "goods_tag",
    "notify_url",
    "trade_type",
    "product_id",
    "limit_pay",
    "openid",
    "sub_openid",
    "scene_info",
    "receipt",
];

fn parameters_of(exchange: &Exchange<'_>) -> String {
    REENTRY_PARAMETERS
        .iter()
        .filter_map(|name| exchange.field(name).map(|value| format!("{name}={value}")))
        .collect::<Vec<_>>()
        .join("&")
}

fn check_notify_url(url: &str) -> Result<(), Rejection> {
    check_length("notify_url", url, 256)?;
    let absolute = url.starts_with("http://") || url.starts_with("https://");
    if !absolute || url.contains('?') || url.contains(char::is_whitespace) {
        return Err(Rejection::protocol(
            "notify_url参数格式错误：须为不带参数的完整URL",
        ));
    }
    Ok(())
}

fn check_payer(config: &SimConfig, exchange: &Exchange<'_>) -> Result<(), Rejection> {
    let openid = exchange.field("openid");
    let sub_openid = exchange.field("sub_openid");
    match (openid, sub_openid) {
        (None, None) => Err(Rejection::business("LACK_PARAMS", "JSAPI支付必须传openid")),
        (Some(openid), _) => {
            let appid = exchange.field("appid").unwrap_or("");
            if config.payer_for(appid, openid).is_none() {
                return Err(Rejection::business("PARAM_ERROR", "appid和openid不匹配"));
            }
            Ok(())
        }
        (None, Some(sub_openid)) => {
            let sub_appid = exchange
                .field("sub_appid")
                .ok_or_else(|| Rejection::business("LACK_PARAMS", "传sub_openid时sub_appid必填"))?;
            if config.payer_for(sub_appid, sub_openid).is_none() {
                return Err(Rejection::business(
                    "PARAM_ERROR",
                    "sub_appid和sub_openid不匹配",
                ));
            }
            Ok(())
        }
    }
}

fn validate(
    config: &SimConfig,
    exchange: &Exchange<'_>,
    now_ms: i64,
) -> Result<Option<i64>, Rejection> {
    let body = required(exchange, "body")?;
    check_length("body", body, 128)?;
    check_number("out_trade_no", required(exchange, "out_trade_no")?, 32, &[])?;
    fen(exchange, "total_fee")?;
    let ip = required(exchange, "spbill_create_ip")?;
    if ip.parse::<IpAddr>().is_err() {
        return Err(Rejection::protocol("spbill_create_ip参数格式错误"));
    }
    check_notify_url(required(exchange, "notify_url")?)?;
    for (name, max) in [
        ("attach", 127),
        ("detail", 6144),
        ("device_info", 32),
        ("goods_tag", 32),
        ("scene_info", 256),
    ] {
        if let Some(value) = exchange.field(name) {
            check_length(name, value, max)?;
        }
    }
    if exchange
        .field("fee_type")
        .is_some_and(|fee_type| fee_type != "CNY")
    {
        return Err(Rejection::protocol("fee_type参数格式错误"));
    }
    match required(exchange, "trade_type")? {
        "JSAPI" => check_payer(config, exchange)?,
        "NATIVE" => {
            let product_id = exchange
                .field("product_id")
                .ok_or_else(|| Rejection::business("LACK_PARAMS", "NATIVE支付必须传product_id"))?;
            check_length("product_id", product_id, 32)?;
        }
        "MWEB" => {
            let scene = exchange
                .field("scene_info")
                .ok_or_else(|| Rejection::business("LACK_PARAMS", "H5支付必须传scene_info"))?;
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(scene);
            if !parsed.is_ok_and(|value| value.get("h5_info").is_some()) {
                return Err(Rejection::business(
                    "PARAM_ERROR",
                    "scene_info格式错误，须含h5_info",
                ));
            }
        }
        "APP" => {}
        _ => return Err(Rejection::protocol("trade_type参数格式错误")),
    }
    let parse_time = |name: &str| -> Result<Option<i64>, Rejection> {
        exchange
            .field(name)
            .map(|text| {
                time::parse_compact(text)
                    .ok_or_else(|| Rejection::protocol(format!("{name}参数格式错误")))
            })
            .transpose()
    };
    let start_s = parse_time("time_start")?;
    let expire_s = parse_time("time_expire")?;
    if let Some(expire_s) = expire_s {
        let from_s = start_s.unwrap_or(now_ms / 1000).max(now_ms / 1000);
        if expire_s <= from_s + 60 {
            return Err(Rejection::business(
                "PARAM_ERROR",
                "time_expire时间过短，须晚于当前时间1分钟以上",
            ));
        }
    }
    Ok(expire_s.map(|seconds| seconds * 1000))
}

fn reply_of(order: &SimOrder) -> Fields {
    let mut fields = Fields::new();
    fields.insert("trade_type", &order.trade_type);
    fields.insert("prepay_id", &order.prepay_id);
    fields.insert_optional("code_url", order.code_url.as_deref());
    fields.insert_optional("mweb_url", order.mweb_url.as_deref());
    fields
}

fn issue_links(state: &mut SimState, order: &mut SimOrder) {
    order.code_url = (order.trade_type == "NATIVE").then(|| {
        let token = state.nonce();
        format!(
            "weixin://wxpay/bizpayurl?pr={}",
            token.get(..7).unwrap_or(&token)
        )
    });
    order.mweb_url = (order.trade_type == "MWEB").then(|| {
        let package = state.nonce();
        format!(
            "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={}&package={}",
            order.prepay_id,
            package.get(..10).unwrap_or(&package)
        )
    });
}

pub(crate) fn handle(call: &mut Call<'_, '_>) -> Outcome {
    Outcome::Signed(rules(call))
}

fn rules(call: &mut Call<'_, '_>) -> Result<Fields, Rejection> {
    let state = &mut *call.state;
    let config = call.config;
    let exchange = call.exchange;
    let now_ms = call.now_ms;
    let expires_ms = validate(config, exchange, now_ms)?;
    let key = OrderKey {
        scope: exchange.scope(),
        out_trade_no: exchange.field("out_trade_no").unwrap_or("").to_owned(),
    };
    let parameters = parameters_of(exchange);
    if let Some(existing) = state.ledger.orders.get(&key).cloned() {
        return match existing.trade_state.as_str() {
            "SUCCESS" | "REFUND" => Err(Rejection::business("ORDERPAID", "该订单已支付")),
            "CLOSED" => Err(Rejection::business("ORDERCLOSED", "该订单已关")),
            _ if existing.parameters != parameters => {
                Err(Rejection::business("INVALID_REQUEST", "201 商户订单号重复"))
            }
            _ => {
                // Identical re-entry: the same prepay_id while it lives, a fresh one after its
                // two hours (and a fresh mweb_url every time, since it lives five minutes).
                let mut order = existing;
                if now_ms >= order.prepay_issued_ms + 2 * 3_600_000 {
                    order.prepay_id = state.new_prepay_id(now_ms);
                    order.prepay_issued_ms = now_ms;
                    state
                        .ledger
                        .by_prepay_id
                        .insert(order.prepay_id.clone(), key.clone());
                } else if order.trade_type == "MWEB" {
                    order.prepay_issued_ms = now_ms;
                }
                issue_links(state, &mut order);
                let reply = reply_of(&order);
                state.ledger.insert_order(order);
                Ok(reply)
            }
        };
    }
    let prepay_id = state.new_prepay_id(now_ms);
    let text = |name: &str| exchange.field(name).map(str::to_owned);
    let mut order = SimOrder {
        key: key.clone(),
        appid: text("appid").unwrap_or_default(),
        sub_appid: text("sub_appid"),
        trade_type: text("trade_type").unwrap_or_default(),
        total_fee: fen(exchange, "total_fee")?,
        body: text("body").unwrap_or_default(),
        attach: text("attach"),
        notify_url: text("notify_url").unwrap_or_default(),
        openid: text("openid"),
        sub_openid: text("sub_openid"),
        sign_type: exchange.sign_type.as_str().to_owned(),
        parameters,
        prepay_id: prepay_id.clone(),
        prepay_issued_ms: now_ms,
        code_url: None,
        mweb_url: None,
        created_ms: now_ms,
        expires_ms: expires_ms.unwrap_or(now_ms + i64::from(config.default_order_expiry_s) * 1000),
        trade_state: "NOTPAY".into(),
        transaction_id: None,
        paid_ms: None,
        bank_type: None,
        coupons: Vec::new(),
        closed_ms: None,
        payer_actions: Vec::new(),
        refunds: Vec::new(),
    };
    issue_links(state, &mut order);
    let reply = reply_of(&order);
    state.expiries.insert((order.expires_ms, key.clone()));
    state.ledger.by_prepay_id.insert(prepay_id, key.clone());
    state.ledger.insert_order(order);
    Ok(reply)
}
