//! Acknowledgements (wechatpay-v2.md §4): the exact bytes a merchant returns, and WeChat's rule
//! for judging them (HTTP 200 and `return_code` SUCCESS in a v2 XML body; plain `success`, JSON
//! or HTML count as failure and trigger re-delivery).

use crate::wechat::xml;

/// The success acknowledgement, byte for byte the compact form WeChat documents.
pub const ACK_SUCCESS: &[u8] =
    b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";

/// A failure acknowledgement with a reason; WeChat will deliver the notification again.
///
/// ```
/// use cashier_adapters::notify::ack::ack_failure;
/// assert_eq!(
///     ack_failure("签名失败"),
///     b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[\xe7\xad\xbe\xe5\x90\x8d\xe5\xa4\xb1\xe8\xb4\xa5]]></return_msg></xml>".to_vec()
/// );
/// ```
pub fn ack_failure(reason: &str) -> Vec<u8> {
    // Characters XML cannot carry are dropped from the reason rather than failing the ack.
    let reason: String = reason
        .chars()
        .filter(|character| xml::is_xml_char(*character))
        .collect();
    let pairs = [("return_code", "FAIL"), ("return_msg", reason.as_str())];
    match xml::write_with_root("xml", pairs) {
        Ok(text) => text.into_bytes(),
        Err(_) => b"<xml><return_code><![CDATA[FAIL]]></return_code></xml>".to_vec(),
    }
}

/// WeChat's judgement of a merchant's answer: true only for HTTP 200 with a v2 XML body whose
/// `return_code` is SUCCESS. (The 5-second deadline is the caller's to apply.)
pub fn is_acknowledged(status: u16, body: &[u8]) -> bool {
    status == 200
        && xml::read(body)
            .map(|fields| fields.get("return_code") == Some("SUCCESS"))
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_200_with_xml_success_counts_as_an_ack() {
        assert!(is_acknowledged(200, ACK_SUCCESS));
        assert!(is_acknowledged(
            200,
            b"<xml>\n <return_code>SUCCESS</return_code>\n <return_msg>OK</return_msg>\n</xml>"
        ));
        assert!(!is_acknowledged(201, ACK_SUCCESS));
        assert!(!is_acknowledged(200, b"success"));
        assert!(!is_acknowledged(200, b"{\"return_code\":\"SUCCESS\"}"));
        assert!(!is_acknowledged(200, &ack_failure("no")));
    }
}
