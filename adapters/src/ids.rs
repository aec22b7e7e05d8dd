//! Validated identifier newtypes: each one checks WeChat's documented length and charset once,
//! on construction, so the rest of the code can take them as given (wechatpy-v2 reference §2).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text is not a valid identifier of some kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Too short or too long.
    #[error("{kind} must be {min_len} to {max_len} characters, got {actual_len}: {text:?}")]
    Length {
        /// Which identifier.
        kind: &'static str,
        /// The minimum length in characters.
        min_len: usize,
        /// The maximum length in characters.
        max_len: usize,
        /// The length found.
        actual_len: usize,
        /// The rejected text.
        text: String,
    },
    /// Holds a character outside the allowed set.
    #[error("{kind} may only contain {allowed}, got {text:?}")]
    Charset {
        /// Which identifier.
        kind: &'static str,
        /// The allowed characters, in words.
        allowed: &'static str,
        /// The rejected text.
        text: String,
    },
}

fn check(
    kind: &'static str,
    text: &str,
    min_len: usize,
    max_len: usize,
    allowed: &'static str,
    is_allowed: fn(u8) -> bool,
) -> Result<(), IdError> {
    // Every allowed charset is ASCII, so byte length equals character length once the charset
    // check passes; the charset is checked first so a CJK text reports the charset problem.
    if !text.bytes().all(is_allowed) {
        return Err(IdError::Charset {
            kind,
            allowed,
            text: text.to_owned(),
        });
    }
    if text.len() < min_len || text.len() > max_len {
        return Err(IdError::Length {
            kind,
            min_len,
            max_len,
            actual_len: text.len(),
            text: text.to_owned(),
        });
    }
    Ok(())
}

fn is_alphanumeric(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

fn is_alphanumeric_or_underscore_dash(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn is_digit(byte: u8) -> bool {
    byte.is_ascii_digit()
}

/// `out_trade_no` charset: "数字、大小写字母_-|*" (unifiedorder parameter table).
fn is_out_trade_no_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'|' | b'*')
}

/// `out_refund_no` charset adds `@` to the `out_trade_no` set (refund parameter table).
fn is_out_refund_no_byte(byte: u8) -> bool {
    is_out_trade_no_byte(byte) || byte == b'@'
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $min:expr, $max:expr, $allowed:literal, $predicate:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The minimum length in characters.
            pub const MIN_LEN: usize = $min;
            /// The maximum length in characters.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps the text.
            pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                check($kind, &text, $min, $max, $allowed, $predicate)?;
                Ok($name(text))
            }

            /// Wraps text the caller built to satisfy the rules by construction.
            #[allow(dead_code)]
            pub(crate) fn from_trusted(text: String) -> Self {
                debug_assert!(check($kind, &text, $min, $max, $allowed, $predicate).is_ok());
                $name(text)
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                $name::new(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

identifier!(
    /// An application id (`appid`, `sub_appid`): official account, mini program or APP.
    AppId, "appid", 1, 32, "ASCII letters, digits, '_' and '-'", is_alphanumeric_or_underscore_dash
);
identifier!(
    /// A merchant id (`mch_id`, `sub_mch_id`): digits only.
    MchId, "mch_id", 1, 32, "ASCII digits", is_digit
);
identifier!(
    /// The merchant's order number for one payment attempt (`out_trade_no`): 6 to 32 characters
    /// of `[0-9A-Za-z_-|*]`, unique per merchant.
    OutTradeNo, "out_trade_no", 6, 32, "ASCII letters, digits, '_', '-', '|' and '*'", is_out_trade_no_byte
);
identifier!(
    /// The merchant's refund number (`out_refund_no`): up to 64 characters of
    /// `[0-9A-Za-z_-|*@]`; the same number always means the same refund.
    OutRefundNo, "out_refund_no", 1, 64, "ASCII letters, digits, '_', '-', '|', '*' and '@'", is_out_refund_no_byte
);
identifier!(
    /// WeChat's payment id (`transaction_id`).
    TransactionId, "transaction_id", 1, 32, "ASCII letters and digits", is_alphanumeric
);
identifier!(
    /// WeChat's refund id (`refund_id`).
    RefundId, "refund_id", 1, 32, "ASCII letters and digits", is_alphanumeric
);
identifier!(
    /// A payer's id under one app (`openid`, `sub_openid`).
    OpenId, "openid", 1, 128, "ASCII letters, digits, '_' and '-'", is_alphanumeric_or_underscore_dash
);
identifier!(
    /// The prepayment id returned by unifiedorder, valid for two hours.
    PrepayId, "prepay_id", 1, 64, "ASCII letters, digits, '_' and '-'", is_alphanumeric_or_underscore_dash
);
identifier!(
    /// A random nonce (`nonce_str`, `nonceStr`): at most 32 letters and digits.
    Nonce, "nonce_str", 1, 32, "ASCII letters and digits", is_alphanumeric
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_trade_no_allows_only_the_documented_charset_and_length() {
        assert!(OutTradeNo::new("20150806125346").is_ok());
        assert!(OutTradeNo::new("a_b-c|d*e").is_ok());
        assert!(OutTradeNo::new("x".repeat(32)).is_ok());
        assert!(matches!(
            OutTradeNo::new("x".repeat(33)),
            Err(IdError::Length { .. })
        ));
        assert!(matches!(
            OutTradeNo::new("12345"),
            Err(IdError::Length { .. })
        ));
        assert!(matches!(
            OutTradeNo::new("订单123456"),
            Err(IdError::Charset { .. })
        ));
        assert!(matches!(
            OutTradeNo::new("abc@12345"),
            Err(IdError::Charset { .. })
        ));
    }

    #[test]
    fn out_refund_no_also_allows_at_sign() {
        assert!(OutRefundNo::new("R@1").is_ok());
        assert!(OutRefundNo::new("r".repeat(64)).is_ok());
        assert!(OutRefundNo::new("r".repeat(65)).is_err());
    }

    #[test]
    fn mch_id_is_digits() {
        assert!(MchId::new("10000100").is_ok());
        assert!(MchId::new("1000a").is_err());
        assert!(MchId::new("").is_err());
    }
}
