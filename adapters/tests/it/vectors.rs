//! Known-answer vectors of wechatpay-v2.md §1.2 (sign), §5 (req_info) and §6 (client
//! parameters), read from `fixtures/wechat_v2/*_vectors.json`.

use cashier_adapters::notify::refund::{
    decrypt_req_info, encrypt_req_info, UnverifiedRefundNotification,
};
use cashier_adapters::wechat::sign::canonical_string_masked;
use cashier_adapters::{sign_pairs, ApiKey, AppId, Fields, MchId, MerchantContext, SignType};

use crate::support::{read_fixture, read_json};

#[test]
fn section_1_2_every_sign_vector_matches() {
    let vectors = read_json("sign_vectors.json");
    let vectors = vectors["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 12);
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let key = ApiKey::new_for_diagnostics(vector["key"].as_str().unwrap());
        let sign_type = SignType::parse(vector["sign_type"].as_str().unwrap()).unwrap();
        let owned: Vec<(String, String)> = vector["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut pairs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let signature = sign_pairs(sign_type, &key, &mut pairs);
        assert_eq!(
            signature.as_str(),
            vector["expected"].as_str().unwrap(),
            "{name}"
        );
        if let Some(wrong) = vector["not_expected"].as_str() {
            assert_ne!(signature.as_str(), wrong, "{name}");
        }
        // The same parameters through Fields (the path every message takes) sign identically.
        let fields: Fields = owned.iter().cloned().collect();
        assert_eq!(fields.sign(sign_type, &key), signature, "{name} via Fields");
        if let Some(canonical) = vector["canonical"].as_str() {
            let masked = canonical_string_masked(pairs.iter().copied(), &key);
            assert_eq!(
                masked,
                format!("{canonical}&key={}", key.masked()),
                "{name}"
            );
        }
    }
}

#[test]
fn section_5_every_req_info_vector_decrypts_and_re_encrypts() {
    let vectors = read_json("req_info_vectors.json");
    for vector in vectors["vectors"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let key = ApiKey::new(vector["key"].as_str().unwrap()).unwrap();
        let req_info = vector["req_info"].as_str().unwrap();
        let plaintext = decrypt_req_info(req_info, &key).unwrap();
        if let Some(expected) = vector["plaintext"].as_str() {
            assert_eq!(
                String::from_utf8(plaintext.clone()).unwrap(),
                expected,
                "{name}"
            );
        }
        // ECB with PKCS#7 is deterministic, so encrypting the plaintext gives the vector back.
        assert_eq!(encrypt_req_info(&plaintext, &key), req_info, "{name}");
    }
}

#[test]
fn section_5_r1_refund_notification_decrypts_to_the_published_fields() {
    let vectors = read_json("req_info_vectors.json");
    let r1 = &vectors["vectors"][0];
    let merchant = MerchantContext::direct(
        AppId::new("wx4f4bc4dec97d474b").unwrap(),
        MchId::new("12345678").unwrap(),
        SignType::Md5,
        ApiKey::new(r1["key"].as_str().unwrap()).unwrap(),
    );
    let body = read_fixture("notifications/refund_r1_wechatpy.xml");
    let notification = UnverifiedRefundNotification::parse(&body)
        .unwrap()
        .decrypt(&merchant)
        .unwrap();
    for (name, value) in r1["decrypted_fields"].as_object().unwrap() {
        assert_eq!(
            notification.inner_fields.get(name),
            value.as_str(),
            "{name}"
        );
    }
    assert_eq!(notification.refund_fee.fen(), 1);
    assert_eq!(notification.refund_status.as_str(), "SUCCESS");
    assert_eq!(notification.out_refund_no.as_str(), "1234");
}

#[test]
fn section_5_wrong_key_does_not_decrypt_req_info() {
    let body = read_fixture("notifications/refund_r1_wechatpy.xml");
    let merchant = MerchantContext::direct(
        AppId::new("wx4f4bc4dec97d474b").unwrap(),
        MchId::new("12345678").unwrap(),
        SignType::Md5,
        ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap(),
    );
    let error = UnverifiedRefundNotification::parse(&body)
        .unwrap()
        .decrypt(&merchant)
        .unwrap_err();
    assert!(
        matches!(error, cashier_adapters::notify::NotifyError::Decrypt(_)),
        "{error:?}"
    );
}
