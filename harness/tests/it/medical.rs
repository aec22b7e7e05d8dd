//! The simulated 医保 side (issue #7), driven in process through the adapters' own builders
//! and parsers: authorisation codes are single-use and short-lived (yibao-pay.md §3), 6201
//! pre-settles with the insured payer's computed split and consumes the payAuthNo (§4), the
//! payinsurance order must match NHSA's amounts unless `allow_fee_change` (§7.2), `cash_fee` is
//! required with pay_type 3 (error 513, §8), the payer's confirmation settles NHSA and sends a
//! signed notification on the v2 ladder (§7.3), the three-part query reports it, and refunds by
//! part restore the personal account (§4.2, §7.5).

use std::sync::Arc;

use cashier_adapters::medical::nhsa::envelope::NhsaCredentials;
use cashier_adapters::medical::nhsa::fee_upload::{FeeItem, FeeUploadReply, FeeUploadRequest};
use cashier_adapters::medical::nhsa::refund::{RefundKind, RefundRequest, RefundStatus};
use cashier_adapters::medical::nhsa::settlement_query::SettlementQueryRequest;
use cashier_adapters::medical::nhsa::{self, NhsaEndpoint, NhsaError, Split};
use cashier_adapters::medical::payinsurance::notify::{
    ExpectedAmounts, UnverifiedMedicalNotification,
};
use cashier_adapters::medical::payinsurance::order_query::{
    MedicalOrderQuery, MedicalOrderRef, MedicalTradeState,
};
use cashier_adapters::medical::payinsurance::refund::MedicalRefundRequest;
use cashier_adapters::medical::payinsurance::unified_order::{
    MedicalOrderRequest, MedicalOrderType, NhsaReference,
};
use cashier_adapters::medical::payinsurance::PayInsuranceError;
use cashier_adapters::medical::sm::{Sm2PrivateKey, Sm2PublicKey};
use cashier_adapters::medical::user_query::{PartnerCredentials, UserQueryReply, UserQueryRequest};
use cashier_adapters::{
    AmountFen, ApiKey, AppId, HttpRequest, HttpResponse, MchId, MerchantContext, Nonce, SignType,
    Transport,
};
use cashier_harness::medical::MedicalPayerAction;
use cashier_harness::{ScriptedSink, SimConfig, SimOptions, SimTransport, Simulator};

const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const UNINSURED_OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6p";
const TOKEN: &str = "SIM_ACCESS_TOKEN";

struct Medical {
    simulator: Arc<Simulator>,
    transport: SimTransport,
    credentials: NhsaCredentials,
    partner: PartnerCredentials,
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
        .collect()
}

impl Medical {
    fn start(seed: u64) -> Medical {
        let config = SimConfig::embedded_default().unwrap();
        let medical = config.medical.clone().unwrap();
        let keys: serde_json::Value =
            serde_json::from_str(include_str!("../../../fixtures/medical/keys.json")).unwrap();
        let credentials = NhsaCredentials::new(
            medical.nhsa_app_id.clone(),
            medical.nhsa_app_secret.clone(),
            Sm2PrivateKey::from_bytes(&hex(keys["hospital_private_key"].as_str().unwrap()))
                .unwrap(),
            Sm2PublicKey::from_sec1(&hex(keys["platform_public_key"].as_str().unwrap())).unwrap(),
        );
        let simulator = Arc::new(Simulator::new(config, SimOptions::deterministic(seed)));
        Medical {
            transport: SimTransport::new(simulator.clone()),
            simulator,
            credentials,
            partner: PartnerCredentials::new(medical.partner_id, medical.partner_secret),
        }
    }

    async fn send(&self, request: HttpRequest) -> HttpResponse {
        self.transport.send(request).await.unwrap()
    }

    /// Sends a payinsurance request built for the default merchant and access token.
    async fn payinsurance(&self, built: Result<HttpRequest, PayInsuranceError>) -> HttpResponse {
        self.send(built.unwrap()).await
    }

    async fn user_query(
        &self,
        auth_code: &str,
        openid: &str,
    ) -> Result<UserQueryReply, cashier_adapters::medical::user_query::UserQueryError> {
        let request = UserQueryRequest {
            auth_code: auth_code.into(),
            openid: openid.into(),
        };
        let now = self.simulator.now_ms();
        UserQueryRequest::parse(
            &self
                .send(request.build(&self.partner, "http://sim", now, "r1"))
                .await,
        )
    }

    async fn nhsa<E: NhsaEndpoint>(&self, endpoint: &E) -> Result<E::Reply, NhsaError> {
        let request = nhsa::build(
            endpoint,
            &self.credentials,
            "http://sim",
            self.simulator.now_ms(),
        )?;
        nhsa::parse::<E>(&self.send(request).await, &self.credentials)
    }

