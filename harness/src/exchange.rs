//! One request's trip through the simulator's front door, in WeChat's validation order
//! (wechatpay-v2.md §0–§3): method, body, XML, characters, common fields, merchant, sign type,
//! signature, sub-merchant and app bindings. Protocol failures come back unsigned
//! (`return_code=FAIL`); everything after a verified signature is answered signed.

use cashier_adapters::xml::{self, XmlError, XmlLimits};
use cashier_adapters::{ApiKey, Fields, SignType};

use crate::config::{MerchantConfig, SimConfig, SubMerchantConfig};
use crate::ledger::Scope;

/// The largest request body accepted (the longest legitimate one, a 6000-byte `detail`, is far
/// below it).
pub const MAX_REQUEST_BYTES: usize = 32 * 1024;

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// `return_code=FAIL` with this `return_msg`, unsigned.
    Protocol(String),
    /// `result_code=FAIL` with `err_code` and `err_code_des`, signed.
    Business(&'static str, String),
}

impl Rejection {
    /// A business rejection.
    pub fn business(code: &'static str, description: impl Into<String>) -> Rejection {
        Rejection::Business(code, description.into())
    }

    /// A protocol rejection.
    pub fn protocol(message: impl Into<String>) -> Rejection {
        Rejection::Protocol(message.into())
    }
}

/// A request that passed the front door.
pub struct Exchange<'a> {
    /// The endpoint name (`unifiedorder`, ...).
    pub endpoint: &'static str,
    /// True under `/sandboxnew`.
    pub sandbox: bool,
    /// The merchant (the service provider in SP mode).
    pub merchant: &'a MerchantConfig,
    /// The sub-merchant in SP mode.
    pub sub_merchant: Option<&'a SubMerchantConfig>,
    /// The sign type of the request, used for the reply.
    pub sign_type: SignType,
    /// The key that verified the request (the sandbox key in the sandbox).
    pub key: ApiKey,
    /// The request's fields.
    pub fields: Fields,
}

impl Exchange<'_> {
    /// The merchant world this request acts in.
    pub fn scope(&self) -> Scope {
        Scope {
            sandbox: self.sandbox,
            mch_id: self.merchant.mch_id.clone(),
            sub_mch_id: self
                .sub_merchant
                .map(|sub| sub.sub_mch_id.clone())
                .unwrap_or_default(),
        }
    }

    /// A request field, when present and not empty.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get_nonempty(name)
    }
}

/// Maps a path to (endpoint name, sandbox).
pub fn route(path: &str) -> Option<(&'static str, bool)> {
    let (sandbox, rest) = match path.strip_prefix("/sandboxnew") {
        Some(rest) => (true, rest),
        None => (false, path),
    };
    let endpoint = match rest {
        "/pay/unifiedorder" => "unifiedorder",
        "/pay/orderquery" => "orderquery",
        "/pay/closeorder" => "closeorder",
        "/secapi/pay/refund" => "refund",
        "/pay/refundquery" => "refundquery",
        "/pay/downloadbill" => "downloadbill",
        "/pay/getsignkey" if sandbox => "getsignkey",
        _ => return None,
    };
    Some((endpoint, sandbox))
}

/// Reads and checks the envelope of a request up to its signature; every rejection here is an
/// unsigned protocol failure. `sandbox_key` finds the merchant's sandbox key.
pub fn admit<'a>(
    config: &'a SimConfig,
    endpoint: &'static str,
    sandbox: bool,
    method: &str,
    body: &[u8],
    sandbox_key: impl Fn(&str) -> Option<String>,
) -> Result<Exchange<'a>, Rejection> {
    if method != "POST" {
        return Err(Rejection::protocol("请使用post方法"));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::protocol("post数据为空"));
    }
    let limits = XmlLimits {
        max_body_bytes: MAX_REQUEST_BYTES,
        ..XmlLimits::default()
    };
    let fields = xml::read_with_root(body, "xml", limits).map_err(|error| match error {
        XmlError::NotUtf8 { .. } => Rejection::protocol("编码格式有误，请使用UTF-8编码"),
        XmlError::TooLarge { .. } => Rejection::protocol("请求数据过大"),
        _ => Rejection::protocol("XML格式错误"),
    })?;
    if fields
        .iter()
        .any(|(_, value)| xml::has_four_byte_characters(value))
    {
        return Err(Rejection::protocol(
            "编码格式有误，请使用UTF-8编码（不支持4字节字符）",
        ));
    }
    let required: &[&str] = if endpoint == "getsignkey" {
        &["mch_id", "nonce_str", "sign"]
    } else {
        &["appid", "mch_id", "nonce_str", "sign"]
    };
    if required.iter().any(|name| !fields.contains(name)) {
        return Err(Rejection::protocol("缺少参数"));
    }
    if fields
        .get("nonce_str")
        .is_some_and(|nonce| nonce.len() > 32)
    {
        return Err(Rejection::protocol("nonce_str参数长度有误"));
    }
    let mch_id = fields.get("mch_id").unwrap_or("");
    let merchant = config
        .merchant(mch_id)
        .ok_or_else(|| Rejection::protocol("mch_id参数格式错误或商户号不存在"))?;
    let sign_type = match fields.get_nonempty("sign_type") {
        None => SignType::Md5,
        Some(text) => {
            SignType::parse(text).ok_or_else(|| Rejection::protocol("sign_type参数格式错误"))?
        }
    };
    let key = if sandbox && endpoint != "getsignkey" {
        if sign_type != SignType::Md5 {
            return Err(Rejection::protocol("沙箱环境仅支持MD5签名"));
        }
        let text = sandbox_key(mch_id).ok_or_else(|| {
            Rejection::protocol(
                "沙箱验证签名失败，请确认沙箱签名key是否正确（通过getsignkey调用生成）",
            )
        })?;
        ApiKey::new_for_diagnostics(text)
    } else {
        if !merchant.accepts(sign_type) {
            return Err(Rejection::protocol("商户未开通该签名类型"));
        }
        merchant.api_key()
    };
    if fields.verify(sign_type, &key).is_err() {
        return Err(Rejection::protocol(
            if sandbox && endpoint != "getsignkey" {
                "沙箱验证签名失败，请确认沙箱签名key是否正确（通过getsignkey调用生成）"
            } else {
                "签名错误"
            },
        ));
    }
    let exchange = Exchange {
        endpoint,
        sandbox,
        merchant,
        sub_merchant: None,
        sign_type,
        key,
        fields,
    };
    Ok(exchange)
}

