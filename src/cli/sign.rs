//! `cashier sign`: the signature diagnostic (wechatpay-v2.md §1, §10). It prints the canonical
//! string (key masked), both signatures, whether a received `sign` matches and under which sign
//! type, and the usual causes of 签名错误 it can see: whitespace around values, a key that is not
//! 32 bytes, an empty value included, `sign_type` left out, text that is not UTF-8. For a
//! mismatch it re-signs the common mistaken variants and says which one reproduces the sign.
//!
//! Exit status: 0 on a match (or when there is no `sign` to check), 1 on a mismatch, 2 on bad
//! input.

use cashier_adapters::secret::API_KEY_LEN;
use cashier_adapters::wechat::sign::{canonical_string_masked, is_signed_parameter};
use cashier_adapters::{sign_canonical_text, xml, ApiKey, Fields, SignType};

use crate::cli::CommandOutput;

/// The official example (wechatpay-v2.md §1.2 K1), used by `cashier sign --example`.
pub const EXAMPLE_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// The official example's parameters with its MD5 sign.
pub const EXAMPLE_PARAMETERS: [&str; 6] = [
    "appid=wxd930ea5d5a258f4f",
    "mch_id=10000100",
    "device_info=1000",
    "body=test",
    "nonce_str=ibuaiVcKdpRxkhJA",
    "sign=9A0A8659F005D6984697E2CA0A9CF3B7",
];

/// What to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignInput {
    /// The bytes of an XML message (a file or standard input).
    Xml(Vec<u8>),
    /// `name=value` arguments; `None` marks an argument that was not valid UTF-8.
    Pairs(Vec<Option<String>>),
}

fn bad_input(message: &str) -> CommandOutput {
    CommandOutput {
        stdout: format!("error: {message}\n"),
        exit_code: 2,
    }
}

fn read_fields(input: SignInput) -> Result<Fields, String> {
    match input {
        SignInput::Xml(bytes) => xml::read(&bytes).map_err(|error| match error {
            xml::XmlError::NotUtf8 { valid_up_to } => format!(
                "the XML is not UTF-8 (first bad byte at offset {valid_up_to}); WeChat signs the UTF-8 bytes, \
                 and text saved as GBK is a classic cause of 签名错误"
            ),
            other => format!("the XML cannot be read: {other}"),
        }),
        SignInput::Pairs(arguments) => {
            let mut fields = Fields::new();
            for argument in arguments {
                let argument = argument.ok_or(
                    "an argument is not UTF-8; WeChat signs the UTF-8 bytes, and GBK text is a classic cause of 签名错误",
                )?;
                let (name, value) = argument
                    .split_once('=')
                    .ok_or_else(|| format!("{argument:?} is not name=value"))?;
                if name.is_empty() {
                    return Err(format!("{argument:?} has an empty name"));
                }
                if fields.insert(name, value).is_some() {
                    return Err(format!("{name} is given twice"));
                }
            }
            if fields.is_empty() {
                return Err("nothing to sign: give an XML file, - for standard input, or name=value pairs".into());
            }
            Ok(fields)
        }
    }
}

