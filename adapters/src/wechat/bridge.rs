//! The web-view bridge: the H5 order pages run inside the mini program's `<web-view>`, but only
//! the mini program itself may call `wx.requestPayment`. The H5 page therefore calls
//! `wx.miniProgram.navigateTo({url})` with a mini program page path whose query carries the pay
//! parameters, each encoded like JavaScript's `encodeURIComponent`. The page
//! (`miniprogram/pages/pay/pay.js`) decodes them and pays.
//!
//! Decoding is idempotent for every value this module encodes (none holds a `%` after one
//! decoding), so the page may decode whether or not the mini program framework already did.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::wechat::client_params::JsapiPayParams;

/// The characters `encodeURIComponent` leaves alone: letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Encodes like JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(text: &str) -> String {
    utf8_percent_encode(text, URI_COMPONENT).to_string()
}

/// The query parameter names, in the order they are written.
pub const BRIDGE_PARAMETERS: [&str; 6] = [
    "appId",
    "timeStamp",
    "nonceStr",
    "package",
    "signType",
    "paySign",
];

/// Why a bridge URL could not be built or read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    /// The page path must be absolute (`/pages/pay/pay`) and carry no query of its own.
    #[error("mini program page path must start with '/' and have no '?': {path:?}")]
    PagePath {
        /// The rejected path.
        path: String,
    },
    /// A parameter is missing from the query.
    #[error("bridge query lacks {name}")]
    Missing {
        /// The parameter.
        name: &'static str,
    },
    /// A parameter is not valid percent-encoded UTF-8.
    #[error("bridge query parameter {name} is not valid UTF-8 once decoded")]
    Encoding {
        /// The parameter.
        name: &'static str,
    },
}

/// Builds the mini program page URL for `wx.miniProgram.navigateTo`.
///
/// ```
/// use cashier_adapters::{bridge, client_params::JsapiPayParams, ApiKey, SignType};
/// let key = ApiKey::new("qazwsxedcrfvtgbyhnujmikolp111111").unwrap();
/// let params = JsapiPayParams::sign("wxd678efh567hg6787", "1490840662",
///     "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "wx2017033010242291fcfe0db70013231072", SignType::Md5, &key);
/// let url = bridge::mini_program_pay_url("/pages/pay/pay", &params).unwrap();
/// assert!(url.starts_with("/pages/pay/pay?appId=wxd678efh567hg6787&timeStamp=1490840662&"));
/// assert!(url.contains("&package=prepay_id%3Dwx2017033010242291fcfe0db70013231072&"));
/// assert_eq!(bridge::parse_mini_program_pay_query(url.split_once('?').unwrap().1).unwrap(), params);
/// ```
pub fn mini_program_pay_url(
    page_path: &str,
    params: &JsapiPayParams,
) -> Result<String, BridgeError> {
    if !page_path.starts_with('/') || page_path.contains('?') || page_path.contains('#') {
        return Err(BridgeError::PagePath {
            path: page_path.to_owned(),
        });
    }
    let values = [
        &params.app_id,
        &params.time_stamp,
        &params.nonce_str,
        &params.package,
        &params.sign_type,
        &params.pay_sign,
    ];
    let query: Vec<String> = BRIDGE_PARAMETERS
        .iter()
        .zip(values)
        .map(|(name, value)| format!("{name}={}", encode_uri_component(value)))
        .collect();
    Ok(format!("{page_path}?{}", query.join("&")))
}

/// The `type` value of a 医保 jump (the seed's pay page pays with `wx.requestPayment` for
/// `type` 1 or absent, and jumps to the 医保 pay mini program for anything else).
pub const MEDICAL_JUMP_TYPE: &str = "2";

/// Builds the mini program page URL that jumps to the 医保 pay mini program: `type=2`, `appid`
/// (payinsurance's `pay_appid`) and `payUrl` (its `pay_url`), each encoded like
/// `encodeURIComponent`; the page calls `wx.navigateToMiniProgram({appId, path: payUrl})`.
///
/// ```
/// use cashier_adapters::bridge;
/// let url = bridge::medical_pay_url("/pages/pay/pay", "wxe1022cca111d18be",
///     "pages/pay/index?medTransId=MED1").unwrap();
/// assert_eq!(url, "/pages/pay/pay?type=2&appid=wxe1022cca111d18be&payUrl=pages%2Fpay%2Findex%3FmedTransId%3DMED1");
/// assert_eq!(bridge::parse_medical_pay_query(url.split_once('?').unwrap().1).unwrap(),
///     ("wxe1022cca111d18be".to_owned(), "pages/pay/index?medTransId=MED1".to_owned()));
/// ```
pub fn medical_pay_url(
    page_path: &str,
    pay_appid: &str,
    pay_url: &str,
) -> Result<String, BridgeError> {
    if !page_path.starts_with('/') || page_path.contains('?') || page_path.contains('#') {
        return Err(BridgeError::PagePath {
            path: page_path.to_owned(),
        });
    }
    Ok(format!(
        "{page_path}?type={MEDICAL_JUMP_TYPE}&appid={}&payUrl={}",
        encode_uri_component(pay_appid),
        encode_uri_component(pay_url)
    ))
}

/// One value of a bridge query string, decoded once (as the page's `decodeOnce` does).
fn query_value(query: &str, name: &'static str) -> Result<String, BridgeError> {
    let raw = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .ok_or(BridgeError::Missing { name })?;
    percent_decode_str(raw)
        .decode_utf8()
        .map(|value| value.into_owned())
        .map_err(|_| BridgeError::Encoding { name })
}

/// Reads a 医保 jump back (`appid`, `payUrl`), decoding each value once, as the page does.
pub fn parse_medical_pay_query(query: &str) -> Result<(String, String), BridgeError> {
    let lookup = |name: &'static str| query_value(query, name);
    Ok((lookup("appid")?, lookup("payUrl")?))
}

/// Reads the pay parameters back from a bridge query string (the part after `?`), decoding each
/// value once, exactly as the page's JavaScript does.
pub fn parse_mini_program_pay_query(query: &str) -> Result<JsapiPayParams, BridgeError> {
    let lookup = |name: &'static str| query_value(query, name);
    Ok(JsapiPayParams {
        app_id: lookup("appId")?,
        time_stamp: lookup("timeStamp")?,
        nonce_str: lookup("nonceStr")?,
        package: lookup("package")?,
        sign_type: lookup("signType")?,
        pay_sign: lookup("paySign")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_encode_uri_component() {
        assert_eq!(
            encode_uri_component("a b=c&d/é-_.!~*'()"),
            "a%20b%3Dc%26d%2F%C3%A9-_.!~*'()"
        );
    }

    #[test]
    fn page_path_must_be_absolute_without_query() {
        let params = JsapiPayParams {
            app_id: String::new(),
            time_stamp: String::new(),
            nonce_str: String::new(),
            package: String::new(),
            sign_type: String::new(),
            pay_sign: String::new(),
        };
        assert!(mini_program_pay_url("pages/pay", &params).is_err());
        assert!(mini_program_pay_url("/pages/pay?x=1", &params).is_err());
    }
}
