//! 医保支付 1.0 protocol layer (issue #7), against fixtures made by an independent Python
//! implementation (`fixtures/medical/tools/make_fixtures.py`: gmssl for SM2/SM3/SM4, hashlib for
//! MD5, hmac for userQuery): NHSA envelopes open and verify (§4.1), the split is exact (§4.2,
//! §9), 6203's part rules hold (§4.2), payinsurance replies and notifications verify and refuse
//! a different split (§7.2, §7.3), err_code 513 and 556 get their actions (§7.5, §8), and
//! userQuery's signature matches (§3.2). Yuan conversion is property-tested.

use std::path::PathBuf;

use cashier_adapters::medical::amount::{format_yuan, parse_yuan};
use cashier_adapters::medical::nhsa::envelope::{self, NhsaCredentials};
use cashier_adapters::medical::nhsa::fee_upload::{FeeItem, FeeUploadRequest};
use cashier_adapters::medical::nhsa::refund::{RefundKind, RefundRequest, RefundStatus};
use cashier_adapters::medical::nhsa::settlement_query::SettlementQueryRequest;
use cashier_adapters::medical::nhsa::{self, NhsaEndpoint, NhsaError, Split};
use cashier_adapters::medical::payinsurance::notify::{
    ExpectedAmounts, UnverifiedMedicalNotification,
};
use cashier_adapters::medical::payinsurance::order_query::{MedicalOrderQuery, MedicalTradeState};
use cashier_adapters::medical::payinsurance::refund::MedicalRefundRequest;
use cashier_adapters::medical::payinsurance::unified_order::{
    MedicalOrderRequest, MedicalOrderType, MedicalPayType, NhsaReference,
};
use cashier_adapters::medical::payinsurance::PayInsuranceError;
use cashier_adapters::medical::sm::{Sm2PrivateKey, Sm2PublicKey};
use cashier_adapters::medical::user_query::{PartnerCredentials, UserQueryRequest};
use cashier_adapters::{
    AmountFen, ApiKey, AppId, CallerAction, Fields, HttpResponse, MchId, MerchantContext, Nonce,
    SignType,
};
use proptest::prelude::*;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/medical")
}

fn read(relative: &str) -> Vec<u8> {
    std::fs::read(dir().join(relative)).unwrap()
}

fn json(relative: &str) -> Value {
    serde_json::from_slice(&read(relative)).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
        .collect()
}

fn keys() -> Value {
    json("keys.json")
}

fn credentials() -> NhsaCredentials {
    let keys = keys();
    let text = |name: &str| keys[name].as_str().unwrap().to_owned();
    NhsaCredentials::new(
        text("app_id"),
        text("app_secret"),
        Sm2PrivateKey::from_bytes(&hex(&text("hospital_private_key"))).unwrap(),
        Sm2PublicKey::from_sec1(&hex(&text("platform_public_key"))).unwrap(),
    )
}

fn reply(relative: &str) -> HttpResponse {
    HttpResponse {
        status: 200,
        body: read(relative),
    }
}

fn fen(amount: u64) -> AmountFen {
    AmountFen::from_fen(amount)
}

fn fee_upload() -> FeeUploadRequest {
    FeeUploadRequest {
        pay_auth_no: "AUTH530100202204022006310000034".into(),
        org_code: "H53010200001".into(),
        med_org_ord: "50307251127100000010000000001".into(),
        location: "102.682296,25.054260".into(),
        med_type: "12".into(),
        total: fen(8800),
        items: vec![FeeItem {
            serial: "1".into(),
            catalogue_code: "001101000010000".into(),
            name: "普通门诊诊查费".into(),
            count: 1,
            amount: fen(8800),
        }],
    }
}

#[test]
fn nhsa_4_1_replies_sealed_by_gmssl_open_and_decode_to_the_exact_split() {
    let split =
        nhsa::parse::<FeeUploadRequest>(&reply("nhsa/6201_reply.json"), &credentials()).unwrap();
    assert_eq!(split.pay_ord_id, "ORD530100202204022006350000021");
    assert_eq!(
        split.split,
        Split::new(fen(8800), fen(5280), fen(2000), fen(1520)).unwrap()
    );
    assert_eq!(split.split.insurance(), fen(7280));
    let settled =
        nhsa::parse::<SettlementQueryRequest>(&reply("nhsa/6301_reply.json"), &credentials())
            .unwrap();
    assert!(settled.status.is_settled());
    let refunded =
        nhsa::parse::<RefundRequest>(&reply("nhsa/6203_reply.json"), &credentials()).unwrap();
    assert_eq!(refunded, RefundStatus::Succeeded);
}

