//! The v2 signature (`sign`, `paySign`): MD5 or HMAC-SHA256 over the sorted `name=value` string
//! with `&key=<API key>` appended (wechatpay-v2.md §1.1).
//!
//! The canonical string is streamed into the hasher piece by piece: signing allocates nothing and
//! the output lives on the stack, so a signature costs little more than the raw hash of the same
//! bytes (perf-anchors rows 2a and 2d).

use std::fmt;

use hmac::Mac;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::secret::ApiKey;

/// The two v2 sign algorithms, chosen per request by the optional `sign_type` field.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum SignType {
    /// `MD5`, the default when `sign_type` is absent from a request.
    #[serde(rename = "MD5")]
    Md5,
    /// `HMAC-SHA256`, keyed with the API key (which is also appended to the message).
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
}

impl SignType {
    /// The wire name: `MD5` or `HMAC-SHA256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }

    /// Parses the wire name; WeChat's names are exact and upper case.
    pub fn parse(text: &str) -> Option<SignType> {
        match text {
            "MD5" => Some(SignType::Md5),
            "HMAC-SHA256" => Some(SignType::HmacSha256),
            _ => None,
        }
    }

    /// The length of a signature of this type in hex characters.
    pub const fn signature_len(self) -> usize {
        match self {
            SignType::Md5 => 32,
            SignType::HmacSha256 => 64,
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A computed signature: 32 (MD5) or 64 (HMAC-SHA256) upper-case hex characters, on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    hex: [u8; 64],
    len: u8,
}

impl Signature {
    /// The signature as upper-case hex.
    pub fn as_str(&self) -> &str {
        let bytes = self.hex.get(..usize::from(self.len)).unwrap_or_default();
        // Only hex digits are ever written into `hex`, so this is always valid UTF-8.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Compares with a received signature in constant time (for equal lengths; the length of a
    /// signature is public). Upper-case hex is required, as every SDK compares exactly.
    pub fn matches(&self, received: &str) -> bool {
        let expected = self.as_str().as_bytes();
        expected.len() == received.len() && bool::from(expected.ct_eq(received.as_bytes()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Signature({})", self.as_str())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// Every byte's two upper-case hex digits, so encoding costs one lookup per byte.
const UPPER_HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = [UPPER_HEX[byte >> 4], UPPER_HEX[byte & 0x0f]];
        byte += 1;
    }
    table
};

fn write_upper_hex(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&UPPER_HEX_PAIRS[usize::from(*byte)]);
    }
}

fn write_hex(digits: &[u8; 16], bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        if let [high, low] = pair {
            *high = digits[usize::from(byte >> 4)];
            *low = digits[usize::from(byte & 0x0f)];
        }
    }
}

/// Writes `bytes` as lower-case hex into `out` (which must hold twice as many bytes).
pub(crate) fn write_lower_hex(bytes: &[u8], out: &mut [u8]) {
    write_hex(LOWER_HEX, bytes, out);
}

/// True when a parameter takes part in the signature: `sign` itself and empty values do not.
#[inline]
pub fn is_signed_parameter(name: &str, value: &str) -> bool {
    !value.is_empty() && name != "sign"
}

/// Feeds the canonical string `a=1&b=2&key=KEY` into `update`, skipping `sign` and empty
/// values. `pairs` must already be sorted by name in byte order.
fn stream_canonical<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &str,
    mut update: impl FnMut(&[u8]),
) {
    let mut first = true;
    for (name, value) in pairs {
        if !is_signed_parameter(name, value) {
            continue;
        }
        if !first {
            update(b"&");
        }
        first = false;
        update(name.as_bytes());
        update(b"=");
        update(value.as_bytes());
    }
    update(if first { b"key=" } else { b"&key=" });
    update(key.as_bytes());
}

/// Signs parameters that are already sorted by name in byte order (as [`crate::Fields`] keeps
/// them). Empty values and `sign` are skipped; `sign_type`, when present, is signed like any
/// other parameter.
///
/// ```
/// use cashier_adapters::{sign_sorted, ApiKey, SignType};
/// // K1, the official example (wechatpay-v2.md §1.2).
/// let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap();
/// let pairs = [("appid", "wxd930ea5d5a258f4f"), ("body", "test"), ("device_info", "1000"),
///              ("mch_id", "10000100"), ("nonce_str", "ibuaiVcKdpRxkhJA")];
/// assert_eq!(sign_sorted(SignType::Md5, &key, pairs).as_str(), "9A0A8659F005D6984697E2CA0A9CF3B7");
/// ```
pub fn sign_sorted<'a>(
    sign_type: SignType,
    key: &ApiKey,
    sorted_pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Signature {
    let mut signature = Signature {
        hex: [0; 64],
        len: 0,
    };
    match sign_type {
        SignType::Md5 => {
            let mut hasher = Md5::new();
            stream_canonical(sorted_pairs, key.expose(), |bytes| hasher.update(bytes));
            write_upper_hex(&hasher.finalize(), &mut signature.hex);
            signature.len = 32;
        }
        SignType::HmacSha256 => {
            let mut mac = key.hmac();
            stream_canonical(sorted_pairs, key.expose(), |bytes| mac.update(bytes));
            write_upper_hex(&mac.finalize().into_bytes(), &mut signature.hex);
            signature.len = 64;
        }
    }
    signature
}

/// Signs a canonical string given as pieces (`a=1`, `&b=2`, ...) that already carry their
/// separators; `&key=KEY` is appended. [`crate::Fields`] stores its fields in this form.
pub(crate) fn sign_pieces<'a>(
    sign_type: SignType,
    key: &ApiKey,
    pieces: impl Iterator<Item = &'a str>,
) -> Signature {
    let mut signature = Signature {
        hex: [0; 64],
        len: 0,
    };
    let mut any = false;
    match sign_type {
        SignType::Md5 => {
            let mut hasher = Md5::new();
            for piece in pieces {
                any = true;
                hasher.update(piece.as_bytes());
            }
            let suffix = key.sign_suffix();
            hasher.update(if any {
                suffix
            } else {
                suffix.get(1..).unwrap_or_default()
            });
            write_upper_hex(&hasher.finalize(), &mut signature.hex);
            signature.len = 32;
        }
        SignType::HmacSha256 => {
            let mut mac = key.hmac();
            for piece in pieces {
                any = true;
                mac.update(piece.as_bytes());
            }
            let suffix = key.sign_suffix().as_bytes();
            mac.update(if any {
                suffix
            } else {
                suffix.get(1..).unwrap_or_default()
            });
            write_upper_hex(&mac.finalize().into_bytes(), &mut signature.hex);
            signature.len = 64;
        }
    }
    signature
}

