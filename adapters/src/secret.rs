//! The merchant API key, kept in a type that never shows itself in `Debug` or `Display` and is
//! wiped from memory when dropped.

use std::fmt;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// The length in bytes of every APIv2 key issued by the merchant platform (wechatpay-v2.md §1.1).
pub const API_KEY_LEN: usize = 32;

/// Why a text cannot be used as an API key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not exactly 32 bytes long; off-by-one lengths usually mean a copy/paste slip.
    #[error("an APIv2 key is exactly {API_KEY_LEN} bytes, this one is {actual_len}")]
    Length {
        /// The length found, in bytes.
        actual_len: usize,
    },
    /// The key holds whitespace or non-printable or non-ASCII characters.
    #[error("an APIv2 key is printable ASCII without spaces")]
    Charset,
}

/// A merchant APIv2 key (or a sandbox sign key). It is used as the `&key=` suffix of every sign
/// string, as the HMAC-SHA256 key, and (through its MD5) as the AES key of refund notifications.
///
/// The HMAC state keyed with it is computed once and cloned per signature, which saves two
/// compression blocks on every HMAC signature (perf-anchors row 1d).
///
/// ```
/// use cashier_adapters::ApiKey;
/// let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap();
/// assert_eq!(format!("{key:?}"), "ApiKey(***)");
/// ```
#[derive(Clone)]
pub struct ApiKey {
    text: Zeroizing<String>,
    suffix: Zeroizing<String>,
    hmac_prototype: Hmac<Sha256>,
    aes_key: Zeroizing<[u8; 32]>,
}

impl ApiKey {
    /// Accepts exactly 32 printable ASCII bytes without spaces, as the merchant platform issues.
    pub fn new(text: impl Into<String>) -> Result<ApiKey, KeyError> {
        let text = Zeroizing::new(text.into());
        if !text.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(KeyError::Charset);
        }
        if text.len() != API_KEY_LEN {
            return Err(KeyError::Length {
                actual_len: text.len(),
            });
        }
        Ok(ApiKey::from_checked(text))
    }

    /// Accepts any text, for diagnostics that must be able to show what a malformed key signs
    /// as (for example `cashier sign` with a 31-byte key). Never use it for live traffic.
    pub fn new_for_diagnostics(text: impl Into<String>) -> ApiKey {
        ApiKey::from_checked(Zeroizing::new(text.into()))
    }

    fn from_checked(text: Zeroizing<String>) -> ApiKey {
        // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the
        // constructor total without an unwrap.
        let hmac_prototype = <Hmac<Sha256> as Mac>::new_from_slice(text.as_bytes())
            .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
        let digest = Md5::digest(text.as_bytes());
        let mut aes_key = Zeroizing::new([0u8; 32]);
        crate::wechat::sign::write_lower_hex(&digest, &mut aes_key[..]);
        let suffix = Zeroizing::new(format!("&key={}", text.as_str()));
        ApiKey {
            text,
            suffix,
            hmac_prototype,
            aes_key,
        }
    }

    /// The key text. Only the signer and diagnostics read it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// `&key=<key>`, the tail of every sign string, kept whole so signing feeds it at once.
    pub(crate) fn sign_suffix(&self) -> &str {
        &self.suffix
    }

    /// A fresh HMAC-SHA256 state keyed with this key.
    pub(crate) fn hmac(&self) -> Hmac<Sha256> {
        self.hmac_prototype.clone()
    }

    /// The AES-256 key for refund notifications: the lowercase hex MD5 of the API key, used as
    /// 32 ASCII bytes, zero-padded (wechatpay-v2.md §5 and pitfall §10.6).
    pub(crate) fn refund_aes_key(&self) -> &[u8; 32] {
        &self.aes_key
    }

    /// A masked form for diagnostics: first two and last two characters.
    pub fn masked(&self) -> String {
        let text: &str = &self.text;
        if text.len() <= 4 || !text.is_ascii() {
            return "*".repeat(text.chars().count());
        }
        let middle = "*".repeat(text.len() - 4);
        format!("{}{}{}", &text[..2], middle, &text[text.len() - 2..])
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("***")
    }
}

impl PartialEq for ApiKey {
    /// Keys compare in constant time so that comparing configured keys leaks nothing.
    fn eq(&self, other: &ApiKey) -> bool {
        use subtle::ConstantTimeEq;
        self.text.as_bytes().ct_eq(other.text.as_bytes()).into()
    }
}

impl Eq for ApiKey {}

impl Drop for ApiKey {
    fn drop(&mut self) {
        // The text and the AES key wipe themselves (Zeroizing). The HMAC prototype holds only the
        // inner and outer pad states, from which the key is not directly readable; the hmac crate
        // offers no way to wipe them.
        self.aes_key.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_never_appears_in_debug_or_display() {
        let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d");
        let key = key.unwrap_or_else(|_| ApiKey::new_for_diagnostics("x"));
        assert!(!format!("{key:?} {key}").contains("1920"));
    }

    #[test]
    fn key_length_is_exactly_32_bytes() {
        assert_eq!(
            ApiKey::new("a".repeat(31)).err(),
            Some(KeyError::Length { actual_len: 31 })
        );
        assert_eq!(
            ApiKey::new("a".repeat(33)).err(),
            Some(KeyError::Length { actual_len: 33 })
        );
        assert_eq!(
            ApiKey::new(format!("{} ", "a".repeat(31))).err(),
            Some(KeyError::Charset)
        );
    }

    #[test]
    fn refund_aes_key_is_lowercase_hex_md5_of_api_key() {
        // R3 in wechatpay-v2.md §5.
        let key = ApiKey::new_for_diagnostics("192006250b4c09247ec02edce69f6a2d");
        assert_eq!(key.refund_aes_key(), b"d96eb16afdd491fa1e705096edbc2205");
    }

    #[test]
    fn masked_key_shows_only_the_ends() {
        let key = ApiKey::new_for_diagnostics("192006250b4c09247ec02edce69f6a2d");
        assert_eq!(key.masked(), format!("19{}2d", "*".repeat(28)));
    }
}
