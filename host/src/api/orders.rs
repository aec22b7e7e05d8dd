//! The H5 pages' order calls. A payer sees and pays only their own orders (the owner is the
//! person, by unionid, or the app's openid when WeChat gave no unionid); another payer's order
//! number answers the same 404 as an unknown one. Prices come from the catalogue, never from
//! the client. The status call long-polls: it answers as soon as the state differs from what
//! the page last saw, and what it answers is the engine's, never the client's word.

use std::time::Duration;

use cashier_adapters::medical::payinsurance::unified_order::MedicalOrderType;
use cashier_adapters::{AmountFen, OutTradeNo};
use cashier_engine::config::EntryKind;
use cashier_engine::model::{ClientResult, Description, OrderRecord, RefundReason, RequestKey};
use cashier_engine::order_number::{OrderNumber, ProductType};
use cashier_engine::{
    ClientPayment, MedicalPaymentRequest, NewOrder, PaymentRequest, RefundRequest,
};
use serde::Deserialize;

use crate::api::HostCore;
use crate::error::ApiError;
use crate::http::{HostRequest, HostResponse};
use crate::identity::Session;

/// The longest a status call waits for a change.
const LONG_POLL_MAX_MS: u64 = 10_000;

#[derive(Deserialize)]
struct NewOrderBody {
    item: String,
}

#[derive(Deserialize)]
struct PayBody {
    entry: String,
}

#[derive(Deserialize)]
struct MedicalBody {
    entry: String,
    auth_code: String,
}

#[derive(Deserialize)]
struct ClientResultBody {
    out_trade_no: String,
    result: String,
}

#[derive(Deserialize)]
struct RefundBody {
    key: String,
    amount_fen: u64,
    reason: String,
}

fn owner_of(session: &Session) -> String {
    match &session.unionid {
        Some(unionid) => format!("u:{unionid}"),
        None => format!("o:{}:{}", session.app, session.openid),
    }
}

fn order_json(record: &OrderRecord) -> serde_json::Value {
    let attempts: Vec<serde_json::Value> = record
        .attempts
        .iter()
        .map(|attempt| {
            serde_json::json!({
                "out_trade_no": attempt.out_trade_no.as_str(),
                "entry": attempt.channel.entry.as_str(),
                "trade_type": attempt.channel.trade.as_str(),
                "state": attempt.state.name(),
            })
        })
        .chain(record.medical.iter().map(|attempt| {
            serde_json::json!({
                "out_trade_no": attempt.out_trade_no.as_str(),
                "entry": attempt.context.entry.as_str(),
                "trade_type": "MEDICAL",
                "state": attempt.state.name(),
                "split": attempt.state.pre_settlement().map(|nhsa| serde_json::json!({
                    "fund_fen": nhsa.split.fund.fen(), "account_fen": nhsa.split.account.fen(),
                    "cash_fen": nhsa.split.cash.fen() })),
            })
        }))
        .collect();
    let refunds: Vec<serde_json::Value> = record
        .refunds
        .iter()
        .map(|refund| {
            serde_json::json!({ "out_refund_no": refund.out_refund_no.as_str(),
                "amount_fen": refund.amount.fen(), "state": refund.state.name() })
        })
        .chain(record.medical_refunds().map(|(_, refund)| {
            let state = if refund.succeeded() {
                "succeeded"
            } else if refund.is_final() {
                "failed"
            } else {
                "processing"
            };
            serde_json::json!({ "out_refund_no": refund.out_refund_no.as_str(),
                "amount_fen": refund.split.total.fen(), "state": state })
        }))
        .collect();
    serde_json::json!({
        "order_no": record.order_no.as_str(),
        "state": format!("{:?}", record.state),
        "amount_fen": record.amount.fen(),
        "description": record.description.as_str(),
        "created_ms": record.created_ms,
        "attempts": attempts,
        "refunds": refunds,
    })
}

fn client_json(out_trade_no: &OutTradeNo, client: &ClientPayment) -> serde_json::Value {
    let body = match client {
        ClientPayment::Jsapi(params) => serde_json::json!({ "kind": "jsapi", "params": params }),
        ClientPayment::MiniProgram { params, bridge_url } => {
            serde_json::json!({ "kind": "mini_program", "params": params, "bridge_url": bridge_url })
        }
        ClientPayment::App(params) => serde_json::json!({ "kind": "app", "params": params }),
        ClientPayment::Native { code_url } => {
            serde_json::json!({ "kind": "native", "code_url": code_url.as_str() })
        }
        ClientPayment::Mweb { mweb_url } => {
            serde_json::json!({ "kind": "mweb", "mweb_url": mweb_url })
        }
    };
    serde_json::json!({ "out_trade_no": out_trade_no.as_str(), "client": body })
}