#[test]
fn nhsa_4_2_malformed_amounts_and_splits_that_do_not_add_up_are_refused() {
    let bad =
        nhsa::parse::<FeeUploadRequest>(&reply("nhsa/6201_reply_bad_amount.json"), &credentials());
    assert!(
        matches!(
            bad,
            Err(NhsaError::Amount {
                name: "feeSumamt",
                ..
            })
        ),
        "{bad:?}"
    );
    let mismatch = nhsa::parse::<FeeUploadRequest>(
        &reply("nhsa/6201_reply_split_mismatch.json"),
        &credentials(),
    );
    assert!(
        matches!(mismatch, Err(NhsaError::SplitMismatch { .. })),
        "{mismatch:?}"
    );
    let refused = nhsa::parse::<FeeUploadRequest>(&reply("nhsa/refused.json"), &credentials());
    assert!(
        matches!(refused, Err(NhsaError::Refused { code: 2001, .. })),
        "{refused:?}"
    );
}

#[test]
fn nhsa_4_1_a_tampered_or_foreign_envelope_is_refused() {
    let mut sealed = json("nhsa/6201_reply.json");
    let text = sealed["encData"].as_str().unwrap().to_owned();
    sealed["encData"] = Value::String(format!("{}A{}", &text[..10], &text[11..]));
    let tampered = nhsa::parse::<FeeUploadRequest>(
        &HttpResponse {
            status: 200,
            body: sealed.to_string().into_bytes(),
        },
        &credentials(),
    );
    let refused = matches!(
        tampered,
        Err(NhsaError::Decrypt
            | NhsaError::Signature
            | NhsaError::Malformed(_)
            | NhsaError::Field {
                name: "encData",
                ..
            })
    );
    assert!(refused, "{tampered:?}");
    // Signed by the hospital's key instead of the centre's: the signature does not verify.
    let mut wrong_signer = credentials();
    wrong_signer.platform_key =
        Sm2PublicKey::from_sec1(&hex(keys()["hospital_public_key"].as_str().unwrap())).unwrap();
    let foreign = nhsa::parse::<FeeUploadRequest>(&reply("nhsa/6201_reply.json"), &wrong_signer);
    assert_eq!(foreign, Err(NhsaError::Signature));
    let status = nhsa::parse::<FeeUploadRequest>(
        &HttpResponse {
            status: 502,
            body: Vec::new(),
        },
        &credentials(),
    );
    assert_eq!(
        status.map_err(|error| error.action()),
        Err(CallerAction::RetrySameParameters)
    );
}

#[test]
fn nhsa_4_1_requests_sealed_by_rust_open_like_the_gmssl_ones() {
    let credentials = credentials();
    let hospital =
        Sm2PublicKey::from_sec1(&hex(keys()["hospital_public_key"].as_str().unwrap())).unwrap();
    // The gmssl-sealed request opens with the hospital's public key (the centre's side).
    let python = envelope::open(&credentials, &hospital, &json("nhsa/6201_request.json")).unwrap();
    let ours = nhsa::build(
        &fee_upload(),
        &credentials,
        "https://nhsa.example.com",
        1_764_208_800_000,
    )
    .unwrap();
    assert_eq!(ours.path, "/org/local/api/hos/uldFeeInfo");
    let sealed: Value = serde_json::from_slice(&ours.body).unwrap();
    let opened = envelope::open(&credentials, &hospital, &sealed).unwrap();
    assert_eq!(
        opened, python,
        "the same business JSON, sealed by two implementations"
    );
    assert_eq!(opened["medfeeSumamt"], "88.00");
    let mut unbalanced = fee_upload();
    unbalanced.total = fen(8801);
    assert!(matches!(
        unbalanced.data(),
        Err(NhsaError::Request {
            name: "medfeeSumamt",
            ..
        })
    ));
}

