//! [`ReqwestTransport`]: the production [`Transport`], over reqwest with rustls. The `secapi`
//! endpoints go through a second client that presents the merchant's certificate, loaded from
//! PEM or from WeChat's `apiclient_cert.p12` (PKCS#12, password = mch_id by default, §0).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError, TransportFuture};

/// The default request deadline. WeChat answers in well under a second; ten seconds leaves room
/// for slow links without holding a payment attempt for long.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The default limit on a response body (bills can be large; XML replies are small).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Why a transport could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportConfigError {
    /// The PKCS#12 file could not be opened (wrong password, unsupported or corrupt file).
    #[error("PKCS#12: {detail}")]
    Pkcs12 {
        /// What went wrong.
        detail: String,
    },
    /// The PKCS#12 file holds no private key with a certificate.
    #[error("PKCS#12 holds no private key with a certificate")]
    Pkcs12Empty,
    /// The PEM identity or a root certificate was rejected.
    #[error("certificate: {detail}")]
    Certificate {
        /// What went wrong.
        detail: String,
    },
    /// reqwest could not build a client.
    #[error("HTTP client: {detail}")]
    Client {
        /// What went wrong.
        detail: String,
    },
}

/// A client certificate and its private key, in PEM.
#[derive(Clone)]
pub struct ClientIdentity {
    pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ClientIdentity(***)")
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let encoded = BASE64.encode(der);
    let mut block = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        block.push_str(&String::from_utf8_lossy(line));
        block.push('\n');
    }
    block.push_str(&format!("-----END {label}-----\n"));
    block
}

impl ClientIdentity {
    /// From a PEM certificate (chain) and a PEM private key (`apiclient_cert.pem`,
    /// `apiclient_key.pem`).
    pub fn from_pem(certificate_pem: &[u8], private_key_pem: &[u8]) -> ClientIdentity {
        let mut pem = certificate_pem.to_vec();
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        pem.extend_from_slice(private_key_pem);
        ClientIdentity { pem }
    }

    /// From a PKCS#12 file such as `apiclient_cert.p12` (legacy 3DES/RC2 and modern AES both
    /// read); WeChat's password is the mch_id.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<ClientIdentity, TransportConfigError> {
        let keystore = p12_keystore::KeyStore::from_pkcs12(
            der,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|error| TransportConfigError::Pkcs12 {
            detail: error.to_string(),
        })?;
        let (_, chain) = keystore
            .private_key_chain()
            .ok_or(TransportConfigError::Pkcs12Empty)?;
        if chain.certs().is_empty() {
            return Err(TransportConfigError::Pkcs12Empty);
        }
        let mut pem = String::new();
        for certificate in chain.certs() {
            pem.push_str(&pem_block("CERTIFICATE", certificate.as_der()));
        }
        pem.push_str(&pem_block("PRIVATE KEY", chain.key().as_der()));
        Ok(ClientIdentity {
            pem: pem.into_bytes(),
        })
    }

    fn to_reqwest(&self) -> Result<reqwest::Identity, TransportConfigError> {
        reqwest::Identity::from_pem(&self.pem).map_err(|error| TransportConfigError::Certificate {
            detail: error.to_string(),
        })
    }
}

/// Settings for [`ReqwestTransport`].
#[derive(Clone, Debug)]
pub struct ReqwestTransportConfig {
    /// The whole-request deadline.
    pub timeout_ms: u64,
    /// Responses longer than this fail with [`TransportError::ResponseTooLarge`].
    pub max_response_bytes: usize,
    /// The merchant's client certificate for `secapi` endpoints.
    pub client_identity: Option<ClientIdentity>,
    /// Extra trusted root certificates in PEM (a simulator's test CA).
    pub extra_root_certificates_pem: Vec<Vec<u8>>,
}

impl Default for ReqwestTransportConfig {
    fn default() -> Self {
        ReqwestTransportConfig {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            client_identity: None,
            extra_root_certificates_pem: Vec::new(),
        }
    }
}

/// The production transport. It never retries: that is the caller's decision.
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    plain: reqwest::Client,
    with_certificate: Option<reqwest::Client>,
    timeout_ms: u64,
    max_response_bytes: usize,
}

impl ReqwestTransport {
    /// Builds the clients.
    pub fn new(config: ReqwestTransportConfig) -> Result<ReqwestTransport, TransportConfigError> {
        let builder = || -> Result<reqwest::ClientBuilder, TransportConfigError> {
            let mut builder = reqwest::Client::builder()
                .use_rustls_tls()
                .timeout(Duration::from_millis(config.timeout_ms))
                .redirect(reqwest::redirect::Policy::none());
            for pem in &config.extra_root_certificates_pem {
                let certificate = reqwest::Certificate::from_pem(pem).map_err(|error| {
                    TransportConfigError::Certificate {
                        detail: error.to_string(),
                    }
                })?;
                builder = builder.add_root_certificate(certificate);
            }
            Ok(builder)
        };
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .build()
                .map_err(|error| TransportConfigError::Client {
                    detail: error.to_string(),
                })
        };
        let plain = build(builder()?)?;
        let with_certificate = match &config.client_identity {
            None => None,
            Some(identity) => Some(build(builder()?.identity(identity.to_reqwest()?))?),
        };
        Ok(ReqwestTransport {
            plain,
            with_certificate,
            timeout_ms: config.timeout_ms,
            max_response_bytes: config.max_response_bytes,
        })
    }

    async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let client = if request.needs_client_certificate {
            self.with_certificate
                .as_ref()
                .ok_or_else(|| TransportError::NotSent {
                    detail: format!(
                        "{} needs a client certificate and none is configured",
                        request.path
                    ),
                })?
        } else {
            &self.plain
        };
        let mut builder = match request.method {
            "GET" => client.get(&request.url),
            _ => client.post(&request.url).body(request.body),
        };
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let mut response = builder.send().await.map_err(|error| self.classify(error))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.classify(error))?
        {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(TransportError::ResponseTooLarge {
                    limit_bytes: self.max_response_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, body })
    }

    /// The error without its URL: some URLs carry credentials in their query (WeChat's login
    /// endpoints take the app secret, payinsurance the access token), and details are logged.
    fn classify(&self, error: reqwest::Error) -> TransportError {
        let error = error.without_url();
        if error.is_timeout() {
            TransportError::Timeout {
                timeout_ms: self.timeout_ms,
            }
        } else if error.is_connect() {
            TransportError::Connect {
                detail: error.to_string(),
            }
        } else if error.is_builder() {
            TransportError::NotSent {
                detail: error.to_string(),
            }
        } else {
            TransportError::Io {
                detail: error.to_string(),
            }
        }
    }
}

impl Transport for ReqwestTransport {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        Box::pin(self.exchange(request))
    }
}
