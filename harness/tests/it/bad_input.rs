//! Bad input gets WeChat's replies, never a crash (wechatpay-v2.md §0): wrong methods, empty and
//! huge bodies, garbage bytes, DOCTYPE, non-UTF-8, 4-byte characters, malformed fields.

use cashier_adapters::{xml, Fields, MerchantContext, SignType};

use crate::support::*;

/// Signs `fields` as `merchant` and POSTs them raw; returns the reply text.
pub async fn post_signed(
    world: &World,
    path: &str,
    mut fields: Fields,
    merchant: &MerchantContext,
) -> String {
    fields.insert("appid", merchant.appid.as_str());
    fields.insert("mch_id", merchant.mch_id.as_str());
    fields.insert("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS");
    fields.insert("sign_type", merchant.sign_type.as_str());
    fields.sign_in_place(merchant.sign_type, &merchant.key);
    post_raw(world, path, xml::write(&fields).unwrap().into_bytes())
        .await
        .1
}

pub async fn post_raw(world: &World, path: &str, body: Vec<u8>) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(world.url(path))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        String::from_utf8_lossy(&response.bytes().await.unwrap()).into_owned(),
    )
}

fn return_msg(text: &str) -> String {
    let fields = xml::read(text.as_bytes()).unwrap();
    assert_eq!(fields.get("return_code"), Some("FAIL"), "{text}");
    assert!(
        fields.get("sign").is_none(),
        "protocol failures are unsigned: {text}"
    );
    fields.get("return_msg").unwrap_or("").to_owned()
}

#[tokio::test]
async fn section_0_get_is_refused_with_require_post() {
    let world = World::start(30).await;
    let response = reqwest::Client::new()
        .get(world.url("/pay/unifiedorder"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        return_msg(&response.text().await.unwrap()),
        "请使用post方法"
    );
}

#[tokio::test]
async fn section_0_malformed_bodies_get_protocol_failures() {
    let world = World::start(31).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "post数据为空"),
        ("garbage", vec![0xde, 0xad, 0xbe, 0xef, b'<', 0], "编码格式有误，请使用UTF-8编码"),
        ("not xml", b"hello".to_vec(), "XML格式错误"),
        ("wrong root", b"<root><a>1</a></root>".to_vec(), "XML格式错误"),
        ("doctype", b"<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><appid>&x;</appid></xml>".to_vec(), "XML格式错误"),
        ("gbk", b"<xml><body>\xb2\xe2\xca\xd4</body></xml>".to_vec(), "编码格式有误，请使用UTF-8编码"),
        ("stray ]]> (XML 1.0 §2.4)", b"<xml><appid>wx]]>x</appid></xml>".to_vec(), "XML格式错误"),
        ("nested CDATA", b"<xml><appid><![CDATA[a<![CDATA[b]]>c]]></appid></xml>".to_vec(), "XML格式错误"),
        ("huge", format!("<xml><body>{}</body></xml>", "x".repeat(100_000)).into_bytes(), "请求数据过大"),
        ("missing fields", b"<xml><appid>wxd930ea5d5a258f4f</appid></xml>".to_vec(), "缺少参数"),
        ("unknown merchant", b"<xml><appid>a</appid><mch_id>999</mch_id><nonce_str>n</nonce_str><sign>S</sign></xml>".to_vec(), "mch_id参数格式错误或商户号不存在"),
        ("bad sign", b"<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><nonce_str>n</nonce_str><sign>S</sign></xml>".to_vec(), "签名错误"),
    ];
    for (name, body, expected) in cases {
        let (status, text) = post_raw(&world, "/pay/unifiedorder", body).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(return_msg(&text), expected, "{name}");
    }
    // Over a megabyte is refused before it is read in full.
    let (_, text) = post_raw(&world, "/pay/orderquery", vec![b' '; 2 * 1024 * 1024]).await;
    assert_eq!(return_msg(&text), "请求数据过大");
    // The server is still healthy afterwards.
    assert!(world
        .call(&direct(SignType::Md5), &jsapi("HEALTHY001", 1))
        .await
        .is_ok());
}

#[tokio::test]
async fn section_0_four_byte_characters_and_bad_field_formats_are_refused() {
    let world = World::start(32).await;
    let merchant = direct(SignType::Md5);
    let base = |overrides: &[(&str, &str)]| {
        let mut fields: Fields = [
            ("out_trade_no", "BADINPUT01"),
            ("body", "x"),
            ("total_fee", "1"),
            ("spbill_create_ip", "127.0.0.1"),
            ("notify_url", NOWHERE),
            ("trade_type", "JSAPI"),
            ("openid", PAYER_OFFICIAL),
        ]
        .into_iter()
        .collect();
        for (name, value) in overrides {
            fields.insert(*name, *value);
        }
        fields
    };
    let cases: [(&[(&str, &str)], &str); 7] = [
        (
            &[("body", "emoji 😀")],
            "编码格式有误，请使用UTF-8编码（不支持4字节字符）",
        ),
        (
            &[("total_fee", "8.88")],
            "total_fee参数格式错误，请确认请求参数是否正确total_fee",
        ),
        (&[("out_trade_no", "订单123")], "out_trade_no参数格式错误"),
        (&[("body", &"长".repeat(50))], "body参数长度有误"),
        (
            &[("notify_url", "http://127.0.0.1/notify?x=1")],
            "notify_url参数格式错误：须为不带参数的完整URL",
        ),
        (&[("trade_type", "PAYPAL")], "trade_type参数格式错误"),
        (
            &[("spbill_create_ip", "not-an-ip")],
            "spbill_create_ip参数格式错误",
        ),
    ];
    for (overrides, expected) in cases {
        let text = post_signed(&world, "/pay/unifiedorder", base(overrides), &merchant).await;
        assert_eq!(return_msg(&text), expected, "{overrides:?}");
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_never_crash() {
    let world = World::start(33).await;
    let (status, _) = post_raw(&world, "/pay/nosuchthing", b"<xml/>".to_vec()).await;
    assert_eq!(status, 404);
}