#[test]
fn nhsa_6203_refund_parts_follow_refd_type() {
    let paid = Split::new(fen(8800), fen(5280), fen(2000), fen(1520)).unwrap();
    let cash_only = Split::new(fen(1520), fen(0), fen(0), fen(1520)).unwrap();
    let insurance_only = Split::new(fen(7280), fen(5280), fen(2000), fen(0)).unwrap();
    assert_eq!(RefundKind::All.check(&paid, &paid), Ok(()));
    assert!(
        RefundKind::All.check(&cash_only, &paid).is_err(),
        "ALL returns every part in full"
    );
    assert_eq!(RefundKind::Cash.check(&cash_only, &paid), Ok(()));
    assert!(RefundKind::Cash.check(&insurance_only, &paid).is_err());
    assert_eq!(RefundKind::Insurance.check(&insurance_only, &paid), Ok(()));
    assert!(RefundKind::Insurance.check(&cash_only, &paid).is_err());
    let too_much = Split::new(fen(1521), fen(0), fen(0), fen(1521)).unwrap();
    assert!(
        RefundKind::Cash.check(&too_much, &paid).is_err(),
        "no part beyond what it paid"
    );
    let request = RefundRequest {
        pay_ord_id: "ORD1".into(),
        refund_serial: "R1".into(),
        refund_time: "20251127110000".into(),
        kind: RefundKind::Cash,
        refund: cash_only,
        paid,
    };
    assert_eq!(request.data().unwrap()["cashRefdAmt"], "15.20");
}

fn merchant() -> MerchantContext {
    MerchantContext {
        appid: AppId::new("wxd930ea5d5a258f4f").unwrap(),
        mch_id: MchId::new("10000100").unwrap(),
        sub_appid: None,
        sub_mch_id: None,
        sign_type: SignType::Md5,
        key: ApiKey::new(keys()["merchant_key"].as_str().unwrap()).unwrap(),
    }
}

fn order() -> MedicalOrderRequest {
    MedicalOrderRequest {
        order_type: MedicalOrderType::Clinic,
        hosp_out_trade_no: "50107251127100000010000000001".into(),
        hospital_name: "仁心医院".into(),
        openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
        total: fen(8800),
        cash: fen(1520),
        insurance: fen(7280),
        allow_fee_change: false,
        client_ip: "123.12.12.123".parse().unwrap(),
        notify_url: "https://pay.example.com/medical/notify".into(),
        body: "诊间缴费".into(),
        return_url: None,
        city_id: "530100".into(),
        org_no: "H53010200001".into(),
        serial_no: "HIS0001".into(),
        created: "20251127100000".into(),
        channel_no: "AAGbxw8k8fBzXy9pJ5vQoT3A".into(),
        nhsa: NhsaReference {
            pay_auth_no: "AUTH530100202204022006310000034".into(),
            pay_ord_id: "ORD530100202204022006350000021".into(),
            location: "102.682296,25.054260".into(),
        },
    }
}

#[test]
fn payinsurance_7_2_the_order_is_md5_signed_and_carries_the_nhsa_ids() {
    let nonce = Nonce::new("Yb7NW0nUTNzqJEHR").unwrap();
    let request = order()
        .build(
            "https://api.weixin.qq.com",
            &merchant(),
            &nonce,
            "ACCESS_TOKEN",
        )
        .unwrap();
    assert_eq!(
        request.path,
        "/payinsurance/unifiedorder?access_token=ACCESS_TOKEN"
    );
    let fields: Fields = cashier_adapters::xml::read(&request.body).unwrap();
    assert!(fields.verify(SignType::Md5, &merchant().key).is_ok());
    assert_eq!(fields.get("pay_type"), Some("3"));
    let content: Value = serde_json::from_str(fields.get("request_content").unwrap()).unwrap();
    assert_eq!(content["payOrdId"], "ORD530100202204022006350000021");
    assert_eq!(MedicalPayType::of_cash(fen(0)), MedicalPayType::Insurance);
    let answered =
        MedicalOrderRequest::parse(&reply("payinsurance/unifiedorder_reply.xml"), &merchant())
            .unwrap();
    assert_eq!(answered.pay_appid, "wxe1022cca111d18be");
    assert!(answered.pay_url.contains("MED2025112710000001"));
    let refused =
        MedicalOrderRequest::parse(&reply("payinsurance/unifiedorder_513.xml"), &merchant());
    assert!(
        matches!(&refused, Err(PayInsuranceError::Business { err_code, .. }) if err_code == "513")
    );
    assert_eq!(
        refused.map_err(|error| error.action()),
        Err(CallerAction::FixRequest)
    );
    let mut no_insurance = order();
    no_insurance.insurance = fen(0);
    assert!(no_insurance
        .build("https://api.weixin.qq.com", &merchant(), &nonce, "T")
        .is_err());
}

