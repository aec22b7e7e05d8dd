//! userQuery (yibao-pay.md §3.2): exchanges the `authCode` the 医保电子凭证 mini program gave the
//! payer's client for a `payAuthNo` (short-lived, single-use: never stored) and the payer's
//! location. `POST {base}/api/mipuserquery/userQuery/{partnerId}`, body `{"qrcode", "openid"}`,
//! headers `god-portal-timestamp` (Unix ms), `god-portal-signature` (lowercase hex of
//! HMAC-SHA256(partnerSecret, partnerId ‖ timestamp)) and `god-portal-request-id`.
//!
//! Tencent's reply envelope is not confirmed (§12); cashier reads
//! `{"code": 0, "message", "data": {"payAuthNo", "userLongitudeLatitude": {"longitude",
//! "latitude"}, "cityId", "userName"}}` and refuses anything else with a typed error.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::transport::{HttpRequest, HttpResponse};

/// Tencent's partner credentials. `Debug` hides the secret.
#[derive(Clone)]
pub struct PartnerCredentials {
    /// `partnerId`.
    pub partner_id: String,
    secret: Zeroizing<String>,
}

impl std::fmt::Debug for PartnerCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "PartnerCredentials({}, ***)", self.partner_id)
    }
}

impl PartnerCredentials {
    /// Credentials from their parts.
    pub fn new(partner_id: impl Into<String>, secret: impl Into<String>) -> PartnerCredentials {
        PartnerCredentials {
            partner_id: partner_id.into(),
            secret: Zeroizing::new(secret.into()),
        }
    }

    /// `god-portal-signature` for a timestamp.
    pub fn signature(&self, timestamp_ms: i64) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()) else {
            return String::new();
        };
        mac.update(self.partner_id.as_bytes());
        mac.update(timestamp_ms.to_string().as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// Checks a received signature in constant time (the simulated Tencent side).
    pub fn verify(&self, timestamp_ms: i64, signature: &str) -> bool {
        bool::from(
            self.signature(timestamp_ms)
                .as_bytes()
                .ct_eq(signature.as_bytes()),
        )
    }
}

/// Why userQuery failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserQueryError {
    /// HTTP status other than 200.
    #[error("userQuery answered HTTP {0}")]
    Status(u16),
    /// Refused (`code` ≠ 0): an expired, used or unknown authCode, a bad signature.
    #[error("userQuery refused: {code} {message}")]
    Refused {
        /// `code`.
        code: i64,
        /// `message`.
        message: String,
    },
    /// The reply is not of the expected shape.
    #[error("userQuery reply malformed: {0}")]
    Malformed(&'static str),
}

/// The request: the payer's `authCode` and openid (under the invoking app).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserQueryRequest {
    /// `qrcode`: the authCode.
    pub auth_code: String,
    /// `openid`.
    pub openid: String,
}

/// What userQuery answers.
#[derive(Clone, PartialEq, Eq)]
pub struct UserQueryReply {
    /// `payAuthNo`: hand it to 6201 and the payinsurance order in the same session, then forget it.
    pub pay_auth_no: String,
    /// "longitude,latitude".
    pub location: String,
    /// `cityId`.
    pub city_id: String,
    /// `userName` (as Tencent masks it).
    pub user_name: String,
}

impl std::fmt::Debug for UserQueryReply {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UserQueryReply")
            .field("pay_auth_no", &"***")
            .field("location", &self.location)
            .field("city_id", &self.city_id)
            .finish()
    }
}

impl UserQueryRequest {
    /// The signed HTTP request.
    pub fn build(
        &self,
        credentials: &PartnerCredentials,
        base_url: &str,
        timestamp_ms: i64,
        request_id: &str,
    ) -> HttpRequest {
        let path = format!("/api/mipuserquery/userQuery/{}", credentials.partner_id);
        HttpRequest {
            method: "POST",
            url: format!("{}{path}", base_url.trim_end_matches('/')),
            path,
            headers: vec![
                ("Content-Type", "application/json".into()),
                ("god-portal-timestamp", timestamp_ms.to_string()),
                ("god-portal-signature", credentials.signature(timestamp_ms)),
                ("god-portal-request-id", request_id.to_owned()),
            ],
            body: json!({ "qrcode": self.auth_code, "openid": self.openid })
                .to_string()
                .into_bytes(),
            needs_client_certificate: false,
        }
    }

    /// Parses the reply.
    pub fn parse(response: &HttpResponse) -> Result<UserQueryReply, UserQueryError> {
        if response.status != 200 {
            return Err(UserQueryError::Status(response.status));
        }
        let reply: Value = serde_json::from_slice(&response.body)
            .map_err(|_| UserQueryError::Malformed("not JSON"))?;
        let code = reply
            .get("code")
            .and_then(Value::as_i64)
            .ok_or(UserQueryError::Malformed("no code"))?;
        if code != 0 {
            let message = reply
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            return Err(UserQueryError::Refused { code, message });
        }
        let data = reply
            .get("data")
            .ok_or(UserQueryError::Malformed("no data"))?;
        let text = |value: Option<&Value>, what: &'static str| {
            value
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
                .ok_or(UserQueryError::Malformed(what))
        };
        let place = data.get("userLongitudeLatitude");
        let longitude = text(
            place.and_then(|place| place.get("longitude")),
            "no longitude",
        )?;
        let latitude = text(place.and_then(|place| place.get("latitude")), "no latitude")?;
        Ok(UserQueryReply {
            pay_auth_no: text(data.get("payAuthNo"), "no payAuthNo")?,
            location: format!("{longitude},{latitude}"),
            city_id: text(data.get("cityId"), "no cityId")?,
            user_name: text(data.get("userName"), "no userName")?,
        })
    }
}
