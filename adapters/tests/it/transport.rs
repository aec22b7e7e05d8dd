//! The reqwest transport against a tiny HTTP server on loopback (never the internet): request
//! bytes, status and body pass through unchanged; timeouts, refused connections and a missing
//! client certificate are typed; PKCS#12 identities (legacy 3DES as in apiclient_cert.p12, and
//! modern AES) load.

use std::time::Duration;

use cashier_adapters::endpoints::order_query::OrderQueryRequest;
use cashier_adapters::{
    ApiBase, ChaChaNonceSource, ClientIdentity, HttpRequest, OrderRef, OutTradeNo,
    ReqwestTransport, ReqwestTransportConfig, Transport, TransportError, WechatPayClient,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{merchant, read_fixture};

/// Serves one connection: captures the request, answers with `status` and `body`.
async fn serve_once(status: u16, body: Vec<u8>) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let count = socket.read(&mut buffer).await.unwrap();
            received.extend_from_slice(&buffer[..count]);
            let text = String::from_utf8_lossy(&received);
            if let Some(header_end) = text.find("\r\n\r\n") {
                let length = text[..header_end]
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if received.len() >= header_end + 4 + length {
                    break;
                }
            }
            if count == 0 {
                break;
            }
        }
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        received
    });
    (format!("http://{address}"), handle)
}

/// A minimal order query aimed at `address`, for tests about the connection, not the reply.
fn orderquery_to(address: std::net::SocketAddr) -> HttpRequest {
    HttpRequest {
        method: "POST",
        url: format!("http://{address}/pay/orderquery"),
        path: "/pay/orderquery".into(),
        headers: vec![],
        body: b"<xml/>".to_vec(),
        needs_client_certificate: false,
    }
}

fn transport(timeout_ms: u64) -> ReqwestTransport {
    ReqwestTransport::new(ReqwestTransportConfig {
        timeout_ms,
        ..ReqwestTransportConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn client_round_trip_over_loopback_posts_xml_and_parses_the_reply() {
    let (base, server) = serve_once(
        200,
        read_fixture("replies/orderquery/paid_with_coupons.xml"),
    )
    .await;
    let client = WechatPayClient::new(
        transport(5_000),
        ApiBase::custom(base),
        ChaChaNonceSource::seeded(1),
    );
    let order = OrderRef::OutTradeNo(OutTradeNo::new("1217752501201407033233368018").unwrap());
    let reply = client
        .call(&merchant("direct_md5"), &OrderQueryRequest { order })
        .await
        .unwrap();
    assert!(reply.trade_state.is_paid());
    let request = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(
        request.starts_with("POST /pay/orderquery HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request
        .to_ascii_lowercase()
        .contains("content-type: text/xml; charset=utf-8"));
    assert!(
        request.contains("<out_trade_no><![CDATA[1217752501201407033233368018]]></out_trade_no>")
    );
}

#[tokio::test]
async fn section_3_slow_reply_times_out_as_unknown_outcome() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let _server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(socket);
    });
    let request = orderquery_to(address);
    let error = transport(200).send(request).await.unwrap_err();
    assert_eq!(error, TransportError::Timeout { timeout_ms: 200 });
    assert!(error.outcome_unknown());
}

#[tokio::test]
async fn refused_connection_and_missing_certificate_are_typed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let mut request = orderquery_to(address);
    let error = transport(2_000).send(request.clone()).await.unwrap_err();
    assert!(matches!(error, TransportError::Connect { .. }), "{error:?}");
    request.needs_client_certificate = true;
    let error = transport(2_000).send(request).await.unwrap_err();
    assert!(matches!(error, TransportError::NotSent { .. }), "{error:?}");
    assert!(!error.outcome_unknown());
}

fn pkcs12(password: &str, algorithm: p12_keystore::EncryptionAlgorithm) -> Vec<u8> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = p12_keystore::PrivateKey::from_der(&certified.signing_key.serialize_der()).unwrap();
    let certificate = p12_keystore::Certificate::from_der(certified.cert.der()).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(vec![1u8, 2, 3], key, [certificate]);
    let mut keystore = p12_keystore::KeyStore::new();
    keystore.add_entry(
        "Tenpay Certificate",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    keystore
        .writer(password)
        .encryption_algorithm(algorithm)
        .write()
        .unwrap()
}

#[test]
fn section_0_client_certificate_loads_from_pkcs12_with_mch_id_password() {
    for algorithm in [
        p12_keystore::EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
        p12_keystore::EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
    ] {
        let der = pkcs12("10000100", algorithm);
        let identity = ClientIdentity::from_pkcs12(&der, "10000100").unwrap();
        assert_eq!(format!("{identity:?}"), "ClientIdentity(***)");
        let built = ReqwestTransport::new(ReqwestTransportConfig {
            client_identity: Some(identity),
            ..ReqwestTransportConfig::default()
        });
        assert!(built.is_ok(), "{built:?}");
        assert!(ClientIdentity::from_pkcs12(&der, "wrong").is_err());
    }
    assert!(ClientIdentity::from_pkcs12(b"not a p12", "10000100").is_err());
}

#[test]
fn section_0_client_certificate_loads_from_pem() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let identity = ClientIdentity::from_pem(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    );
    let built = ReqwestTransport::new(ReqwestTransportConfig {
        client_identity: Some(identity),
        ..ReqwestTransportConfig::default()
    });
    assert!(built.is_ok(), "{built:?}");
}
