//! Golden requests (wechatpay-v2.md §2): each endpoint's request, built from fixed inputs and a
//! fixed nonce, must equal `fixtures/wechat_v2/requests/<case>.xml` byte for byte
//! (`UPDATE_GOLDEN=1` rewrites them), and must verify with the merchant's key. Invalid inputs are
//! refused before sending with an error naming the field.

use std::net::{IpAddr, Ipv4Addr};

use cashier_adapters::endpoints::close_order::CloseOrderRequest;
use cashier_adapters::endpoints::download_bill::{BillType, DownloadBillRequest};
use cashier_adapters::endpoints::order_query::OrderQueryRequest;
use cashier_adapters::endpoints::refund::{RefundAccount, RefundRequest};
use cashier_adapters::endpoints::refund_query::{RefundQueryRequest, RefundRef};
use cashier_adapters::endpoints::sandbox_sign_key::SandboxSignKeyRequest;
use cashier_adapters::endpoints::unified_order::{H5Scene, Payer, Trade, UnifiedOrderRequest};
use cashier_adapters::{
    xml, AmountFen, ApiBase, Endpoint, HttpRequest, MerchantContext, Nonce, OpenId, OrderRef,
    OutRefundNo, OutTradeNo, RequestError, SignType, TransactionId,
};

use crate::support::{fixture_dir, merchant, update_golden};

fn nonce() -> Nonce {
    Nonce::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap()
}

fn out_trade_no() -> OutTradeNo {
    OutTradeNo::new("0110120261127100000000001").unwrap()
}

fn unified(trade: Trade) -> UnifiedOrderRequest {
    let mut request = UnifiedOrderRequest::new(
        out_trade_no(),
        "仁心医院-门诊缴费",
        AmountFen::from_fen(888),
        IpAddr::V4(Ipv4Addr::new(123, 12, 12, 123)),
        "https://pay.example.com/wechat/notify",
        trade,
    );
    request.attach = Some("挂号 <加急> & 复诊".into());
    request.time_start_unix_s = Some(1_764_208_800);
    request.time_expire_unix_s = Some(1_764_210_600);
    request
}

fn openid() -> OpenId {
    OpenId::new("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").unwrap()
}

fn check_golden(case: &str, request: &HttpRequest, merchant: &MerchantContext) {
    // Structural checks first: POST, XML content type, path, and a signature that verifies.
    assert_eq!(request.method, "POST");
    let fields = xml::read(&request.body).unwrap();
    let verified = fields.verify(merchant.sign_type, &merchant.key);
    assert!(
        verified.is_ok(),
        "{case}: request signature does not verify"
    );
    let path = fixture_dir().join("requests").join(format!("{case}.xml"));
    if update_golden() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &request.body).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "{case}: run with UPDATE_GOLDEN=1 to create {}",
            path.display()
        )
    });
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        String::from_utf8_lossy(&expected),
        "{case}: request differs from its golden file"
    );
}

fn build<E: Endpoint>(request: &E, merchant: &MerchantContext) -> HttpRequest {
    request
        .build(&ApiBase::production(), merchant, &nonce())
        .unwrap()
}

#[test]
fn section_2_2_unifiedorder_requests_match_golden_files() {
    let direct = merchant("direct_md5");
    let hmac = merchant("direct_hmac");
    let sp = merchant("sp_md5");
    let jsapi = Trade::Jsapi {
        payer: Payer::OpenId(openid()),
    };
    let request = build(&unified(jsapi.clone()), &direct);
    assert_eq!(
        request.url,
        "https://api.mch.weixin.qq.com/pay/unifiedorder"
    );
    assert!(!request.needs_client_certificate);
    check_golden("unifiedorder_jsapi_md5", &request, &direct);
    check_golden(
        "unifiedorder_jsapi_hmac",
        &build(&unified(jsapi), &hmac),
        &hmac,
    );
    let native = Trade::Native {
        product_id: "12235413214070356458058".into(),
    };
    check_golden(
        "unifiedorder_native",
        &build(&unified(native), &direct),
        &direct,
    );
    check_golden(
        "unifiedorder_app",
        &build(&unified(Trade::App), &direct),
        &direct,
    );
    let mweb = Trade::Mweb {
        scene: H5Scene {
            wap_url: "https://h5.example.com".into(),
            wap_name: "仁心医院".into(),
        },
    };
    check_golden(
        "unifiedorder_mweb",
        &build(&unified(mweb), &direct),
        &direct,
    );
    let mini = Trade::Jsapi {
        payer: Payer::SubOpenId(openid()),
    };
    check_golden(
        "unifiedorder_sp_mini_program",
        &build(&unified(mini), &sp),
        &sp,
    );
}

