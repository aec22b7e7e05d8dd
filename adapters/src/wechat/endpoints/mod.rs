//! One file per v2 endpoint, all the same shape (style-anchors L4): a typed request that
//! validates itself and lists its business fields, a typed reply decoded from verified fields,
//! and the [`Endpoint`] impl tying them to a path. Building and parsing are pure: bytes move only
//! through [`crate::Transport`].

pub mod close_order;
pub mod download_bill;
pub mod order_query;
pub mod refund;
pub mod refund_query;
pub mod sandbox_sign_key;
pub mod unified_order;

use crate::ids::Nonce;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::envelope;
use crate::wechat::error::{Api, RequestError, WechatError};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::{ApiBase, MerchantContext};

/// A v2 endpoint: how to turn its request into bytes and its reply bytes into a typed result.
pub trait Endpoint {
    /// Which operation, for error-code meanings.
    const API: Api;
    /// The path below the API base, such as `/pay/unifiedorder`.
    const PATH: &'static str;
    /// True for `secapi` endpoints, which need the client certificate.
    const NEEDS_CLIENT_CERTIFICATE: bool = false;
    /// The decoded success reply.
    type Reply;

    /// Validates the request and returns its business fields (identity, nonce and sign are
    /// added by [`Endpoint::build`]).
    fn business_fields(&self, merchant: &MerchantContext) -> Result<Fields, RequestError>;

    /// Decodes a reply whose signature, identity and `result_code` were already checked.
    fn decode(fields: Fields) -> Result<Self::Reply, WechatError>;

    /// Builds the signed HTTP request.
    fn build(
        &self,
        base: &ApiBase,
        merchant: &MerchantContext,
        nonce: &Nonce,
    ) -> Result<HttpRequest, RequestError> {
        let fields = self.business_fields(merchant)?;
        envelope::build_signed_request(
            base,
            Self::PATH,
            fields,
            merchant,
            nonce,
            Self::NEEDS_CLIENT_CERTIFICATE,
        )
    }

    /// Parses and checks the HTTP response.
    fn parse(
        response: &HttpResponse,
        merchant: &MerchantContext,
    ) -> Result<Self::Reply, WechatError> {
        let fields = envelope::read_reply(response)?;
        let fields = envelope::check_signed_reply(Self::API, fields, merchant)?;
        Self::decode(fields)
    }
}
