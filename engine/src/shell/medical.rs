//! Running one 医保 effect with the attempt's own context: the NHSA centre (6201, 6401, 6203,
//! sealed with the entry's SM4/SM2 credentials), WeChat's payinsurance (order, query, close,
//! refund; MD5 with the payinsurance merchant's v2 key, the entry's `access_token`), and
//! userQuery (authCode → payAuthNo, run by the engine API before any state exists). Every
//! failure becomes an outcome event; nothing here changes state.

use cashier_adapters::medical::nhsa::fee_upload::{FeeItem, FeeUploadRequest};
use cashier_adapters::medical::nhsa::refund::{RefundRequest as NhsaRefund, RefundStatus};
use cashier_adapters::medical::nhsa::revoke::RevokeRequest;
use cashier_adapters::medical::nhsa::{self, NhsaEndpoint, NhsaError};
use cashier_adapters::medical::payinsurance::close_order::MedicalCloseOrder;
use cashier_adapters::medical::payinsurance::order_query::{
    MedicalOrderQuery, MedicalOrderRef, MedicalTradeState,
};
use cashier_adapters::medical::payinsurance::refund::MedicalRefundRequest;
use cashier_adapters::medical::payinsurance::unified_order::{MedicalOrderRequest, NhsaReference};
use cashier_adapters::medical::payinsurance::PayInsuranceError;
use cashier_adapters::{
    AppId, CallerAction, HttpRequest, HttpResponse, MerchantContext, OutRefundNo, OutTradeNo,
    SignType, TransportError,
};

use crate::medical_config::{MedicalCredentials, MedicalEntryConfig};
use crate::metrics::bump;
use crate::model::*;
use crate::shell::{Client, Shell};

/// Everything a call of one medical attempt needs.
pub(crate) struct MedicalCall<'a> {
    pub(crate) attempt: &'a MedicalAttempt,
    pub(crate) entry: MedicalEntryConfig,
    pub(crate) credentials: MedicalCredentials,
    pub(crate) merchant: MerchantContext,
    pub(crate) client: Client,
}

fn refused(detail: impl Into<String>) -> CallFailure {
    CallFailure::Final {
        refusal: Refusal::Medical(detail.into()),
    }
}

fn transport_failure(error: &TransportError) -> CallFailure {
    match error {
        TransportError::NotSent { .. } => CallFailure::Retry {
            code: cashier_adapters::ErrCode::Other("NOT_SENT".into()),
            after_ms: 0,
        },
        _ => CallFailure::Unknown,
    }
}

fn classify(action: CallerAction, detail: String) -> CallFailure {
    let code = cashier_adapters::ErrCode::Other(detail.clone());
    match action {
        CallerAction::RetrySameParameters => CallFailure::Retry { code, after_ms: 0 },
        CallerAction::RetryLater { after_s } => CallFailure::Retry {
            code,
            after_ms: i64::from(after_s) * 1000,
        },
        CallerAction::Query => CallFailure::Unknown,
        _ => refused(detail),
    }
}

fn payinsurance_failure(error: &PayInsuranceError) -> CallFailure {
    classify(error.action(), error.to_string())
}

fn nhsa_failure(error: &NhsaError) -> CallFailure {
    classify(error.action(), error.to_string())
}

fn id(text: String, what: &str) -> Result<MedicalId, CallFailure> {
    MedicalId::new(text).map_err(|error| refused(format!("{what}: {error}")))
}

