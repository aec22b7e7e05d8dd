//! [`FailoverTransport`]: sends to WeChat's backup domain (`api2.mch.weixin.qq.com`, same paths,
//! "跨城冗灾", wechatpay-v2.md §0) when the primary cannot be connected to. Only a failure to
//! connect fails over: then the request never reached WeChat, so sending it elsewhere cannot
//! apply it twice. Timeouts and broken connections are outcomes unknown and are returned as
//! they are, for the caller to query (peers.md gap 6).

use crate::transport::{HttpRequest, Transport, TransportError, TransportFuture};

/// A transport that retries connection failures against a backup base URL.
pub struct FailoverTransport<T> {
    inner: T,
    primary_base: String,
    backup_base: String,
}

impl<T: Transport> FailoverTransport<T> {
    /// Fails over from `primary_base` to `backup_base` (both without a trailing slash, as
    /// [`crate::ApiBase::base_url`] gives them).
    pub fn new(inner: T, primary_base: impl Into<String>, backup_base: impl Into<String>) -> Self {
        FailoverTransport {
            inner,
            primary_base: primary_base.into(),
            backup_base: backup_base.into(),
        }
    }

    /// WeChat's production host with its documented backup.
    pub fn wechat(inner: T) -> Self {
        FailoverTransport::new(
            inner,
            crate::ApiBase::PRODUCTION_URL,
            crate::ApiBase::BACKUP_URL,
        )
    }
}

impl<T: Transport> Transport for FailoverTransport<T> {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        Box::pin(async move {
            let backup = request
                .url
                .strip_prefix(self.primary_base.as_str())
                .map(|path| HttpRequest {
                    url: format!("{}{path}", self.backup_base),
                    ..request.clone()
                });
            match (self.inner.send(request).await, backup) {
                (Err(TransportError::Connect { .. }), Some(backup)) => {
                    self.inner.send(backup).await
                }
                (result, _) => result,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::HttpResponse;
    use std::sync::Mutex;

    struct Recorder {
        urls: Mutex<Vec<String>>,
        refuse_primary: bool,
        time_out: bool,
    }

    impl Transport for Recorder {
        fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
            if let Ok(mut urls) = self.urls.lock() {
                urls.push(request.url.clone());
            }
            let primary = request.url.starts_with("https://primary");
            let result = if primary && self.time_out {
                Err(TransportError::Timeout { timeout_ms: 1 })
            } else if primary && self.refuse_primary {
                Err(TransportError::Connect {
                    detail: "refused".into(),
                })
            } else {
                Ok(HttpResponse {
                    status: 200,
                    body: b"ok".to_vec(),
                })
            };
            Box::pin(async move { result })
        }
    }

    fn request() -> HttpRequest {
        HttpRequest {
            method: "POST",
            url: "https://primary/pay/orderquery".into(),
            path: "/pay/orderquery".into(),
            headers: vec![],
            body: vec![],
            needs_client_certificate: false,
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        // The futures here complete at once; a no-op waker is enough to drive them.
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }

    #[test]
    fn only_connection_failures_fail_over_to_the_backup_domain() {
        let refused = FailoverTransport::new(
            Recorder {
                urls: Mutex::default(),
                refuse_primary: true,
                time_out: false,
            },
            "https://primary",
            "https://backup",
        );
        assert!(block_on(refused.send(request())).is_ok());
        let urls = refused
            .inner
            .urls
            .lock()
            .map(|urls| urls.clone())
            .unwrap_or_default();
        assert_eq!(
            urls,
            [
                "https://primary/pay/orderquery",
                "https://backup/pay/orderquery"
            ]
        );
        // A timeout may have reached WeChat: no failover, the caller queries.
        let slow = FailoverTransport::new(
            Recorder {
                urls: Mutex::default(),
                refuse_primary: false,
                time_out: true,
            },
            "https://primary",
            "https://backup",
        );
        assert!(matches!(
            block_on(slow.send(request())),
            Err(TransportError::Timeout { .. })
        ));
        assert_eq!(
            slow.inner
                .urls
                .lock()
                .map(|urls| urls.len())
                .unwrap_or_default(),
            1
        );
    }
}