fn parse_order_no(text: &str) -> Result<OrderNumber, ApiError> {
    OrderNumber::parse(text.to_owned()).map_err(|_| ApiError::no_such_order())
}

impl HostCore {
    pub(crate) fn catalogue(&self) -> HostResponse {
        let items: Vec<serde_json::Value> = self
            .config
            .catalogue
            .iter()
            .map(|(id, name, price_fen)| serde_json::json!({ "item": id, "name": name, "price_fen": price_fen }))
            .collect();
        HostResponse::json(200, &serde_json::json!({ "items": items }))
    }

    /// The order, if it is the caller's.
    async fn own_order(&self, session: &Session, order_no: &str) -> Result<OrderRecord, ApiError> {
        let order_no = parse_order_no(order_no)?;
        let key = format!("{}\0{order_no}", owner_of(session));
        let owned = self.owners.contains_key(key.as_bytes()).unwrap_or(false);
        if !owned {
            return Err(ApiError::no_such_order());
        }
        Ok(self.engine.query(&order_no).await?)
    }

    pub(crate) async fn create_order(
        &self,
        request: &HostRequest,
    ) -> Result<HostResponse, ApiError> {
        let session = self.session(request)?;
        let body: NewOrderBody = HostCore::json_body(request)?;
        let (index, (_, name, price_fen)) = self
            .config
            .catalogue
            .iter()
            .enumerate()
            .find(|(_, (id, _, _))| *id == body.item)
            .ok_or_else(|| ApiError::bad_request(format!("no item {}", body.item)))?;
        let receipt = self
            .engine
            .create_order(NewOrder {
                order_no: None,
                product_type: ProductType(u8::try_from(index + 1).unwrap_or(99)),
                amount: AmountFen::from_fen(*price_fen),
                description: Description::new(name.clone())
                    .map_err(|error| ApiError::bad_request(error.to_string()))?,
                payer_unionid: session.unionid.clone(),
            })
            .await?;
        let key = format!("{}\0{}", owner_of(&session), receipt.record.order_no);
        let stored = self
            .owners
            .insert(key.as_bytes(), &[])
            .and_then(|_| self.owners.flush().map(|_| ()));
        if stored.is_err() {
            return Err(ApiError::new(
                503,
                "try_again",
                "系统繁忙，请稍后重试",
                "busy, try again shortly",
            ));
        }
        Ok(HostResponse::json(201, &order_json(&receipt.record)))
    }

    pub(crate) async fn my_orders(&self, request: &HostRequest) -> Result<HostResponse, ApiError> {
        let session = self.session(request)?;
        let prefix = format!("{}\0", owner_of(&session));
        let mut orders = Vec::new();
        for entry in self.owners.scan_prefix(prefix.as_bytes()).rev().take(50) {
            let Ok((key, _)) = entry else { continue };
            let text = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            if let Ok(order_no) = OrderNumber::parse(text) {
                if let Ok(record) = self.engine.query(&order_no).await {
                    orders.push(order_json(&record));
                }
            }
        }
        Ok(HostResponse::json(
            200,
            &serde_json::json!({ "orders": orders }),
        ))
    }

