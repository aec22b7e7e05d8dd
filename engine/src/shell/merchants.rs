//! Who a call is made as: the merchant context of a stored channel (its appid, mch_id, sub ids
//! and sign type, with the key the keyring holds now, or the cached sandbox key), and the
//! client (transport) of that merchant. During a key rotation a message verifies with either
//! key; requests are signed with the new one.

use cashier_adapters::endpoints::sandbox_sign_key::{sandbox_context, SandboxSignKeyRequest};
use cashier_adapters::{ApiKey, MerchantContext};

use crate::error::EngineError;
use crate::model::ChannelContext;
use crate::shell::{Client, Shell};

/// Where a merchant's calls go: production (or the configured base) or the sandbox.
pub(crate) type ClientKey = (cashier_adapters::MchId, bool);

impl Shell {
    pub(crate) fn client(&self, channel: &ChannelContext) -> Result<Client, EngineError> {
        self.clients
            .read()
            .ok()
            .and_then(|clients| {
                clients
                    .get(&(channel.mch_id.clone(), channel.sandbox))
                    .cloned()
            })
            .ok_or_else(|| EngineError::NotConfigured {
                mch_id: channel.mch_id.clone(),
            })
    }

    fn context_with(channel: &ChannelContext, key: ApiKey) -> MerchantContext {
        MerchantContext {
            appid: channel.appid.clone(),
            mch_id: channel.mch_id.clone(),
            sub_appid: channel.sub_appid.clone(),
            sub_mch_id: channel.sub_mch_id.clone(),
            sign_type: channel.sign_type,
            key,
        }
    }

    /// The sandbox key of the channel's merchant: cached, else fetched with the real key
    /// (`getsignkey`, wechatpay-v2.md §8) and cached until the next key reload.
    async fn sandbox_key(
        &self,
        channel: &ChannelContext,
        real: ApiKey,
    ) -> Result<ApiKey, EngineError> {
        if let Some(key) = self.keyring.sandbox_key(&channel.mch_id) {
            return Ok(key);
        }
        let client = self.client(channel)?;
        let merchant = Shell::context_with(channel, real);
        let key = client
            .call(&merchant, &SandboxSignKeyRequest)
            .await
            .map_err(|error| EngineError::InvalidInput {
                field: "sandbox",
                reason: format!("getsignkey failed: {error}"),
            })?;
        self.keyring.set_sandbox_key(&channel.mch_id, key.clone());
        Ok(key)
    }

    /// The context requests of this channel are signed with.
    pub(crate) async fn signing_context(
        &self,
        channel: &ChannelContext,
    ) -> Result<MerchantContext, EngineError> {
        let keys = self.keyring.keys(&channel.mch_id)?;
        if channel.sandbox {
            let sandbox = self.sandbox_key(channel, keys.signing.clone()).await?;
            return Ok(sandbox_context(
                &Shell::context_with(channel, keys.signing),
                sandbox,
            ));
        }
        Ok(Shell::context_with(channel, keys.signing))
    }

    /// Every context a message about this channel may be verified with: the signing key's
    /// first, then the key being retired.
    pub(crate) async fn verifying_contexts(
        &self,
        channel: &ChannelContext,
    ) -> Result<Vec<MerchantContext>, EngineError> {
        if channel.sandbox {
            return Ok(vec![self.signing_context(channel).await?]);
        }
        let keys = self.keyring.keys(&channel.mch_id)?;
        Ok(keys
            .verifying()
            .map(|key| Shell::context_with(channel, key.clone()))
            .collect())
    }
}