/// A canonical string built with a deliberate variation, to reproduce a mistaken signer.
fn variant_canonical(
    fields: &Fields,
    keep: impl Fn(&str, &str) -> bool,
    map_value: impl Fn(&str) -> String,
) -> String {
    fields
        .iter()
        .filter(|(name, value)| keep(name, value))
        .map(|(name, value)| format!("{name}={}", map_value(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Runs the diagnostic.
///
/// ```
/// use cashier::cli::sign::{run, SignInput, EXAMPLE_KEY, EXAMPLE_PARAMETERS};
/// let pairs = EXAMPLE_PARAMETERS.iter().map(|p| Some(p.to_string())).collect();
/// let output = run(EXAMPLE_KEY, SignInput::Pairs(pairs));
/// assert_eq!(output.exit_code, 0);
/// assert!(output.stdout.contains("MD5: 9A0A8659F005D6984697E2CA0A9CF3B7"));
/// ```
pub fn run(key_text: &str, input: SignInput) -> CommandOutput {
    if key_text.is_empty() {
        return bad_input("--key is empty");
    }
    let fields = match read_fields(input) {
        Ok(fields) => fields,
        Err(message) => return bad_input(&message),
    };
    let key = ApiKey::new_for_diagnostics(key_text);
    let mut out = String::new();
    let mut hints = Vec::new();
    out.push_str(&format!(
        "canonical: {}\n",
        canonical_string_masked(fields.iter(), &key)
    ));
    let md5 = fields.sign(SignType::Md5, &key);
    let hmac = fields.sign(SignType::HmacSha256, &key);
    out.push_str(&format!("MD5: {md5}\nHMAC-SHA256: {hmac}\n"));

    if key_text.len() != API_KEY_LEN {
        hints.push(format!(
            "the key is {} bytes; APIv2 keys are exactly {API_KEY_LEN} bytes (a character lost or added in copy and paste?)",
            key_text.len()
        ));
    }
    if key_text.trim() != key_text {
        hints.push("the key has leading or trailing whitespace".to_owned());
    }
    for (name, value) in fields.iter() {
        if !value.is_empty() && value.trim() != value {
            hints.push(format!(
                "{name} has whitespace around its value; the official Java SDK trims values before signing and \
                 wechatpy does not, so send trimmed values"
            ));
        }
    }
    let empty_names: Vec<&str> = fields
        .iter()
        .filter(|(name, value)| value.is_empty() && *name != "sign")
        .map(|(name, _)| name)
        .collect();
    if !empty_names.is_empty() {
        hints.push(format!(
            "empty values are left out of the signature ({}); a signer that includes them as `name=` gets 签名错误",
            empty_names.join(", ")
        ));
    }
    let declared = fields.get_nonempty("sign_type");
    if let Some(text) = declared {
        if SignType::parse(text).is_none() {
            hints.push(format!("sign_type {text:?} is neither MD5 nor HMAC-SHA256"));
        }
    }

    let exit_code = match fields.get_nonempty("sign") {
        None => {
            out.push_str("sign: none given, nothing to compare\n");
            0
        }
        Some(received) => {
            let matched = [SignType::Md5, SignType::HmacSha256]
                .into_iter()
                .find(|sign_type| fields.sign(*sign_type, &key).matches(received));
            match matched {
                Some(sign_type) => {
                    out.push_str(&format!("sign: matches {sign_type}\n"));
                    let declared_type = declared.and_then(SignType::parse);
                    if declared_type.is_some_and(|declared_type| declared_type != sign_type) {
                        hints.push(format!(
                            "the sign is {sign_type} but sign_type says {}",
                            declared.unwrap_or("")
                        ));
                    }
                    if declared.is_none() && sign_type == SignType::HmacSha256 {
                        hints.push(
                            "HMAC-SHA256 sign without sign_type: notifications of HMAC orders omit sign_type, \
                             so verify them with the order's sign type, not MD5"
                                .to_owned(),
                        );
                    }
                    0
                }
                None => {
                    out.push_str(&format!(
                        "sign: {received} does not match MD5 or HMAC-SHA256\n"
                    ));
                    explain_mismatch(&fields, &key, received, &mut hints);
                    1
                }
            }
        }
    };
    for hint in hints {
        out.push_str(&format!("hint: {hint}\n"));
    }
    CommandOutput {
        stdout: out,
        exit_code,
    }
}

/// Re-signs the usual mistaken variants and reports any that reproduces the received sign.
fn explain_mismatch(fields: &Fields, key: &ApiKey, received: &str, hints: &mut Vec<String>) {
    if received.len() == 32 || received.len() == 64 {
        if received.bytes().any(|byte| byte.is_ascii_lowercase()) {
            let upper = received.to_ascii_uppercase();
            if [SignType::Md5, SignType::HmacSha256]
                .iter()
                .any(|sign_type| fields.sign(*sign_type, key).matches(&upper))
            {
                hints.push(
                    "the sign matches once upper-cased: WeChat compares upper-case hex".to_owned(),
                );
                return;
            }
        }
    } else {
        hints.push(format!(
            "the sign is {} characters; MD5 signs are 32 and HMAC-SHA256 signs 64 hex characters",
            received.len()
        ));
    }
    let variants: [(&str, String); 3] = [
        (
            "the sign was made with empty values included (`name=`); they must be left out",
            variant_canonical(fields, |name, _| name != "sign", str::to_owned),
        ),
        (
            "the sign was made without sign_type in the string; sign_type must be signed when it is sent",
            variant_canonical(fields, |name, value| is_signed_parameter(name, value) && name != "sign_type", str::to_owned),
        ),
        (
            "the sign was made over trimmed values; the values sent have whitespace around them",
            variant_canonical(fields, |name, value| is_signed_parameter(name, value.trim()), |value| value.trim().to_owned()),
        ),
    ];
    for (explanation, canonical) in variants {
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            if sign_canonical_text(sign_type, key, &canonical).matches(received) {
                hints.push(format!("{explanation} ({sign_type})"));
                return;
            }
        }
    }
    hints.push(
        "no common variant reproduces the sign: check that the key is this merchant's APIv2 key (the most common \
         cause), or the sandbox key for sandbox calls"
            .to_owned(),
    );
}
