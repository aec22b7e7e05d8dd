//! [`WechatPayClient`]: runs an [`Endpoint`] over a [`Transport`]: build, send, parse. It holds
//! no merchant state; every call names the [`MerchantContext`] it is made with.

use crate::ids::Nonce;
use crate::secret::ApiKey;
use crate::transport::Transport;
use crate::wechat::endpoints::sandbox_sign_key::SandboxSignKeyRequest;
use crate::wechat::endpoints::Endpoint;
use crate::wechat::error::WechatError;
use crate::wechat::merchant::{ApiBase, MerchantContext};
use crate::wechat::nonce::NonceSource;

/// Calls v2 endpoints through a transport.
///
/// ```no_run
/// # async fn example(transport: impl cashier_adapters::Transport, merchant: cashier_adapters::MerchantContext) {
/// use cashier_adapters::{ApiBase, ChaChaNonceSource, WechatPayClient, OutTradeNo, OrderRef};
/// use cashier_adapters::endpoints::order_query::OrderQueryRequest;
/// let client = WechatPayClient::new(transport, ApiBase::production(), ChaChaNonceSource::from_entropy());
/// let order = OrderRef::OutTradeNo(OutTradeNo::new("20150806125346").unwrap());
/// let reply = client.call(&merchant, &OrderQueryRequest { order }).await;
/// # }
/// ```
pub struct WechatPayClient<T> {
    transport: T,
    base: ApiBase,
    nonces: Box<dyn NonceSource>,
}

impl<T: Transport> WechatPayClient<T> {
    /// A client sending to `base` through `transport`, drawing nonces from `nonces`.
    pub fn new(transport: T, base: ApiBase, nonces: impl NonceSource + 'static) -> Self {
        WechatPayClient {
            transport,
            base,
            nonces: Box::new(nonces),
        }
    }

    /// Where requests go.
    pub fn base(&self) -> &ApiBase {
        &self.base
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// A fresh nonce from the client's source (for client pay parameters, too).
    pub fn next_nonce(&self) -> Nonce {
        self.nonces.next_nonce()
    }

    /// Builds, sends and parses one call.
    pub async fn call<E: Endpoint>(
        &self,
        merchant: &MerchantContext,
        request: &E,
    ) -> Result<E::Reply, WechatError> {
        let nonce = self.nonces.next_nonce();
        let http_request = request.build(&self.base, merchant, &nonce)?;
        let response = self.transport.send(http_request).await?;
        E::parse(&response, merchant)
    }

    /// Fetches the sandbox sign key for `merchant` (whose key is the real one), §8.
    pub async fn sandbox_sign_key(
        &self,
        merchant: &MerchantContext,
    ) -> Result<ApiKey, WechatError> {
        self.call(merchant, &SandboxSignKeyRequest).await
    }
}