#[test]
fn section_2_3_to_2_7_other_requests_match_golden_files() {
    let direct = merchant("direct_md5");
    let sp = merchant("sp_md5");
    let by_number = OrderRef::OutTradeNo(out_trade_no());
    check_golden(
        "orderquery",
        &build(
            &OrderQueryRequest {
                order: by_number.clone(),
            },
            &direct,
        ),
        &direct,
    );
    let by_id =
        OrderRef::TransactionId(TransactionId::new("4200000483202001042069747825").unwrap());
    check_golden(
        "orderquery_sp_by_transaction_id",
        &build(
            &OrderQueryRequest {
                order: by_id.clone(),
            },
            &sp,
        ),
        &sp,
    );
    check_golden(
        "closeorder",
        &build(
            &CloseOrderRequest {
                out_trade_no: out_trade_no(),
            },
            &direct,
        ),
        &direct,
    );
    let refund = RefundRequest {
        order: by_id,
        out_refund_no: OutRefundNo::new("0121120261127100000000001").unwrap(),
        total_fee: AmountFen::from_fen(888),
        refund_fee: AmountFen::from_fen(100),
        refund_desc: Some("患者退号".into()),
        refund_account: Some(RefundAccount::UnsettledFunds),
        notify_url: Some("https://pay.example.com/wechat/refund-notify".into()),
    };
    let refund_request = build(&refund, &direct);
    assert!(refund_request.needs_client_certificate);
    assert_eq!(refund_request.path, "/secapi/pay/refund");
    check_golden("refund", &refund_request, &direct);
    let refund_query = RefundQueryRequest {
        refund: RefundRef::OutTradeNo(out_trade_no()),
        offset: Some(10),
    };
    check_golden("refundquery_paged", &build(&refund_query, &direct), &direct);
    let bill = DownloadBillRequest {
        bill_date: "20261126".into(),
        bill_type: BillType::All,
        gzip: true,
    };
    check_golden("downloadbill", &build(&bill, &direct), &direct);
}

#[test]
fn section_8_sandbox_paths_and_getsignkey() {
    let direct = merchant("direct_md5");
    let sandbox = ApiBase::production().sandbox();
    let query = OrderQueryRequest {
        order: OrderRef::OutTradeNo(out_trade_no()),
    };
    let request = query.build(&sandbox, &direct, &nonce()).unwrap();
    assert_eq!(
        request.url,
        "https://api.mch.weixin.qq.com/sandboxnew/pay/orderquery"
    );
    // getsignkey always goes to the sandbox path, carries only mch_id + nonce_str + sign (MD5).
    let request = SandboxSignKeyRequest
        .build(&ApiBase::production(), &direct, &nonce())
        .unwrap();
    assert_eq!(request.path, "/sandboxnew/pay/getsignkey");
    let fields = xml::read(&request.body).unwrap();
    let names: Vec<&str> = fields.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["mch_id", "nonce_str", "sign"]);
    assert_eq!(fields.verify(SignType::Md5, &direct.key), Ok(SignType::Md5));
}

fn invalid_field(request: &UnifiedOrderRequest, merchant: &MerchantContext) -> &'static str {
    match request.business_fields(merchant) {
        Err(RequestError::Invalid { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn section_2_2_invalid_unifiedorder_inputs_are_refused_before_sending() {
    let direct = merchant("direct_md5");
    let jsapi = Trade::Jsapi {
        payer: Payer::OpenId(openid()),
    };
    let mut request = unified(jsapi.clone());
    request.total_fee = AmountFen::ZERO;
    assert_eq!(invalid_field(&request, &direct), "total_fee");
    let mut request = unified(jsapi.clone());
    request.body = "很长".repeat(30);
    assert_eq!(invalid_field(&request, &direct), "body");
    let mut request = unified(jsapi.clone());
    request.body = "emoji 😀".into();
    assert_eq!(invalid_field(&request, &direct), "body");
    let mut request = unified(jsapi.clone());
    request.body = " padded".into();
    assert_eq!(invalid_field(&request, &direct), "body");
    let mut request = unified(jsapi.clone());
    request.notify_url = "https://pay.example.com/notify?order=1".into();
    assert_eq!(invalid_field(&request, &direct), "notify_url");
    let mut request = unified(jsapi.clone());
    request.notify_url = "/relative".into();
    assert_eq!(invalid_field(&request, &direct), "notify_url");
    let mut request = unified(jsapi);
    request.time_expire_unix_s = request.time_start_unix_s;
    assert_eq!(invalid_field(&request, &direct), "time_expire");
    let native = unified(Trade::Native {
        product_id: String::new(),
    });
    assert_eq!(invalid_field(&native, &direct), "product_id");
    // sub_openid needs a sub_appid: a direct merchant cannot use it.
    let mini = unified(Trade::Jsapi {
        payer: Payer::SubOpenId(openid()),
    });
    assert_eq!(invalid_field(&mini, &direct), "sub_openid");
    // Identifier rules are enforced when the ids are built.
    assert!(OutTradeNo::new("订单号").is_err());
}

#[test]
fn section_2_5_refund_over_total_is_refused_before_sending() {
    let direct = merchant("direct_md5");
    let refund = RefundRequest {
        order: OrderRef::OutTradeNo(out_trade_no()),
        out_refund_no: OutRefundNo::new("R1").unwrap(),
        total_fee: AmountFen::from_fen(100),
        refund_fee: AmountFen::from_fen(101),
        refund_desc: None,
        refund_account: None,
        notify_url: None,
    };
    assert!(matches!(
        refund.business_fields(&direct),
        Err(RequestError::Invalid {
            field: "refund_fee",
            ..
        })
    ));
}