    async fn pre_settle(&self, total_fen: u64) -> (UserQueryReply, FeeUploadReply) {
        let code = self.simulator.medical_authorize(OPENID);
        let authorised = self.user_query(&code, OPENID).await.unwrap();
        let upload = fee_upload(&authorised.pay_auth_no, total_fen);
        let reply = self.nhsa(&upload).await.unwrap();
        (authorised, reply)
    }
}

fn fee_upload(pay_auth_no: &str, total_fen: u64) -> FeeUploadRequest {
    FeeUploadRequest {
        pay_auth_no: pay_auth_no.into(),
        org_code: "H53010200001".into(),
        med_org_ord: format!("HIS{total_fen}"),
        location: "102.682296,25.054260".into(),
        med_type: "12".into(),
        total: AmountFen::from_fen(total_fen),
        items: vec![FeeItem {
            serial: "1".into(),
            catalogue_code: "001101000010000".into(),
            name: "诊查费".into(),
            count: 1,
            amount: AmountFen::from_fen(total_fen),
        }],
    }
}

fn merchant() -> MerchantContext {
    MerchantContext::direct(
        AppId::new("wxd930ea5d5a258f4f").unwrap(),
        MchId::new("10000100").unwrap(),
        SignType::Md5,
        ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap(),
    )
}

fn order(
    number: &str,
    split: &Split,
    authorised: &UserQueryReply,
    pay_ord_id: &str,
) -> MedicalOrderRequest {
    MedicalOrderRequest {
        order_type: MedicalOrderType::Clinic,
        hosp_out_trade_no: number.into(),
        hospital_name: "仁心医院".into(),
        openid: OPENID.into(),
        total: split.total,
        cash: split.cash,
        insurance: split.insurance(),
        allow_fee_change: false,
        client_ip: "123.12.12.123".parse().unwrap(),
        notify_url: "http://127.0.0.1:9/medical/notify".into(),
        body: "诊间缴费".into(),
        return_url: None,
        city_id: authorised.city_id.clone(),
        org_no: "H53010200001".into(),
        serial_no: "HIS0001".into(),
        created: "20251127100000".into(),
        channel_no: "AAGbxw8k8fBzXy9pJ5vQoT3A".into(),
        nhsa: NhsaReference {
            pay_auth_no: authorised.pay_auth_no.clone(),
            pay_ord_id: pay_ord_id.into(),
            location: authorised.location.clone(),
        },
    }
}

fn fen(amount: u64) -> AmountFen {
    AmountFen::from_fen(amount)
}

#[tokio::test]
async fn section_3_auth_codes_are_single_use_and_only_insured_payers_get_a_pay_auth_no() {
    let world = Medical::start(61);
    let code = world.simulator.medical_authorize(OPENID);
    assert!(world.user_query(&code, OPENID).await.is_ok());
    assert!(world.user_query(&code, OPENID).await.is_err(), "used once");
    let late = world.simulator.medical_authorize(OPENID);
    world
        .simulator
        .advance(301, &ScriptedSink::acknowledging())
        .await;
    assert!(
        world.user_query(&late, OPENID).await.is_err(),
        "five minutes"
    );
    let uninsured = world.simulator.medical_authorize(UNINSURED_OPENID);
    assert!(world
        .user_query(&uninsured, UNINSURED_OPENID)
        .await
        .is_err());
    let wrong_partner = PartnerCredentials::new("cashier-test-partner", "not-the-secret");
    let request = UserQueryRequest {
        auth_code: world.simulator.medical_authorize(OPENID),
        openid: OPENID.into(),
    };
    let answer = UserQueryRequest::parse(
        &world
            .send(request.build(&wrong_partner, "http://sim", 1, "r"))
            .await,
    );
    assert!(answer.is_err(), "a bad god-portal-signature is refused");
}

#[tokio::test]
async fn section_4_pre_settlement_splits_by_the_payers_terms_and_consumes_the_pay_auth_no() {
    let world = Medical::start(62);
    let (authorised, reply) = world.pre_settle(8800).await;
    // Deductible 10.00 first, then 60% of the rest from the fund, the account up to its balance.
    assert_eq!(
        reply.split,
        Split::new(fen(8800), fen(4680), fen(4120), fen(0)).unwrap()
    );
    let again = world.nhsa(&fee_upload(&authorised.pay_auth_no, 8800)).await;
    assert!(
        matches!(again, Err(NhsaError::Refused { code: 2001, .. })),
        "{again:?}"
    );
    let settled = world
        .nhsa(&SettlementQueryRequest {
            pay_ord_id: reply.pay_ord_id.clone(),
            pay_token: reply.pay_token.clone(),
            org_code: "H53010200001".into(),
        })
        .await
        .unwrap();
    assert!(settled.status.is_pending());
}

