//! 医保 pay through the engine: the payer's authorisation (userQuery: authCode → payAuthNo,
//! before any state exists, so a refused or replayed code changes nothing), the medical attempt
//! (6201 → payinsurance order, waited for like a unified order), the client's jump, and the
//! payinsurance notification.

use std::net::IpAddr;

use cashier_adapters::medical::payinsurance::notify::UnverifiedMedicalNotification;
use cashier_adapters::medical::payinsurance::unified_order::MedicalOrderType;
use cashier_adapters::medical::user_query::{UserQueryReply, UserQueryRequest};
use cashier_adapters::{bridge, AppId, OpenId, OutTradeNo};

use crate::engine::payments::wait_for;
use crate::engine::{Engine, NotificationResponse};
use crate::error::EngineError;
use crate::machine::Outcome;
use crate::medical_config::MedicalEntryConfig;
use crate::metrics::bump;
use crate::model::*;
use crate::order_number::{Kind, OrderNumber};
use crate::shell::Command;
use crate::store::IndexKind;

/// A 医保 payment the host asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalPaymentRequest {
    /// The configured 医保 entry.
    pub entry: String,
    /// The `authCode` the 医保 auth mini program returned (single-use, minutes).
    pub auth_code: String,
    /// The payer's openid under the entry's merchant app.
    pub openid: OpenId,
    /// Registration (挂号) or clinic (诊间).
    pub order_type: MedicalOrderType,
    /// The payer's IP.
    pub client_ip: IpAddr,
    /// The fee lines uploaded to NHSA; they must add up to the order's amount. Empty: one line
    /// of the whole order under `catalogue_code`.
    pub fee_lines: Vec<MedicalFeeLine>,
    /// 医疗类别; the entry's default when `None`.
    pub med_type: Option<MedicalId>,
}

/// What the client needs to pay a 医保 attempt: the jump into the 医保 pay mini program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalPaymentStart {
    /// The attempt's `hosp_out_trade_no`.
    pub out_trade_no: OutTradeNo,
    /// `pay_appid`: `wx.navigateToMiniProgram({appId})`.
    pub pay_appid: AppId,
    /// `pay_url`: its `path`, or the official-account H5 page's redirect target.
    pub pay_url: PayUrl,
    /// The hospital mini program page carrying both (`/pages/pay/pay?type=2&appid=…&payUrl=…`),
    /// when the merchant entry has a bridge page.
    pub bridge_url: Option<String>,
    /// NHSA's split: what the fund, the personal account and cash pay.
    pub split: cashier_adapters::medical::nhsa::Split,
}

fn invalid(field: &'static str, reason: impl ToString) -> EngineError {
    EngineError::InvalidInput {
        field,
        reason: reason.to_string(),
    }
}

fn medical_id(field: &'static str, text: String) -> Result<MedicalId, EngineError> {
    MedicalId::new(text).map_err(|error| invalid(field, error))
}

impl Engine {
    fn medical_entry(&self, name: &str) -> Result<MedicalEntryConfig, EngineError> {
        self.shell()
            .config
            .medical_entry(name)
            .cloned()
            .ok_or_else(|| EngineError::UnknownEntry {
                entry: name.to_owned(),
            })
    }

    /// Exchanges the payer's authCode for a payAuthNo (userQuery, yibao-pay.md §3.2).
    async fn authorise(
        &self,
        entry: &MedicalEntryConfig,
        auth_code: &str,
        openid: &OpenId,
    ) -> Result<UserQueryReply, EngineError> {
        let credentials = entry
            .credentials
            .as_ref()
            .ok_or_else(|| invalid("entry", "医保 credentials are not configured"))?;
        let merchant = self
            .shell()
            .config
            .entry(entry.merchant_entry.as_str())
            .ok_or_else(|| invalid("merchant_entry", "names no entry"))?;
        let client = self.shell().client(&merchant.channel())?;
        let request = UserQueryRequest {
            auth_code: auth_code.to_owned(),
            openid: openid.to_string(),
        };
        let now_ms = self.shell().now_ms();
        let request_id = client.next_nonce();
        let built = request.build(
            &credentials.partner,
            &entry.user_query_url,
            now_ms,
            request_id.as_str(),
        );
        let response = client.transport().send(built).await.map_err(|error| {
            EngineError::MedicalAuthorisation {
                reason: error.to_string(),
            }
        })?;
        UserQueryRequest::parse(&response).map_err(|error| EngineError::MedicalAuthorisation {
            reason: error.to_string(),
        })
    }

