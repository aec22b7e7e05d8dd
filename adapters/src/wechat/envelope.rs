//! What every signed v2 exchange shares: adding identity, nonce and `sign` to a request, and
//! checking a reply in the documented order (§2.1, §3): HTTP status, XML, `return_code`, `sign`,
//! identity echo, `result_code`.

use crate::ids::Nonce;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::error::{Api, ErrCode, RequestError, WechatError};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::{ApiBase, MerchantContext};
use crate::wechat::xml;

/// The `Content-Type` SDKs send (§0).
pub const CONTENT_TYPE_XML: &str = "text/xml; charset=utf-8";

/// Completes and signs `fields` as a request to `endpoint_path`.
pub fn build_signed_request(
    base: &ApiBase,
    endpoint_path: &str,
    mut fields: Fields,
    merchant: &MerchantContext,
    nonce: &Nonce,
    needs_client_certificate: bool,
) -> Result<HttpRequest, RequestError> {
    merchant.add_identity(&mut fields);
    fields.insert("nonce_str", nonce.as_str());
    fields.sign_in_place(merchant.sign_type, &merchant.key);
    xml_post(base, endpoint_path, &fields, needs_client_certificate)
}

/// Wraps already complete fields as a POST.
pub(crate) fn xml_post(
    base: &ApiBase,
    endpoint_path: &str,
    fields: &Fields,
    needs_client_certificate: bool,
) -> Result<HttpRequest, RequestError> {
    let body = xml::write(fields)?;
    Ok(HttpRequest {
        method: "POST",
        url: base.url(endpoint_path),
        path: base.path(endpoint_path),
        headers: vec![("Content-Type", CONTENT_TYPE_XML.to_owned())],
        body: body.into_bytes(),
        needs_client_certificate,
    })
}

/// Checks the HTTP status and reads the XML body.
pub fn read_reply(response: &HttpResponse) -> Result<Fields, WechatError> {
    if response.status != 200 {
        return Err(WechatError::HttpStatus {
            status: response.status,
        });
    }
    xml::read(&response.body).map_err(WechatError::MalformedReply)
}

/// Fails with [`WechatError::Protocol`] on `return_code=FAIL` (using the sandbox's
/// `retmsg` when `return_msg` is absent, §3).
pub fn check_return_code(fields: &Fields) -> Result<(), WechatError> {
    match fields.get_nonempty("return_code") {
        Some("SUCCESS") => Ok(()),
        _ => Err(WechatError::Protocol {
            return_msg: fields
                .get_nonempty("return_msg")
                .or_else(|| fields.get_nonempty("retmsg"))
                .unwrap_or("return_code is not SUCCESS")
                .to_owned(),
        }),
    }
}

/// Checks a signed reply: protocol result, signature (required on every `return_code=SUCCESS`
/// reply, business failures included), identity echo, then business result.
pub fn check_signed_reply(
    api: Api,
    fields: Fields,
    merchant: &MerchantContext,
) -> Result<Fields, WechatError> {
    check_return_code(&fields)?;
    fields
        .verify(merchant.sign_type, &merchant.key)
        .map_err(WechatError::Signature)?;
    merchant.check_identity(&fields)?;
    check_result_code(api, &fields)?;
    Ok(fields)
}

/// Fails with [`WechatError::Business`] on `result_code=FAIL`.
pub fn check_result_code(api: Api, fields: &Fields) -> Result<(), WechatError> {
    match fields.get_nonempty("result_code") {
        Some("SUCCESS") => Ok(()),
        _ => Err(WechatError::Business {
            api,
            err_code: ErrCode::parse(fields.get_nonempty("err_code").unwrap_or("")),
            err_code_des: fields.get("err_code_des").unwrap_or("").to_owned(),
        }),
    }
}