impl Shell {
    /// The context, credentials and client of a medical attempt's calls.
    pub(crate) async fn medical_call<'a>(
        &self,
        attempt: &'a MedicalAttempt,
    ) -> Result<MedicalCall<'a>, CallFailure> {
        let not_configured = || CallFailure::Final {
            refusal: Refusal::NotConfigured,
        };
        let entry = self
            .config
            .medical_entry(attempt.context.entry.as_str())
            .cloned()
            .ok_or_else(not_configured)?;
        let credentials = entry.credentials.clone().ok_or_else(not_configured)?;
        let keys = self
            .keyring
            .keys(&attempt.context.mch_id)
            .map_err(|_| not_configured())?;
        let merchant = MerchantContext::direct(
            attempt.context.appid.clone(),
            attempt.context.mch_id.clone(),
            SignType::Md5,
            keys.signing,
        );
        let client = self
            .clients
            .read()
            .ok()
            .and_then(|clients| {
                clients
                    .get(&(attempt.context.mch_id.clone(), false))
                    .cloned()
            })
            .ok_or_else(not_configured)?;
        Ok(MedicalCall {
            attempt,
            entry,
            credentials,
            merchant,
            client,
        })
    }

    async fn send_raw(
        &self,
        client: &Client,
        request: HttpRequest,
    ) -> Result<HttpResponse, CallFailure> {
        client
            .transport()
            .send(request)
            .await
            .map_err(|error| transport_failure(&error))
    }

    /// Builds a payinsurance request with the attempt's merchant, a fresh nonce and the entry's
    /// access token, and sends it.
    async fn payinsurance(
        &self,
        call: &MedicalCall<'_>,
        build: impl FnOnce(
            &str,
            &MerchantContext,
            &cashier_adapters::Nonce,
            &str,
        ) -> Result<HttpRequest, PayInsuranceError>,
    ) -> Result<HttpResponse, CallFailure> {
        let built = build(
            &call.entry.payinsurance_url,
            &call.merchant,
            &call.client.next_nonce(),
            &call.credentials.access_token(),
        )
        .map_err(|error| payinsurance_failure(&error))?;
        self.send_raw(&call.client, built).await
    }

    async fn nhsa_call<E: NhsaEndpoint>(
        &self,
        call: &MedicalCall<'_>,
        endpoint: &E,
    ) -> Result<E::Reply, CallFailure> {
        let request = nhsa::build(
            endpoint,
            &call.credentials.nhsa,
            &call.entry.nhsa_url,
            self.now_ms(),
        )
        .map_err(|error| refused(error.to_string()))?;
        let response = self.send_raw(&call.client, request).await?;
        nhsa::parse::<E>(&response, &call.credentials.nhsa).map_err(|error| nhsa_failure(&error))
    }

    /// Runs one medical effect.
    pub(crate) async fn run_medical_effect(
        &self,
        record: &OrderRecord,
        effect: &Effect,
    ) -> Option<Event> {
        Some(match effect {
            Effect::MedicalPreSettle { out_trade_no } => Event::MedicalPreSettled {
                out_trade_no: out_trade_no.clone(),
                outcome: self
                    .with_call(record, out_trade_no, |call| self.pre_settle(call))
                    .await,
            },
            Effect::MedicalPlaceOrder { out_trade_no } => Event::MedicalOrdered {
                out_trade_no: out_trade_no.clone(),
                outcome: self
                    .with_call(record, out_trade_no, |call| self.place_order(call))
                    .await,
            },
            Effect::MedicalQuery { out_trade_no } => Event::MedicalQueried {
                out_trade_no: out_trade_no.clone(),
                outcome: self
                    .with_call(record, out_trade_no, |call| self.query_medical(call))
                    .await
                    .unwrap_or_else(MedicalQueryOutcome::Failed),
                from_notification: false,
            },
            Effect::MedicalClose { out_trade_no } => Event::MedicalClosed {
                out_trade_no: out_trade_no.clone(),
                outcome: self
                    .with_call(record, out_trade_no, |call| self.close_medical(call))
                    .await
                    .unwrap_or_else(CloseOutcome::Failed),
            },
            Effect::MedicalRevoke { out_trade_no } => Event::MedicalRevoked {
                out_trade_no: out_trade_no.clone(),
                outcome: self
                    .with_call(record, out_trade_no, |call| self.revoke(call))
                    .await,
            },
            Effect::MedicalRefund { out_refund_no, leg } => Event::MedicalRefundLegResult {
                out_refund_no: out_refund_no.clone(),
                leg: *leg,
                outcome: self.refund_leg(record, out_refund_no, *leg).await,
            },
            _ => return None,
        })
    }

    async fn with_call<'r, T, F, Fut>(
        &self,
        record: &'r OrderRecord,
        out_trade_no: &OutTradeNo,
        run: F,
    ) -> Result<T, CallFailure>
    where
        F: FnOnce(MedicalCall<'r>) -> Fut,
        Fut: std::future::Future<Output = Result<T, CallFailure>>,
    {
        let attempt = record
            .medical_attempt(out_trade_no)
            .ok_or_else(|| refused(format!("no 医保 attempt {out_trade_no}")))?;
        bump(&self.metrics.medical_calls);
        run(self.medical_call(attempt).await?).await
    }

    async fn pre_settle(&self, call: MedicalCall<'_>) -> Result<PreSettlement, CallFailure> {
        let MedicalState::PreSettling { pay_auth_no } = &call.attempt.state else {
            return Err(refused("not pre-settling"));
        };
        let request = &call.attempt.request;
        let upload = FeeUploadRequest {
            pay_auth_no: pay_auth_no.to_string(),
            org_code: call.entry.org_code.to_string(),
            med_org_ord: call.attempt.out_trade_no.to_string(),
            location: request.location.to_string(),
            med_type: request.med_type.to_string(),
            total: request
                .fee_lines
                .iter()
                .map(|line| line.amount)
                .try_fold(cashier_adapters::AmountFen::from_fen(0), |sum, amount| {
                    sum.checked_add(amount).ok()
                })
                .ok_or_else(|| refused("fee lines overflow"))?,
            items: request
                .fee_lines
                .iter()
                .enumerate()
                .map(|(index, line)| FeeItem {
                    serial: (index + 1).to_string(),
                    catalogue_code: line.catalogue_code.to_string(),
                    name: line.name.to_string(),
                    count: line.count,
                    amount: line.amount,
                })
                .collect(),
        };
        let reply = self.nhsa_call(&call, &upload).await?;
        Ok(PreSettlement {
            pay_ord_id: id(reply.pay_ord_id, "payOrdId")?,
            pay_token: id(reply.pay_token, "payToken")?,
            split: reply.split,
        })
    }

    async fn place_order(&self, call: MedicalCall<'_>) -> Result<MedicalOrderPlaced, CallFailure> {
        let MedicalState::Ordering { pay_auth_no, nhsa } = &call.attempt.state else {
            return Err(refused("not ordering"));
        };
        let attempt = call.attempt;
        let request = &attempt.request;
        let order = MedicalOrderRequest {
            order_type: request.order_type,
            hosp_out_trade_no: attempt.out_trade_no.to_string(),
            hospital_name: call.entry.hospital_name.to_string(),
            openid: request.openid.to_string(),
            total: nhsa.split.total,
            cash: nhsa.split.cash,
            insurance: nhsa.split.insurance(),
            allow_fee_change: false,
            client_ip: request.client_ip,
            notify_url: request.notify_url.to_string(),
            body: request.body.to_string(),
            return_url: request.return_url.as_ref().map(ToString::to_string),
            city_id: request.city_id.to_string(),
            org_no: call.entry.org_code.to_string(),
            serial_no: attempt.out_trade_no.to_string(),
            created: cashier_adapters::wechat::time::format_compact(request.time_start_s),
            channel_no: call.entry.channel_no.to_string(),
            nhsa: NhsaReference {
                pay_auth_no: pay_auth_no.to_string(),
                pay_ord_id: nhsa.pay_ord_id.to_string(),
                location: request.location.to_string(),
            },
        };
        let response = self
            .payinsurance(&call, |base, merchant, nonce, token| {
                order.build(base, merchant, nonce, token)
            })
            .await?;
        let reply = MedicalOrderRequest::parse(&response, &call.merchant)
            .map_err(|error| payinsurance_failure(&error))?;
        Ok(MedicalOrderPlaced {
            med_trans_id: id(reply.med_trans_id, "med_trans_id")?,
            pay_appid: AppId::new(reply.pay_appid)
                .map_err(|error| refused(format!("pay_appid: {error}")))?,
            pay_url: PayUrl::new(reply.pay_url)
                .map_err(|error| refused(format!("pay_url: {error}")))?,
        })
    }

    async fn query_medical(
        &self,
        call: MedicalCall<'_>,
    ) -> Result<MedicalQueryOutcome, CallFailure> {
        let query = MedicalOrderQuery {
            order: MedicalOrderRef::HospOutTradeNo(call.attempt.out_trade_no.to_string()),
        };
        let response = self
            .payinsurance(&call, |base, merchant, nonce, token| {
                query.build(base, merchant, nonce, token)
            })
            .await?;
        let status = match MedicalOrderQuery::parse(&response, &call.merchant) {
            Ok(status) => status,
            Err(PayInsuranceError::Business { err_code, .. }) if err_code == "ORDERNOTEXIST" => {
                return Ok(MedicalQueryOutcome::NotFound)
            }
            Err(error) => return Err(payinsurance_failure(&error)),
        };
        Ok(match status.state {
            MedicalTradeState::Success | MedicalTradeState::Refund => MedicalQueryOutcome::Paid {
                med_trans_id: id(status.med_trans_id, "med_trans_id")?,
                amounts: status.amounts,
                paid_at_s: status.paid_at_s,
            },
            MedicalTradeState::NotPaid | MedicalTradeState::SystemRefunding => {
                MedicalQueryOutcome::NotPaid
            }
            MedicalTradeState::Closed
            | MedicalTradeState::PayError
            | MedicalTradeState::SystemRefunded => MedicalQueryOutcome::Closed,
        })
    }

    async fn close_medical(&self, call: MedicalCall<'_>) -> Result<CloseOutcome, CallFailure> {
        let close = MedicalCloseOrder {
            hosp_out_trade_no: call.attempt.out_trade_no.to_string(),
        };
        let response = self
            .payinsurance(&call, |base, merchant, nonce, token| {
                close.build(base, merchant, nonce, token)
            })
            .await?;
        match MedicalCloseOrder::parse(&response, &call.merchant) {
            Ok(()) => Ok(CloseOutcome::Closed),
            Err(PayInsuranceError::Business { err_code, .. }) if err_code == "ORDERNOTEXIST" => {
                Ok(CloseOutcome::Closed)
            }
            Err(PayInsuranceError::Business { err_code, .. }) if err_code == "ORDERPAID" => {
                Ok(CloseOutcome::AlreadyPaid)
            }
            Err(error) => Err(payinsurance_failure(&error)),
        }
    }

    async fn revoke(&self, call: MedicalCall<'_>) -> Result<(), CallFailure> {
        let nhsa = call
            .attempt
            .state
            .pre_settlement()
            .ok_or_else(|| refused("nothing pre-settled to revoke"))?;
        let revoke = RevokeRequest {
            pay_ord_id: nhsa.pay_ord_id.to_string(),
            pay_token: nhsa.pay_token.to_string(),
            org_code: call.entry.org_code.to_string(),
        };
        self.nhsa_call(&call, &revoke).await
    }

    async fn refund_leg(
        &self,
        record: &OrderRecord,
        out_refund_no: &OutRefundNo,
        leg: RefundLeg,
    ) -> Result<Option<MedicalId>, CallFailure> {
        let (attempt, refund) = record
            .medical_refunds()
            .find(|(_, refund)| &refund.out_refund_no == out_refund_no)
            .ok_or_else(|| refused(format!("no 医保 refund {out_refund_no}")))?;
        let MedicalState::Paid {
            nhsa, med_trans_id, ..
        } = &attempt.state
        else {
            return Err(refused("the attempt is not paid"));
        };
        bump(&self.metrics.medical_calls);
        let call = self.medical_call(attempt).await?;
        match leg {
            RefundLeg::WechatCash => {
                let request = MedicalRefundRequest {
                    med_trans_id: med_trans_id.to_string(),
                    hosp_out_refund_no: out_refund_no.to_string(),
                    cash: refund.split.cash,
                    insurance: refund.split.insurance(),
                    reason: refund_reason(&refund.cause),
                };
                let response = self
                    .payinsurance(&call, |base, merchant, nonce, token| {
                        request.build(base, merchant, nonce, token)
                    })
                    .await?;
                let accepted = MedicalRefundRequest::parse(&response, &call.merchant)
                    .map_err(|error| payinsurance_failure(&error))?;
                Ok(Some(id(accepted.med_refund_id, "med_refund_id")?))
            }
            RefundLeg::Nhsa(index) => {
                let leg = refund
                    .nhsa_legs
                    .get(usize::from(index))
                    .ok_or_else(|| refused(format!("no NHSA leg {index} of {out_refund_no}")))?;
                let request = NhsaRefund {
                    pay_ord_id: nhsa.pay_ord_id.to_string(),
                    refund_serial: format!("{out_refund_no}H{index}"),
                    refund_time: cashier_adapters::wechat::time::format_compact(
                        refund.created_ms.div_euclid(1000),
                    ),
                    kind: leg.kind,
                    refund: leg.split,
                    paid: nhsa.split,
                };
                match self.nhsa_call(&call, &request).await? {
                    RefundStatus::Succeeded => Ok(None),
                    RefundStatus::Failed => Err(refused("NHSA refStatus FAIL")),
                    RefundStatus::Abnormal => Err(CallFailure::Unknown),
                }
            }
        }
    }
}

fn refund_reason(cause: &RefundCause) -> String {
    match cause {
        RefundCause::Requested { reason, .. } => reason.to_string(),
        RefundCause::DuplicatePayment => "重复支付退款".into(),
        RefundCause::PaidAfterClose => "订单关闭后支付退款".into(),
    }
}