    /// Starts a 医保 payment: authorises the payer, adds a medical attempt, pre-settles at
    /// NHSA and places WeChat's payinsurance order, waiting (up to `start_payment_wait`) for
    /// both. A refused authCode changes nothing; the payer backing out of the auth jump never
    /// reaches here.
    pub async fn start_medical_payment(
        &self,
        order_no: &OrderNumber,
        request: MedicalPaymentRequest,
    ) -> Result<MedicalPaymentStart, EngineError> {
        let entry = self.medical_entry(&request.entry)?;
        let merchant = self
            .shell()
            .config
            .entry(entry.merchant_entry.as_str())
            .cloned()
            .ok_or_else(|| invalid("merchant_entry", "names no entry"))?;
        let record = self.send(order_no, Command::Get).await?.record;
        if record.state.is_paid() {
            return Err(crate::machine::Rejection::AlreadyPaid.into());
        }
        let fee_lines = if request.fee_lines.is_empty() {
            vec![MedicalFeeLine {
                catalogue_code: medical_id("fee_lines", "001101000010000".into())?,
                name: MedicalText::new(record.description.to_string())
                    .map_err(|error| invalid("fee_lines", error))?,
                count: 1,
                amount: record.amount,
            }]
        } else {
            request.fee_lines
        };
        let authorised = self
            .authorise(&entry, &request.auth_code, &request.openid)
            .await?;
        let number =
            self.issue_number(entry.channel, Kind::MedicalSettlement, record.product_type)?;
        let now_s = self.shell().now_ms().div_euclid(1000);
        let expires_s = record
            .expires_ms
            .div_euclid(1000)
            .max(now_s + crate::machine::MIN_ATTEMPT_LIFETIME_S);
        let spec = MedicalSpec {
            out_trade_no: OutTradeNo::new(number.to_string())
                .map_err(|error| invalid("out_trade_no", error))?,
            context: MedicalContext {
                entry: entry.name.clone(),
                appid: merchant.appid.clone(),
                mch_id: merchant.mch_id.clone(),
            },
            request: MedicalRequest {
                order_type: request.order_type,
                openid: request.openid,
                client_ip: request.client_ip,
                notify_url: entry.notify_url.clone(),
                body: MedicalText::new(record.description.to_string())
                    .map_err(|error| invalid("description", error))?,
                return_url: entry.return_url.clone(),
                city_id: medical_id("cityId", authorised.city_id.clone())?,
                location: medical_id("location", authorised.location.clone())?,
                med_type: request.med_type.unwrap_or(entry.default_med_type.clone()),
                fee_lines,
                time_start_s: now_s,
                time_expire_s: expires_s,
            },
            pay_auth_no: medical_id("payAuthNo", authorised.pay_auth_no.clone())?,
        };
        let reply = self
            .send(
                order_no,
                Command::Apply(Event::MedicalStart {
                    spec: Box::new(spec),
                }),
            )
            .await?;
        let Outcome::AttemptStarted(out_trade_no) = reply.outcome.clone() else {
            return Err(invalid(
                "outcome",
                format!("unexpected {:?}", reply.outcome),
            ));
        };
        let wait = self.inner.runtime.start_payment_wait;
        let record = wait_for(reply, wait, |record| medical_settled(record, &out_trade_no)).await;
        medical_start(&record, &merchant, out_trade_no)
    }

    /// Handles a payinsurance notification body: verified against the attempt's merchant and
    /// NHSA split (sign, appid/mch_id, total/cash/insurance), applied, acknowledged once
    /// durable. Forged, mismatched or unknown: FAIL, nothing changed (a validly signed mismatch
    /// is a durable alert).
    pub async fn handle_medical_notification(&self, body: &[u8]) -> NotificationResponse {
        let routed = UnverifiedMedicalNotification::parse(body)
            .map_err(|error| error.to_string())
            .and_then(|notification| {
                let number = notification
                    .hosp_out_trade_no()
                    .ok_or_else(|| "no hosp_out_trade_no".to_owned())?;
                let order_no = self
                    .order_of(IndexKind::OutTradeNo, number)
                    .map_err(|error| error.to_string())?;
                Ok((order_no, notification))
            });
        match routed {
            Ok((order_no, notification)) => {
                let command = Command::MedicalNotification(Box::new(notification));
                self.deliver(&order_no, command).await
            }
            Err(reason) => {
                bump(&self.shell().metrics.medical_notifications_rejected);
                NotificationResponse::rejected(reason)
            }
        }
    }
}

fn medical_settled(record: &OrderRecord, out_trade_no: &OutTradeNo) -> bool {
    record.medical_attempt(out_trade_no).is_some_and(|attempt| {
        !matches!(
            attempt.state,
            MedicalState::PreSettling { .. } | MedicalState::Ordering { .. }
        )
    })
}

fn medical_start(
    record: &OrderRecord,
    merchant: &crate::config::EntryConfig,
    out_trade_no: OutTradeNo,
) -> Result<MedicalPaymentStart, EngineError> {
    let attempt =
        record
            .medical_attempt(&out_trade_no)
            .ok_or_else(|| EngineError::UnknownOrder {
                key: out_trade_no.to_string(),
            })?;
    match &attempt.state {
        MedicalState::Paying { nhsa, placed, .. } => {
            let bridge_url = merchant
                .mini_program_pay_page
                .as_deref()
                .map(|page| {
                    bridge::medical_pay_url(
                        page,
                        placed.pay_appid.as_str(),
                        placed.pay_url.as_str(),
                    )
                })
                .transpose()
                .map_err(|error| invalid("mini_program_pay_page", error))?;
            Ok(MedicalPaymentStart {
                out_trade_no,
                pay_appid: placed.pay_appid.clone(),
                pay_url: placed.pay_url.clone(),
                bridge_url,
                split: nhsa.split,
            })
        }
        MedicalState::Failed { refusal, .. } => Err(EngineError::PaymentRefused {
            out_trade_no,
            refusal: refusal.clone(),
        }),
        MedicalState::Closing {
            refusal: Some(refusal),
            ..
        } => Err(EngineError::PaymentRefused {
            out_trade_no,
            refusal: refusal.clone(),
        }),
        other => Err(EngineError::PaymentNotReady {
            out_trade_no,
            state: other.name(),
        }),
    }
}