/// Signs a complete canonical string (suffix `&key=KEY` included) given as one slice.
pub(crate) fn sign_contiguous(sign_type: SignType, key: &ApiKey, canonical: &[u8]) -> Signature {
    let mut signature = Signature {
        hex: [0; 64],
        len: 0,
    };
    match sign_type {
        SignType::Md5 => {
            write_upper_hex(&Md5::digest(canonical), &mut signature.hex);
            signature.len = 32;
        }
        SignType::HmacSha256 => {
            let mut mac = key.hmac();
            mac.update(canonical);
            write_upper_hex(&mac.finalize().into_bytes(), &mut signature.hex);
            signature.len = 64;
        }
    }
    signature
}

/// Signs parameters in any order: sorts the slice in place (no allocation), then signs.
pub fn sign_pairs(sign_type: SignType, key: &ApiKey, pairs: &mut [(&str, &str)]) -> Signature {
    pairs.sort_unstable_by(|left, right| left.0.as_bytes().cmp(right.0.as_bytes()));
    sign_sorted(sign_type, key, pairs.iter().copied())
}

/// Signs an explicit canonical string (without the `&key=` suffix, which is appended here).
/// Diagnostics use it to reproduce other implementations' mistakes, such as signing empty
/// values; protocol code always uses [`sign_sorted`].
pub fn sign_canonical_text(
    sign_type: SignType,
    key: &ApiKey,
    canonical_without_key: &str,
) -> Signature {
    let mut signature = Signature {
        hex: [0; 64],
        len: 0,
    };
    let prefix: &[u8] = if canonical_without_key.is_empty() {
        b"key="
    } else {
        b"&key="
    };
    let parts = [
        canonical_without_key.as_bytes(),
        prefix,
        key.expose().as_bytes(),
    ];
    match sign_type {
        SignType::Md5 => {
            let mut hasher = Md5::new();
            parts.iter().for_each(|part| hasher.update(part));
            write_upper_hex(&hasher.finalize(), &mut signature.hex);
            signature.len = 32;
        }
        SignType::HmacSha256 => {
            let mut mac = key.hmac();
            parts.iter().for_each(|part| mac.update(part));
            write_upper_hex(&mac.finalize().into_bytes(), &mut signature.hex);
            signature.len = 64;
        }
    }
    signature
}

/// The canonical string with the key masked, for diagnostics (`cashier sign`). Never log the
/// unmasked form: it contains the key.
pub fn canonical_string_masked<'a>(
    sorted_pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    key: &ApiKey,
) -> String {
    let mut canonical = Vec::new();
    stream_canonical(sorted_pairs, &key.masked(), |bytes| {
        canonical.extend_from_slice(bytes)
    });
    String::from_utf8_lossy(&canonical).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ApiKey {
        ApiKey::new_for_diagnostics(text)
    }

    #[test]
    fn empty_parameter_set_signs_key_alone() {
        // With nothing to sign the string is `key=KEY`, never `&key=KEY`.
        let signed = sign_sorted(SignType::Md5, &key("k"), []);
        let expected = format!("{:X}", Md5::digest(b"key=k"));
        assert_eq!(signed.as_str(), expected);
    }

    #[test]
    fn explicit_canonical_text_signs_like_the_streamed_form() {
        let pairs = [("a", "1"), ("b", "2")];
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            assert_eq!(
                sign_canonical_text(sign_type, &key("k"), "a=1&b=2"),
                sign_sorted(sign_type, &key("k"), pairs)
            );
        }
    }

    #[test]
    fn signature_comparison_requires_exact_upper_case() {
        let signed = sign_sorted(SignType::Md5, &key("k"), [("a", "1")]);
        assert!(signed.matches(signed.as_str()));
        assert!(!signed.matches(&signed.as_str().to_lowercase()));
        assert!(!signed.matches(&signed.as_str()[..31]));
    }
}