#[test]
fn payinsurance_7_3_notifications_verify_against_the_orders_split() {
    let expected = ExpectedAmounts {
        total: fen(8800),
        cash: fen(1520),
        insurance: fen(7280),
    };
    let parsed =
        UnverifiedMedicalNotification::parse(&read("payinsurance/notification.xml")).unwrap();
    assert_eq!(
        parsed.hosp_out_trade_no(),
        Some("50107251127100000010000000001")
    );
    let verified = parsed.verify(&merchant(), expected).unwrap();
    assert_eq!(verified.pay_type, MedicalPayType::CashAndInsurance);
    assert_eq!(verified.med_trans_id, "MED2025112710000001");
    let other_split =
        UnverifiedMedicalNotification::parse(&read("payinsurance/notification_other_split.xml"))
            .unwrap();
    assert!(matches!(
        other_split.verify(&merchant(), expected),
        Err(PayInsuranceError::AmountMismatch { .. })
    ));
    let wrong_key =
        UnverifiedMedicalNotification::parse(&read("payinsurance/notification_wrong_key.xml"))
            .unwrap();
    assert_eq!(
        wrong_key.verify(&merchant(), expected),
        Err(PayInsuranceError::Signature)
    );
    let mut other_merchant = merchant();
    other_merchant.mch_id = MchId::new("10000200").unwrap();
    let identity =
        UnverifiedMedicalNotification::parse(&read("payinsurance/notification.xml")).unwrap();
    assert!(matches!(
        identity.verify(&other_merchant, expected),
        Err(PayInsuranceError::Identity(_))
    ));
}

#[test]
fn payinsurance_7_3_the_query_has_three_part_states_and_7_5_refund_556_is_retried_later() {
    let status =
        MedicalOrderQuery::parse(&reply("payinsurance/order_query_reply.xml"), &merchant())
            .unwrap();
    assert_eq!(status.state, MedicalTradeState::Success);
    assert_eq!(status.insurance_status, "PAYED");
    assert_eq!(status.amounts, (fen(8800), fen(1520), fen(7280)));
    let outage = MedicalRefundRequest::parse(&reply("payinsurance/refund_556.xml"), &merchant());
    assert_eq!(
        outage.map_err(|error| error.action()),
        Err(CallerAction::RetryLater { after_s: 60 })
    );
}

#[test]
fn user_query_3_2_signature_matches_pythons_hmac() {
    let keys = keys();
    let partner = PartnerCredentials::new(
        keys["partner_id"].as_str().unwrap(),
        keys["partner_secret"].as_str().unwrap(),
    );
    let vector = json("user_query.json");
    let timestamp = vector["timestamp"].as_i64().unwrap();
    assert_eq!(
        partner.signature(timestamp),
        vector["signature"].as_str().unwrap()
    );
    assert!(partner.verify(timestamp, vector["signature"].as_str().unwrap()));
    assert!(!partner.verify(timestamp + 1, vector["signature"].as_str().unwrap()));
    let request = UserQueryRequest {
        auth_code: "AUTHCODE1".into(),
        openid: "o1".into(),
    }
    .build(&partner, "https://receiver.example.com", timestamp, "req-1");
    assert_eq!(
        request.path,
        "/api/mipuserquery/userQuery/cashier-test-partner"
    );
    assert!(request
        .headers
        .iter()
        .any(|(name, value)| *name == "god-portal-signature"
            && value == vector["signature"].as_str().unwrap()));
    let body = r#"{"code":0,"message":"ok","data":{"payAuthNo":"AUTH1","userLongitudeLatitude":{"longitude":"102.682296","latitude":"25.054260"},"cityId":"530100","userName":"*三"}}"#;
    let answered = UserQueryRequest::parse(&HttpResponse {
        status: 200,
        body: body.as_bytes().to_vec(),
    })
    .unwrap();
    assert_eq!(answered.location, "102.682296,25.054260");
    assert!(
        !format!("{answered:?}").contains("AUTH1"),
        "payAuthNo never in Debug"
    );
    let used = br#"{"code":40163,"message":"code been used"}"#;
    assert!(UserQueryRequest::parse(&HttpResponse {
        status: 200,
        body: used.to_vec()
    })
    .is_err());
}

proptest! {
    /// NHSA §4.1: yuan strings with two decimals convert to fen exactly and back.
    #[test]
    fn yuan_round_trips_exactly(fen_amount in 0u64..=2_147_483_647) {
        let text = format_yuan(AmountFen::from_fen(fen_amount));
        prop_assert_eq!(parse_yuan(&text).map(AmountFen::fen), Ok(fen_amount));
    }

    /// Any text: never a panic; whatever parses writes back to the same text.
    #[test]
    fn yuan_parsing_never_panics_and_is_canonical(text in "\\PC{0,16}") {
        if let Ok(amount) = parse_yuan(&text) {
            prop_assert_eq!(format_yuan(amount), text);
        }
    }
}
