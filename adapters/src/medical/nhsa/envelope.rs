//! The NHSA mobile-payment centre's JSON envelope (yibao-pay.md §4.1): a request is
//! `{appId, encType:"SM4", signType:"SM2", timestamp, encData, signData}` where `encData` is the
//! business JSON encrypted with SM4 and `signData` an SM2 signature; a reply adds `code` (0 = ok)
//! and `message` and is encrypted and signed the same way by the platform.
//!
//! The sources name the algorithms but not the key derivation or the signed text, so cashier
//! fixes them (ARCHITECTURE.md, "Protocol choices where sources are silent"): the SM4 key is the
//! first 16 bytes of SM3(appId ‖ appSecret); `encData` is base64 of SM4-ECB-PKCS#7; the signed
//! text is `appId=…&data=<plain JSON>&encType=SM4&signType=SM2&timestamp=…` (keys sorted, as
//! WeChat's v2 sign does), signed with SM2/SM3 and the default identifier; `signData` is base64
//! of the 64-byte `r ‖ s`. A real centre's variant changes this file only.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::medical::nhsa::NhsaError;
use crate::medical::sm::{self, Sm2PrivateKey, Sm2PublicKey};

/// A hospital's credentials at the NHSA centre. `Debug` hides the secret and the private key.
#[derive(Clone)]
pub struct NhsaCredentials {
    /// `appId` (定点医药机构应用ID).
    pub app_id: String,
    app_secret: Zeroizing<String>,
    /// The hospital's SM2 key, which signs requests.
    pub private_key: Sm2PrivateKey,
    /// The centre's SM2 public key, which signs replies.
    pub platform_key: Sm2PublicKey,
}

impl std::fmt::Debug for NhsaCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NhsaCredentials")
            .field("app_id", &self.app_id)
            .field("app_secret", &"***")
            .field("private_key", &self.private_key)
            .field("platform_key", &"<public key>")
            .finish()
    }
}

impl NhsaCredentials {
    /// Credentials from their parts.
    pub fn new(
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        private_key: Sm2PrivateKey,
        platform_key: Sm2PublicKey,
    ) -> NhsaCredentials {
        NhsaCredentials {
            app_id: app_id.into(),
            app_secret: Zeroizing::new(app_secret.into()),
            private_key,
            platform_key,
        }
    }

    /// The SM4 key of this appId and secret.
    fn sm4_key(&self) -> [u8; 16] {
        let mut material = Zeroizing::new(self.app_id.as_bytes().to_vec());
        material.extend_from_slice(self.app_secret.as_bytes());
        let digest = sm::sm3(&material);
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }
}

fn signed_text(app_id: &str, data: &str, timestamp: &str) -> String {
    format!("appId={app_id}&data={data}&encType=SM4&signType=SM2&timestamp={timestamp}")
}

/// Seals business JSON as the centre's envelope, signed with `signer` (the hospital for
/// requests; the simulated centre signs replies with its own key).
pub fn seal(
    credentials: &NhsaCredentials,
    signer: &Sm2PrivateKey,
    data: &Value,
    timestamp_ms: i64,
    extra: Option<(i64, &str)>,
) -> Value {
    let data = data.to_string();
    let timestamp = timestamp_ms.to_string();
    let enc_data = BASE64.encode(sm::sm4_encrypt(&credentials.sm4_key(), data.as_bytes()));
    let sign_data =
        BASE64.encode(signer.sign(signed_text(&credentials.app_id, &data, &timestamp).as_bytes()));
    let mut envelope = json!({
        "appId": credentials.app_id,
        "encType": "SM4",
        "signType": "SM2",
        "timestamp": timestamp,
        "encData": enc_data,
        "signData": sign_data,
    });
    if let (Some((code, message)), Some(object)) = (extra, envelope.as_object_mut()) {
        object.insert("code".into(), json!(code));
        object.insert("message".into(), json!(message));
    }
    envelope
}

fn text<'a>(envelope: &'a Value, name: &'static str) -> Result<&'a str, NhsaError> {
    envelope
        .get(name)
        .and_then(Value::as_str)
        .ok_or(NhsaError::Field {
            name,
            reason: "missing or not a string",
        })
}

/// Opens an envelope: decrypts `encData` and checks `signData` with `verifier` (the centre's
/// key for replies; the hospital's for requests the simulated centre receives).
pub fn open(
    credentials: &NhsaCredentials,
    verifier: &Sm2PublicKey,
    envelope: &Value,
) -> Result<Value, NhsaError> {
    if text(envelope, "appId")? != credentials.app_id {
        return Err(NhsaError::Field {
            name: "appId",
            reason: "names another application",
        });
    }
    if text(envelope, "encType")? != "SM4" || text(envelope, "signType")? != "SM2" {
        return Err(NhsaError::Field {
            name: "encType",
            reason: "only SM4 with SM2 is spoken",
        });
    }
    let timestamp = text(envelope, "timestamp")?;
    let ciphertext = BASE64
        .decode(text(envelope, "encData")?)
        .map_err(|_| NhsaError::Field {
            name: "encData",
            reason: "not base64",
        })?;
    let plaintext = Zeroizing::new(
        sm::sm4_decrypt(&credentials.sm4_key(), &ciphertext).map_err(|_| NhsaError::Decrypt)?,
    );
    let data = std::str::from_utf8(&plaintext).map_err(|_| NhsaError::Field {
        name: "encData",
        reason: "not UTF-8",
    })?;
    let signature = BASE64
        .decode(text(envelope, "signData")?)
        .map_err(|_| NhsaError::Field {
            name: "signData",
            reason: "not base64",
        })?;
    verifier
        .verify(
            signed_text(&credentials.app_id, data, timestamp).as_bytes(),
            &signature,
        )
        .map_err(|_| NhsaError::Signature)?;
    serde_json::from_str(data).map_err(|error| NhsaError::Malformed(error.to_string()))
}