#[tokio::test]
async fn section_7_an_order_paid_in_the_mini_program_settles_notifies_and_refunds_by_part() {
    let world = Medical::start(63);
    let (authorised, pre) = world.pre_settle(60000).await;
    assert!(
        !pre.split.cash.is_zero(),
        "the balance runs out: a cash part, {:?}",
        pre.split
    );
    let nonce = Nonce::new("n1").unwrap();
    // The uploaded amounts differ from NHSA's and allow_fee_change is 0: refused.
    let mut changed = order(
        "50107251127100000010000000001",
        &pre.split,
        &authorised,
        &pre.pay_ord_id,
    );
    changed.cash = fen(pre.split.cash.fen() + 1);
    changed.total = fen(pre.split.total.fen() + 1);
    let refused = MedicalOrderRequest::parse(
        &world
            .payinsurance(changed.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant(),
    );
    assert!(
        matches!(&refused, Err(PayInsuranceError::Business { err_code, .. }) if err_code == "FEE_CHANGED"),
        "{refused:?}"
    );
    let request = order(
        "50107251127100000010000000001",
        &pre.split,
        &authorised,
        &pre.pay_ord_id,
    );
    let placed = MedicalOrderRequest::parse(
        &world
            .payinsurance(request.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant(),
    )
    .unwrap();
    assert_eq!(placed.pay_appid, "wxe1022cca111d18be");
    // The payer backs out: nothing changes; then pays.
    world
        .simulator
        .medical_payer(&placed.med_trans_id, MedicalPayerAction::Cancel)
        .unwrap();
    world
        .simulator
        .medical_payer(&placed.med_trans_id, MedicalPayerAction::Pay)
        .unwrap();
    let sink = ScriptedSink::acknowledging();
    world.simulator.advance(1, &sink).await;
    let body = world.simulator.notifications().last().unwrap().body.clone();
    let expected = ExpectedAmounts {
        total: pre.split.total,
        cash: pre.split.cash,
        insurance: pre.split.insurance(),
    };
    let verified = UnverifiedMedicalNotification::parse(body.as_bytes())
        .unwrap()
        .verify(&merchant(), expected)
        .unwrap();
    assert_eq!(verified.med_trans_id, placed.med_trans_id);
    assert!(world
        .simulator
        .delivery_log()
        .iter()
        .any(|record| record.acknowledged));
    let query = MedicalOrderQuery {
        order: MedicalOrderRef::HospOutTradeNo("50107251127100000010000000001".into()),
    };
    let status = MedicalOrderQuery::parse(
        &world
            .payinsurance(query.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant(),
    )
    .unwrap();
    assert_eq!(status.state, MedicalTradeState::Success);
    // Refund: the cash part through WeChat, the insurance part (whole) through NHSA 6203.
    let cash_refund = MedicalRefundRequest {
        med_trans_id: placed.med_trans_id.clone(),
        hosp_out_refund_no: "R1".into(),
        cash: pre.split.cash,
        insurance: pre.split.insurance(),
        reason: "退费".into(),
    };
    assert!(MedicalRefundRequest::parse(
        &world
            .payinsurance(cash_refund.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant()
    )
    .is_ok());
    let insurance_part = Split::new(
        pre.split.insurance(),
        pre.split.fund,
        pre.split.account,
        fen(0),
    )
    .unwrap();
    let hi = RefundRequest {
        pay_ord_id: pre.pay_ord_id.clone(),
        refund_serial: "NR1".into(),
        refund_time: "20251127110000".into(),
        kind: RefundKind::Insurance,
        refund: insurance_part,
        paid: pre.split,
    };
    assert_eq!(world.nhsa(&hi).await, Ok(RefundStatus::Succeeded));
    assert_eq!(
        world.nhsa(&hi).await,
        Ok(RefundStatus::Succeeded),
        "a retry with the same appRefdSn is the same refund"
    );
    let twice = RefundRequest {
        refund_serial: "NR2".into(),
        ..hi
    };
    assert!(
        world.nhsa(&twice).await.is_err(),
        "no part is refunded beyond what it paid"
    );
    let view = world.simulator.medical_view();
    assert_eq!(
        view["balances"]["o6_bmasdasdsad6_2sgVt7hMZOPfL"], 20000,
        "the account is restored"
    );
    // The order view shows both legs: WeChat's order (cash refunded) and NHSA's (insurance
    // refunded whole, cash not through NHSA: ordStas 8, 已医保全部退款).
    let legs = world.simulator.order_view("50107251127100000010000000001");
    assert_eq!(legs[0]["medical_order"]["state"], "REFUND", "{legs}");
    assert_eq!(legs[0]["nhsa_order"]["status"], 8, "{legs}");
}

#[tokio::test]
async fn section_8_cash_and_insurance_needs_cash_fee_513() {
    let world = Medical::start(64);
    let (authorised, pre) = world.pre_settle(8800).await;
    let mut request = order(
        "50107251127100000010000000002",
        &pre.split,
        &authorised,
        &pre.pay_ord_id,
    );
    request.cash = fen(0);
    // pay_type follows cash (0 → insurance only), so force the inconsistent wire form by hand.
    let built = request
        .build("http://sim", &merchant(), &Nonce::new("n2").unwrap(), TOKEN)
        .unwrap();
    let mut fields = cashier_adapters::xml::read(&built.body).unwrap();
    fields.insert("pay_type", "3");
    fields.sign_in_place(SignType::Md5, &merchant().key);
    let body = cashier_adapters::xml::write(&fields).unwrap().into_bytes();
    let answer = MedicalOrderRequest::parse(
        &world.send(HttpRequest { body, ..built }).await,
        &merchant(),
    );
    assert!(
        matches!(&answer, Err(PayInsuranceError::Business { err_code, .. }) if err_code == "513"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn section_11_medical_faults_split_changed_outage_556_and_nhsa_timeouts() {
    use cashier_harness::{Fault, FaultPlan, FaultRule};
    let world = Medical::start(65);
    let rule = |target: &str, fault: Fault| FaultRule {
        target: target.into(),
        fault,
        probability: None,
        next: Some(1),
    };
    world
        .simulator
        .set_fault_plan(FaultPlan {
            rules: vec![
                rule("payinsurance_unifiedorder", Fault::SplitChanged),
                rule("payinsurance_refund", Fault::InsuranceOutage),
                rule("nhsa_6301", Fault::ReplyLost),
            ],
        })
        .unwrap();
    let (authorised, pre) = world.pre_settle(8800).await;
    let nonce = Nonce::new("n3").unwrap();
    // NHSA re-settled: with allow_fee_change 0 the order is refused, with 1 it takes NHSA's split.
    let request = order(
        "50107251127100000010000000003",
        &pre.split,
        &authorised,
        &pre.pay_ord_id,
    );
    let refused = MedicalOrderRequest::parse(
        &world
            .payinsurance(request.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant(),
    );
    assert!(
        matches!(&refused, Err(PayInsuranceError::Business { err_code, .. }) if err_code == "FEE_CHANGED"),
        "{refused:?}"
    );
    let accepting = MedicalOrderRequest {
        allow_fee_change: true,
        ..request
    };
    let placed = MedicalOrderRequest::parse(
        &world
            .payinsurance(accepting.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant(),
    )
    .unwrap();
    world
        .simulator
        .medical_payer(&placed.med_trans_id, MedicalPayerAction::Pay)
        .unwrap();
    let status = MedicalOrderQuery {
        order: MedicalOrderRef::MedTransId(placed.med_trans_id.clone()),
    };
    let paid = MedicalOrderQuery::parse(
        &world
            .payinsurance(status.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant(),
    )
    .unwrap();
    assert_eq!(
        paid.amounts.1,
        fen(pre.split.cash.fen() + 100),
        "NHSA's new split: 1.00 more cash"
    );
    // The first refund meets a 医保 outage (556): retried later with the same number, it works.
    let refund = MedicalRefundRequest {
        med_trans_id: placed.med_trans_id,
        hosp_out_refund_no: "R9".into(),
        cash: paid.amounts.1,
        insurance: fen(0),
        reason: String::new(),
    };
    let outage = MedicalRefundRequest::parse(
        &world
            .payinsurance(refund.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant(),
    );
    assert_eq!(
        outage.map_err(|error| error.action()),
        Err(cashier_adapters::CallerAction::RetryLater { after_s: 60 })
    );
    assert!(MedicalRefundRequest::parse(
        &world
            .payinsurance(refund.build("http://sim", &merchant(), &nonce, TOKEN))
            .await,
        &merchant()
    )
    .is_ok());
    // An NHSA query whose reply is lost.
    let query = SettlementQueryRequest {
        pay_ord_id: pre.pay_ord_id.clone(),
        pay_token: pre.pay_token.clone(),
        org_code: "H53010200001".into(),
    };
    let request = nhsa::build(&query, &world.credentials, "http://sim", 1).unwrap();
    assert!(
        world.transport.send(request).await.is_err(),
        "reply lost: a timeout for the caller"
    );
}