/// Checks sub-merchant and app bindings. It runs after the signature verified, so its
/// rejections are business failures answered with a signed reply.
pub fn bind_identity(exchange: &mut Exchange<'_>) -> Result<(), Rejection> {
    if exchange.endpoint == "getsignkey" {
        return Ok(());
    }
    let merchant = exchange.merchant;
    if let Some(sub_mch_id) = exchange.fields.get_nonempty("sub_mch_id") {
        let sub = merchant.sub_merchant(sub_mch_id).ok_or_else(|| {
            Rejection::business(
                "MCHID_NOT_EXIST",
                "sub_mch_id不存在或不是该服务商的特约商户",
            )
        })?;
        exchange.sub_merchant = Some(sub);
    } else if exchange.fields.contains("sub_appid") {
        return Err(Rejection::business(
            "PARAM_ERROR",
            "sub_appid需与sub_mch_id同时传入",
        ));
    }
    let appid = exchange.fields.get("appid").unwrap_or("");
    if !merchant.owns_app(appid) {
        return Err(Rejection::business(
            "APPID_MCHID_NOT_MATCH",
            "appid和mch_id不匹配",
        ));
    }
    if let (Some(sub), Some(sub_appid)) = (
        exchange.sub_merchant,
        exchange.fields.get_nonempty("sub_appid"),
    ) {
        if !sub.owns_app(sub_appid) {
            return Err(Rejection::business(
                "APPID_MCHID_NOT_MATCH",
                "sub_appid和sub_mch_id不匹配",
            ));
        }
    }
    Ok(())
}

/// An unsigned protocol failure reply.
pub fn protocol_failure(return_msg: &str) -> Vec<u8> {
    let pairs = [("return_code", "FAIL"), ("return_msg", return_msg)];
    xml::write_with_root("xml", pairs)
        .unwrap_or_default()
        .into_bytes()
}

/// A signed reply: the envelope echo plus `business` fields (success) or the error code.
pub fn signed_reply(
    exchange: &Exchange<'_>,
    nonce: &str,
    outcome: Result<Fields, (&'static str, String)>,
) -> Vec<u8> {
    let mut fields = match &outcome {
        Ok(business) => business.clone(),
        Err(_) => Fields::with_capacity(12),
    };
    fields.insert("return_code", "SUCCESS");
    fields.insert("return_msg", "OK");
    fields.insert("appid", exchange.fields.get("appid").unwrap_or(""));
    fields.insert("mch_id", exchange.merchant.mch_id.as_str());
    if let Some(sub) = exchange.sub_merchant {
        fields.insert("sub_mch_id", sub.sub_mch_id.as_str());
    }
    fields.insert_optional("sub_appid", exchange.fields.get_nonempty("sub_appid"));
    fields.insert_optional("device_info", exchange.fields.get_nonempty("device_info"));
    fields.insert("nonce_str", nonce);
    match outcome {
        Ok(_) => {
            fields.insert("result_code", "SUCCESS");
        }
        Err((code, description)) => {
            fields.insert("result_code", "FAIL");
            fields.insert("err_code", code);
            fields.insert("err_code_des", description);
        }
    }
    fields.sign_in_place(exchange.sign_type, &exchange.key);
    xml::write(&fields).unwrap_or_default().into_bytes()
}
