//! Validated text newtypes of the engine's records: entry names, descriptions, URLs, unionids,
//! idempotency keys and refund reasons. Each refuses what WeChat or the store would choke on,
//! at the edge, so no record holds an unchecked string.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {rule} (got {length} bytes)")]
pub struct TextError {
    /// Which kind of text.
    pub kind: &'static str,
    /// The rule it breaks.
    pub rule: &'static str,
    /// Its length in bytes.
    pub length: usize,
}

fn is_id_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn is_visible_ascii(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte)
}

fn check_entry_name(text: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&text.len()) && text.bytes().all(is_id_byte);
    ok.then_some(())
        .ok_or("1 to 64 ASCII letters, digits, '_' or '-'")
}

fn check_description(text: &str) -> Result<(), &'static str> {
    let ok = !text.trim().is_empty()
        && text.len() <= 128
        && text.trim() == text
        && !cashier_adapters::xml::has_four_byte_characters(text);
    ok.then_some(())
        .ok_or("1 to 128 bytes of 1-3-byte UTF-8 characters, no surrounding spaces")
}

fn check_notify_url(text: &str) -> Result<(), &'static str> {
    let absolute = text.starts_with("https://") || text.starts_with("http://");
    let ok =
        absolute && !text.contains('?') && text.len() <= 256 && text.bytes().all(is_visible_ascii);
    ok.then_some(())
        .ok_or("an absolute http(s) URL of at most 256 bytes without a query string")
}

fn check_client_link(text: &str) -> Result<(), &'static str> {
    let scheme = text.starts_with("https://") || text.starts_with("weixin://");
    let ok = scheme && text.len() <= 1024 && text.bytes().all(is_visible_ascii);
    ok.then_some(())
        .ok_or("an https:// or weixin:// link of at most 1024 visible ASCII bytes")
}

fn check_union_id(text: &str) -> Result<(), &'static str> {
    let ok = (1..=128).contains(&text.len()) && text.bytes().all(is_id_byte);
    ok.then_some(())
        .ok_or("1 to 128 ASCII letters, digits, '_' or '-'")
}

fn check_request_key(text: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&text.len()) && text.bytes().all(is_visible_ascii);
    ok.then_some(()).ok_or("1 to 64 visible ASCII characters")
}

fn check_refund_reason(text: &str) -> Result<(), &'static str> {
    // WeChat's refund_desc is String(80); surrounding spaces would break the sign (§10).
    let ok = text.len() <= 80
        && text.trim() == text
        && !cashier_adapters::xml::has_four_byte_characters(text);
    ok.then_some(())
        .ok_or("at most 80 bytes of 1-3-byte UTF-8 characters, no surrounding spaces")
}

fn check_medical_id(text: &str) -> Result<(), &'static str> {
    let ok = (1..=128).contains(&text.len()) && text.bytes().all(is_visible_ascii);
    ok.then_some(()).ok_or("1 to 128 visible ASCII characters")
}

fn check_medical_text(text: &str) -> Result<(), &'static str> {
    let ok = (1..=256).contains(&text.len())
        && text.trim() == text
        && !text.chars().any(char::is_control)
        && !cashier_adapters::xml::has_four_byte_characters(text);
    ok.then_some(())
        .ok_or("1 to 256 bytes of 1-3-byte UTF-8 characters, no controls, no surrounding spaces")
}

fn check_pay_url(text: &str) -> Result<(), &'static str> {
    let ok = (1..=1024).contains(&text.len()) && text.bytes().all(is_visible_ascii);
    ok.then_some(())
        .ok_or("1 to 1024 visible ASCII bytes (a mini program path or a URL)")
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps the text.
            pub fn new(text: impl Into<String>) -> Result<Self, TextError> {
                let text = text.into();
                match $check(&text) {
                    Ok(()) => Ok($name(text)),
                    Err(rule) => Err(TextError { kind: $kind, rule, length: text.len() }),
                }
            }

            /// The text.
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

        impl TryFrom<String> for $name {
            type Error = TextError;
            fn try_from(text: String) -> Result<Self, TextError> {
                $name::new(text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

text_type!(
    /// The name of a configured entry point (`official_account`, `mini_program`, ...).
    EntryName, "entry name", check_entry_name
);
text_type!(
    /// What is bought (WeChat `body`).
    Description, "description", check_description
);
text_type!(
    /// A notification URL or an H5 site URL.
    NotifyUrl, "URL", check_notify_url
);
text_type!(
    /// A link WeChat issued for the client: NATIVE `code_url` or MWEB `mweb_url`.
    ClientLink, "client link", check_client_link
);
text_type!(
    /// A payer's unionid: the same person across the apps of one WeChat Open Platform account.
    UnionId, "unionid", check_union_id
);
text_type!(
    /// The host's idempotency key for a money operation (its own refund number, a request id).
    RequestKey, "request key", check_request_key
);
text_type!(
    /// The refund reason shown to the payer (WeChat `refund_desc`).
    RefundReason, "refund reason", check_refund_reason
);
text_type!(
    /// An identifier of the 医保 side: `payAuthNo`, `payOrdId`, `payToken`, `med_trans_id`,
    /// `med_refund_id`, the payer's location and city, NHSA codes (visible ASCII, at most 128).
    MedicalId, "医保 id", check_medical_id
);
text_type!(
    /// Free text sent to the 医保 side (hospital name, fee item names, catalogue codes).
    MedicalText, "医保 text", check_medical_text
);
text_type!(
    /// Where the 医保 pay mini program (or the H5 pay page) is opened: `pay_url`.
    PayUrl, "pay_url", check_pay_url
);
