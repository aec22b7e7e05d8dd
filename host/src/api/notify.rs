//! WeChat's notifications: the body goes to the engine as received (any content type: WeChat
//! sends `text/xml`, proxies rewrite it), and the answer is the engine's acknowledgement bytes,
//! SUCCESS only once what it changed is durable. A forged, malformed or unknown one is FAIL
//! and changes nothing.

use crate::api::HostCore;
use crate::error::ApiError;
use crate::http::HostResponse;

impl HostCore {
    pub(crate) async fn notify(&self, kind: &str, body: &[u8]) -> HostResponse {
        let response = match kind {
            "pay" => self.engine.handle_payment_notification(body).await,
            "refund" => self.engine.handle_refund_notification(body).await,
            "medical" => self.engine.handle_medical_notification(body).await,
            _ => return ApiError::new(404, "not_found", "页面不存在", "not found").response(),
        };
        HostResponse::xml(response.ack)
    }
}
