//! TLS: the server presents a certificate from its generated CA, and the secapi refund endpoint
//! requires the merchant client certificate (wechatpay-v2.md §0, §2.5).

use std::sync::Arc;

use cashier_adapters::endpoints::refund::RefundRequest;
use cashier_adapters::{
    AmountFen, ApiBase, ChaChaNonceSource, ClientIdentity, OrderRef, OutRefundNo, OutTradeNo,
    ReqwestTransport, ReqwestTransportConfig, SignType, WechatPayClient,
};
use cashier_harness::server;
use cashier_harness::tls::TestPki;
use cashier_harness::{SimConfig, SimOptions, Simulator};

use crate::support::*;

#[tokio::test]
async fn section_2_5_secapi_over_tls_requires_the_client_certificate() {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(90),
    ));
    let pki = TestPki::generate().unwrap();
    let running = server::start(
        simulator.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Some(pki.clone()),
    )
    .await
    .unwrap();
    assert!(running.base_url().starts_with("https://"));
    let transport = |identity: Option<ClientIdentity>| {
        ReqwestTransport::new(ReqwestTransportConfig {
            client_identity: identity,
            extra_root_certificates_pem: vec![pki.ca_certificate_pem.clone().into_bytes()],
            ..ReqwestTransportConfig::default()
        })
        .unwrap()
    };
    let without = WechatPayClient::new(
        transport(None),
        ApiBase::custom(running.base_url().replace("127.0.0.1", "localhost")),
        ChaChaNonceSource::seeded(90),
    );
    let merchant = direct(SignType::Md5);
    without
        .call(&merchant, &jsapi("TLS0000001", 100))
        .await
        .unwrap();
    simulator
        .pay(&cashier_harness::PayCommand {
            out_trade_no: Some("TLS0000001".into()),
            prepay_id: None,
            outcome: "success".into(),
            bank_type: None,
            coupons: vec![],
        })
        .unwrap();
    let refund = RefundRequest {
        order: OrderRef::OutTradeNo(OutTradeNo::new("TLS0000001").unwrap()),
        out_refund_no: OutRefundNo::new("TLSR1").unwrap(),
        total_fee: AmountFen::from_fen(100),
        refund_fee: AmountFen::from_fen(10),
        refund_desc: None,
        refund_account: None,
        notify_url: None,
    };
    // Without a configured certificate the transport refuses to send at all.
    assert!(matches!(
        without.call(&merchant, &refund).await,
        Err(cashier_adapters::WechatError::Transport(
            cashier_adapters::TransportError::NotSent { .. }
        ))
    ));
    // With a certificate from another CA the server sees none it trusts... the handshake fails.
    let stranger = rcgen::generate_simple_self_signed(vec!["merchant".to_owned()]).unwrap();
    let stranger_identity = ClientIdentity::from_pem(
        stranger.cert.pem().as_bytes(),
        stranger.signing_key.serialize_pem().as_bytes(),
    );
    let impostor = WechatPayClient::new(
        transport(Some(stranger_identity)),
        ApiBase::custom(running.base_url().replace("127.0.0.1", "localhost")),
        ChaChaNonceSource::seeded(91),
    );
    assert!(impostor.call(&merchant, &refund).await.is_err());
    // The merchant's certificate works.
    let identity = ClientIdentity::from_pem(
        pki.client_certificate_pem.as_bytes(),
        pki.client_key_pem.as_bytes(),
    );
    let with = WechatPayClient::new(
        transport(Some(identity)),
        ApiBase::custom(running.base_url().replace("127.0.0.1", "localhost")),
        ChaChaNonceSource::seeded(92),
    );
    let accepted = with.call(&merchant, &refund).await.unwrap();
    assert_eq!(accepted.refund_fee, AmountFen::from_fen(10));
    running.shutdown().await;
}
