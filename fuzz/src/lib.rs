//! What the fuzz targets share: the simulated world's direct merchant, as notifications are
//! verified against it, and the reading of an input as an HTTP-like request.

use cashier_adapters::{ApiKey, AppId, MchId, MerchantContext, SignType};

/// Merchant 10000100 (MD5, its test key) under `appid`.
pub fn merchant(appid: &str) -> Option<MerchantContext> {
    Some(MerchantContext::direct(
        AppId::new(appid).ok()?,
        MchId::new("10000100").ok()?,
        SignType::Md5,
        ApiKey::new("192006250b4c09247ec02edce69f6a2d").ok()?,
    ))
}

/// An input read as a request: a first line `METHOD target`, header lines `name: value` up to an
/// empty line, then the body. Seeds are written in this shape, so libFuzzer mutates methods,
/// paths, queries, headers and bodies alike.
pub struct FuzzRequest {
    /// The method (`POST` when the first line has no space).
    pub method: String,
    /// The target: path and query.
    pub target: String,
    /// The headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The rest of the input.
    pub body: Vec<u8>,
}

/// Splits `data` as [`FuzzRequest`] describes.
pub fn request(data: &[u8]) -> FuzzRequest {
    let mut rest = data;
    let mut line = || {
        let end = rest.iter().position(|byte| *byte == b'\n').unwrap_or(rest.len());
        let text = String::from_utf8_lossy(&rest[..end]).trim_end_matches('\r').to_owned();
        rest = rest.get(end + 1..).unwrap_or(&[]);
        text
    };
    let first = line();
    let (method, target) = match first.split_once(' ') {
        Some((method, target)) => (method.to_owned(), target.to_owned()),
        None => ("POST".to_owned(), first),
    };
    let mut headers = Vec::new();
    loop {
        let header = line();
        match header.split_once(':') {
            Some((name, value)) if !header.is_empty() => {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            }
            _ => break,
        }
    }
    FuzzRequest { method, target, headers, body: rest.to_vec() }
}