    pub(crate) async fn order_status(
        &self,
        request: &HostRequest,
        order_no: &str,
    ) -> Result<HostResponse, ApiError> {
        let session = self.session(request)?;
        let mut record = self.own_order(&session, order_no).await?;
        let wait_ms = request
            .query_param("wait_ms")
            .and_then(|text| text.parse::<u64>().ok())
            .unwrap_or(0)
            .min(LONG_POLL_MAX_MS);
        let since = request.query_param("since");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
        while since.as_deref() == Some(format!("{:?}", record.state).as_str())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
            record = self.engine.query(&record.order_no).await?;
        }
        Ok(HostResponse::json(200, &order_json(&record)))
    }

    pub(crate) async fn order_action(
        &self,
        request: &HostRequest,
        order_no: &str,
        action: &str,
    ) -> Result<HostResponse, ApiError> {
        let session = self.session(request)?;
        let record = self.own_order(&session, order_no).await?;
        match action {
            "pay" => self.pay(request, &session, &record).await,
            "medical" => self.pay_medical(request, &session, &record).await,
            "client-result" => self.client_result(request, &record).await,
            _ => Err(ApiError::new(404, "not_found", "页面不存在", "not found")),
        }
    }

    async fn pay(
        &self,
        request: &HostRequest,
        session: &Session,
        record: &OrderRecord,
    ) -> Result<HostResponse, ApiError> {
        let body: PayBody = HostCore::json_body(request)?;
        let entry = self
            .engine
            .entry(&body.entry)
            .ok_or_else(|| ApiError::bad_request(format!("no entry {}", body.entry)))?;
        let jsapi = matches!(
            entry.kind,
            EntryKind::OfficialAccount | EntryKind::MiniProgram
        );
        if jsapi && entry.name.as_str() != session.app {
            return Err(ApiError::new(
                400,
                "wrong_app",
                "请在对应的公众号或小程序中支付",
                "pay in the app you logged in through",
            ));
        }
        let payment = PaymentRequest {
            entry: body.entry,
            openid: jsapi.then(|| session.openid.clone()),
            client_ip: request
                .client_ip
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        };
        let start = self.engine.start_payment(&record.order_no, payment).await?;
        Ok(HostResponse::json(
            200,
            &client_json(&start.out_trade_no, &start.client),
        ))
    }

    async fn pay_medical(
        &self,
        request: &HostRequest,
        session: &Session,
        record: &OrderRecord,
    ) -> Result<HostResponse, ApiError> {
        let body: MedicalBody = HostCore::json_body(request)?;
        let start = self
            .engine
            .start_medical_payment(
                &record.order_no,
                MedicalPaymentRequest {
                    entry: body.entry,
                    auth_code: body.auth_code,
                    openid: session.openid.clone(),
                    order_type: MedicalOrderType::Clinic,
                    client_ip: request
                        .client_ip
                        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
                    fee_lines: Vec::new(),
                    med_type: None,
                },
            )
            .await?;
        Ok(HostResponse::json(
            200,
            &serde_json::json!({
                "out_trade_no": start.out_trade_no.as_str(),
                "client": { "kind": "medical", "pay_appid": start.pay_appid.as_str(),
                    "pay_url": start.pay_url.as_str(), "bridge_url": start.bridge_url },
                "split": { "fund_fen": start.split.fund.fen(), "account_fen": start.split.account.fen(),
                    "cash_fen": start.split.cash.fen() },
            }),
        ))
    }

    async fn client_result(
        &self,
        request: &HostRequest,
        record: &OrderRecord,
    ) -> Result<HostResponse, ApiError> {
        let body: ClientResultBody = HostCore::json_body(request)?;
        let out_trade_no =
            OutTradeNo::new(body.out_trade_no).map_err(|_| ApiError::no_such_order())?;
        if record.attempt(&out_trade_no).is_none()
            && record.medical_attempt(&out_trade_no).is_none()
        {
            return Err(ApiError::no_such_order());
        }
        let result = match body.result.as_str() {
            "ok" => ClientResult::Ok,
            "cancel" => ClientResult::Cancel,
            "fail" => ClientResult::Fail,
            other => {
                return Err(ApiError::bad_request(format!(
                    "result {other}: ok, cancel or fail"
                )))
            }
        };
        if record.medical_attempt(&out_trade_no).is_some() {
            // Back from the 医保 mini program: a hint to ask now, nothing more.
            if result == ClientResult::Ok {
                self.engine
                    .query_wechat(&record.order_no, Duration::from_secs(3))
                    .await?;
            }
        } else {
            self.engine
                .report_client_result(&out_trade_no, result)
                .await?;
        }
        Ok(HostResponse::json(
            202,
            &serde_json::json!({ "accepted": true }),
        ))
    }

    pub(crate) async fn staff_refund(
        &self,
        request: &HostRequest,
        order_no: &str,
    ) -> Result<HostResponse, ApiError> {
        self.require_staff(request)?;
        let body: RefundBody = HostCore::json_body(request)?;
        let order_no = parse_order_no(order_no)?;
        let refund = RefundRequest {
            key: RequestKey::new(body.key)
                .map_err(|error| ApiError::bad_request(error.to_string()))?,
            amount: AmountFen::from_fen(body.amount_fen),
            reason: RefundReason::new(body.reason)
                .map_err(|error| ApiError::bad_request(error.to_string()))?,
        };
        let receipt = self.engine.refund(&order_no, refund).await?;
        let (outcome, out_refund_no) = match &receipt.outcome {
            cashier_engine::machine::Outcome::RefundRequested(number) => {
                ("requested", number.to_string())
            }
            cashier_engine::machine::Outcome::RefundAlreadyRequested(number) => {
                ("already_requested", number.to_string())
            }
            other => ("applied", format!("{other:?}")),
        };
        Ok(HostResponse::json(
            200,
            &serde_json::json!({
                "outcome": outcome, "out_refund_no": out_refund_no, "order": order_json(&receipt.record),
            }),
        ))
    }
}
