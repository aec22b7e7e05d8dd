//! Payment notifications (wechatpay-v2.md §4) and acknowledgements: verification by the order's
//! sign type when `sign_type` is absent, identity and amount checks, unknown fields signed.

use cashier_adapters::notify::ack::{ack_failure, is_acknowledged, ACK_SUCCESS};
use cashier_adapters::notify::payment::{PaymentResult, UnverifiedPaymentNotification};
use cashier_adapters::notify::NotifyError;
use cashier_adapters::{AmountFen, ErrCode, MerchantContext, SignCheck, SignType};

use crate::support::{merchant, read_fixture};

fn verify(
    file: &str,
    merchant: &MerchantContext,
    total_fen: u64,
) -> Result<cashier_adapters::notify::payment::PaymentNotification, NotifyError> {
    let body = read_fixture(&format!("notifications/{file}"));
    UnverifiedPaymentNotification::parse(&body)?.verify(merchant, AmountFen::from_fen(total_fen))
}

#[test]
fn section_4_official_example_with_coupons_verifies() {
    let notification = verify(
        "payment_md5_official_example.xml",
        &merchant("direct_md5"),
        888,
    )
    .unwrap();
    assert_eq!(notification.result, PaymentResult::Paid);
    assert_eq!(notification.sign_type, SignType::Md5);
    assert_eq!(notification.details.coupons.len(), 2);
    assert_eq!(
        notification.details.cash_fee,
        Some(AmountFen::from_fen(588))
    );
    assert_eq!(notification.details.attach.as_deref(), Some("支付测试"));
}

#[test]
fn section_4_hmac_order_notification_without_sign_type_verifies_with_the_orders_sign_type() {
    let hmac_order = merchant("direct_hmac");
    let notification = verify("payment_hmac_without_sign_type.xml", &hmac_order, 888).unwrap();
    assert_eq!(notification.sign_type, SignType::HmacSha256);
    // Assuming MD5 (the SDK bug of pitfall §10.4) fails.
    let error = verify(
        "payment_hmac_without_sign_type.xml",
        &merchant("direct_md5"),
        888,
    )
    .unwrap_err();
    assert_eq!(error, NotifyError::Signature(SignCheck::Mismatch));
    // With sign_type present, the message's own sign type is used whatever the order's.
    let with_type = verify(
        "payment_hmac_with_sign_type.xml",
        &merchant("direct_md5"),
        888,
    )
    .unwrap();
    assert_eq!(with_type.sign_type, SignType::HmacSha256);
}

#[test]
fn section_4_service_provider_notification_checks_sub_ids() {
    let notification = verify("payment_sp.xml", &merchant("sp_md5"), 888).unwrap();
    assert_eq!(
        notification.details.sub_openid.as_deref(),
        Some("oUpF8uN95-Ptaags6E_roPHg7AG0")
    );
}

#[test]
fn section_4_unknown_fields_are_signed_and_kept() {
    let notification = verify("payment_unknown_fields.xml", &merchant("direct_md5"), 888).unwrap();
    assert_eq!(notification.fields.get("future_field_2027"), Some("x"));
}

#[test]
fn section_4_forged_tampered_and_misrouted_notifications_are_refused() {
    let direct = merchant("direct_md5");
    assert_eq!(
        verify("payment_tampered_amount.xml", &direct, 888).unwrap_err(),
        NotifyError::Signature(SignCheck::Mismatch)
    );
    assert_eq!(
        verify("payment_forged_wrong_amount.xml", &direct, 888).unwrap_err(),
        NotifyError::AmountMismatch {
            expected: AmountFen::from_fen(888),
            received: AmountFen::from_fen(1)
        }
    );
    assert_eq!(
        verify("payment_wrong_key.xml", &direct, 888).unwrap_err(),
        NotifyError::Signature(SignCheck::Mismatch)
    );
    assert_eq!(
        verify("payment_unsigned.xml", &direct, 888).unwrap_err(),
        NotifyError::Signature(SignCheck::Missing)
    );
    assert!(matches!(
        verify("payment_return_fail.xml", &direct, 888).unwrap_err(),
        NotifyError::ProtocolFailure { .. }
    ));
    // A notification for the SP merchant is refused by a direct merchant's context, even
    // though the key check is what fails first here (the SP key differs).
    assert!(verify("payment_sp.xml", &direct, 888).is_err());
    assert!(matches!(
        UnverifiedPaymentNotification::parse(b"<!DOCTYPE xml><xml/>").unwrap_err(),
        NotifyError::Malformed(_)
    ));
}

#[test]
fn section_4_failed_payment_result_is_reported_not_applied_as_paid() {
    let notification = verify("payment_result_fail.xml", &merchant("direct_md5"), 888).unwrap();
    assert_eq!(
        notification.result,
        PaymentResult::Failed {
            err_code: ErrCode::NotEnough,
            err_code_des: "余额不足".into()
        }
    );
}

#[test]
fn section_4_acknowledgement_bytes_are_exact() {
    assert_eq!(
        ACK_SUCCESS,
        b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
    );
    assert!(is_acknowledged(200, ACK_SUCCESS));
    assert!(!is_acknowledged(200, &ack_failure("签名失败")));
    // A reason that tries to break out of CDATA stays inside it.
    assert!(!is_acknowledged(
        200,
        &ack_failure("]]></return_msg><return_code>SUCCESS")
    ));
}
