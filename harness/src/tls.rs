//! A throwaway test PKI for serving the simulator over TLS: a CA, a server certificate for
//! `localhost`/`127.0.0.1`, and a merchant client certificate for the `secapi` endpoints, all
//! generated at start-up (nothing is read from or written to disk unless asked).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The generated certificates and keys, in PEM and DER.
#[derive(Clone)]
pub struct TestPki {
    /// The CA certificate (trust this to reach the server).
    pub ca_certificate_pem: String,
    ca_certificate_der: Vec<u8>,
    /// The server certificate.
    pub server_certificate_pem: String,
    server_certificate_der: Vec<u8>,
    server_key_der: Vec<u8>,
    /// The merchant client certificate (present it to call `secapi` endpoints).
    pub client_certificate_pem: String,
    /// The client certificate's private key (PKCS#8 PEM).
    pub client_key_pem: String,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TestPki(***)")
    }
}

/// Why the PKI or the TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(String),
}

impl TestPki {
    /// Generates a fresh CA, server and client certificate.
    pub fn generate() -> Result<TestPki, TlsError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cashier WeChat Pay simulator test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        let server_key = KeyPair::generate()?;
        let server_certificate = server_params.signed_by(&server_key, &ca)?;

        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "Tenpay.com merchant test certificate");
        let client_key = KeyPair::generate()?;
        let client_certificate = client_params.signed_by(&client_key, &ca)?;

        Ok(TestPki {
            ca_certificate_pem: ca.pem(),
            ca_certificate_der: ca.der().to_vec(),
            server_certificate_pem: server_certificate.pem(),
            server_certificate_der: server_certificate.der().to_vec(),
            server_key_der: server_key.serialize_der(),
            client_certificate_pem: client_certificate.pem(),
            client_key_pem: client_key.serialize_pem(),
        })
    }

    /// A rustls server configuration that asks for (but does not require) a client
    /// certificate signed by the CA; the `secapi` handler refuses calls without one.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(self.ca_certificate_der.clone()))?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|error| TlsError::Verifier(error.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from(self.server_certificate_der.clone())],
                key,
            )?;
        Ok(Arc::new(config))
    }
}
