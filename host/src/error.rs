//! The host layer's one error type: a stable machine code, an HTTP status and a message in
//! Chinese and English for the page to show. Never a stack trace, never an internal detail
//! that helps an attacker (a key, a path, a store error's text).

use cashier_engine::machine::Rejection;
use cashier_engine::EngineError;

use crate::http::HostResponse;

/// An API error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {en}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable code (`not_logged_in`, `not_your_order`, ...).
    pub code: &'static str,
    /// 中文说明.
    pub zh: String,
    /// English message.
    pub en: String,
}

impl ApiError {
    /// An error from its parts.
    pub fn new(
        status: u16,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// 400 with a field named.
    pub fn bad_request(en: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", "请求格式错误", en)
    }

    /// 413: the body is (or declares itself) over the limit.
    pub fn too_large() -> ApiError {
        ApiError::new(413, "too_large", "请求体过大", "the body is too large")
    }

    /// 408: the body did not arrive within the body timeout.
    pub fn too_slow() -> ApiError {
        ApiError::new(
            408,
            "too_slow",
            "请求超时",
            "the body did not arrive in time",
        )
    }

    /// 401: no (valid) session.
    pub fn not_logged_in() -> ApiError {
        ApiError::new(401, "not_logged_in", "请先登录", "log in first")
    }

    /// 404 for orders that do not exist or are not the caller's (the same answer, so ids
    /// cannot be probed).
    pub fn no_such_order() -> ApiError {
        ApiError::new(404, "no_such_order", "订单不存在", "no such order")
    }

    /// The JSON response.
    pub fn response(&self) -> HostResponse {
        HostResponse::json(
            self.status,
            &serde_json::json!({
                "code": self.code,
                "message": { "zh": self.zh, "en": self.en },
            }),
        )
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        match error {
            EngineError::Rejected(rejection) => rejected(&rejection),
            EngineError::UnknownOrder { .. } => ApiError::no_such_order(),
            EngineError::UnknownEntry { entry } => ApiError::new(
                400,
                "unknown_entry",
                "支付入口不存在",
                format!("no entry point {entry}"),
            ),
            EngineError::InvalidInput { field, reason } => ApiError::new(
                400,
                "invalid_input",
                "参数错误",
                format!("{field}: {reason}"),
            ),
            EngineError::PaymentNotReady { .. } => ApiError::new(
                503,
                "payment_not_ready",
                "支付准备中，请稍后重试",
                "the payment is being prepared, try again shortly",
            ),
            EngineError::PaymentRefused { refusal, .. } => ApiError::new(
                502,
                "payment_refused",
                "支付渠道拒绝了此次支付",
                format!("the payment was refused: {refusal}"),
            ),
            EngineError::MedicalAuthorisation { .. } => ApiError::new(
                400,
                "medical_authorisation",
                "医保授权失败，请重新授权",
                "the 医保 authorisation failed: authorise again",
            ),
            other if other.is_transient() => ApiError::new(
                503,
                "try_again",
                "系统繁忙，请稍后重试",
                "busy, try again shortly",
            ),
            other => {
                tracing::error!(%other, "engine error behind the API");
                ApiError::new(500, "internal", "系统错误", "internal error")
            }
        }
    }
}

fn rejected(rejection: &Rejection) -> ApiError {
    let (code, zh) = match rejection {
        Rejection::AlreadyPaid => ("already_paid", "订单已支付"),
        Rejection::Terminal(_) => ("order_closed", "订单已关闭"),
        Rejection::NotPaid => ("not_paid", "订单未支付"),
        Rejection::RefundExceedsPaid { .. } => ("refund_exceeds_paid", "退款金额超过可退金额"),
        Rejection::ConflictingRequest(_) => ("conflicting_request", "同一请求号的内容不同"),
        Rejection::MedicalRefundShape { .. } => ("medical_refund_shape", "医保部分须全额退还"),
        Rejection::ZeroRefund | Rejection::AmountOutOfRange => ("bad_amount", "金额不正确"),
        _ => ("rejected", "请求被拒绝"),
    };
    ApiError::new(409, code, zh, rejection.to_string())
}
