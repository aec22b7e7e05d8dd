//! API keys by merchant, handed in by a [`KeyProvider`] (the configuration's environment and
//! file sources, a vault client, the simulation) and held in a [`Keyring`] that can be reloaded
//! while the engine runs. During a key rotation an mch_id has two keys: requests are signed
//! with the new one, and messages verify with either. Keys are never stored or logged.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cashier_adapters::{ApiKey, MchId};

/// Why keys could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The provider has no key for this merchant.
    #[error("no API key for mch_id {mch_id}")]
    Missing {
        /// The merchant.
        mch_id: MchId,
    },
    /// The provider failed (a file unreadable, a variable unset, a vault down).
    #[error("key provider for mch_id {mch_id}: {reason}")]
    Provider {
        /// The merchant.
        mch_id: MchId,
        /// What failed (never the key itself).
        reason: String,
    },
    /// The key is malformed.
    #[error("API key of mch_id {mch_id} is not a 32-byte key")]
    Malformed {
        /// The merchant.
        mch_id: MchId,
    },
}

/// The keys of one merchant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantKeys {
    /// The key requests are signed with (the new one during a rotation).
    pub signing: ApiKey,
    /// The key being retired: incoming messages still verify with it.
    pub previous: Option<ApiKey>,
}

impl MerchantKeys {
    /// One key, no rotation in progress.
    pub fn single(key: ApiKey) -> MerchantKeys {
        MerchantKeys {
            signing: key,
            previous: None,
        }
    }

    /// Every key a message may verify with, the signing key first.
    pub fn verifying(&self) -> impl Iterator<Item = &ApiKey> {
        std::iter::once(&self.signing).chain(self.previous.iter())
    }
}

/// Where keys come from. Called at start and on every [`Keyring::reload`].
pub trait KeyProvider: Send + Sync + 'static {
    /// The keys of `mch_id`.
    fn keys(&self, mch_id: &MchId) -> Result<MerchantKeys, KeyError>;
}

/// Keys handed in directly (the simulation, tests, or a host that fetched them itself).
#[derive(Clone, Debug, Default)]
pub struct StaticKeys {
    keys: Arc<RwLock<HashMap<MchId, MerchantKeys>>>,
}

impl StaticKeys {
    /// No keys yet.
    pub fn new() -> StaticKeys {
        StaticKeys::default()
    }

    /// Sets (or replaces) a merchant's keys; the engine sees them at its next reload.
    pub fn set(&self, mch_id: MchId, keys: MerchantKeys) {
        if let Ok(mut map) = self.keys.write() {
            map.insert(mch_id, keys);
        }
    }

    /// The same, builder style.
    pub fn with(self, mch_id: MchId, key: ApiKey) -> StaticKeys {
        self.set(mch_id, MerchantKeys::single(key));
        self
    }
}

impl KeyProvider for StaticKeys {
    fn keys(&self, mch_id: &MchId) -> Result<MerchantKeys, KeyError> {
        self.keys
            .read()
            .ok()
            .and_then(|map| map.get(mch_id).cloned())
            .ok_or_else(|| KeyError::Missing {
                mch_id: mch_id.clone(),
            })
    }
}

/// The keys the engine uses now, per merchant.
pub struct Keyring {
    provider: Arc<dyn KeyProvider>,
    merchants: Vec<MchId>,
    current: RwLock<HashMap<MchId, MerchantKeys>>,
    sandbox: RwLock<HashMap<MchId, ApiKey>>,
}

impl Keyring {
    /// Loads every merchant's keys; any failure fails the start.
    pub fn load(
        provider: Arc<dyn KeyProvider>,
        merchants: Vec<MchId>,
    ) -> Result<Keyring, KeyError> {
        let keyring = Keyring {
            provider,
            merchants,
            current: RwLock::new(HashMap::new()),
            sandbox: RwLock::new(HashMap::new()),
        };
        keyring.reload()?;
        Ok(keyring)
    }

    /// Reads every merchant's keys again and switches to them at once; on any failure nothing
    /// changes. Cached sandbox keys are dropped (they derive from the real key).
    pub fn reload(&self) -> Result<(), KeyError> {
        let mut fresh = HashMap::new();
        for mch_id in &self.merchants {
            fresh.insert(mch_id.clone(), self.provider.keys(mch_id)?);
        }
        if let Ok(mut current) = self.current.write() {
            *current = fresh;
        }
        if let Ok(mut sandbox) = self.sandbox.write() {
            sandbox.clear();
        }
        Ok(())
    }

    /// A merchant's keys now.
    pub fn keys(&self, mch_id: &MchId) -> Result<MerchantKeys, KeyError> {
        self.current
            .read()
            .ok()
            .and_then(|current| current.get(mch_id).cloned())
            .ok_or_else(|| KeyError::Missing {
                mch_id: mch_id.clone(),
            })
    }

    /// The cached sandbox key of a merchant (from `getsignkey`).
    pub fn sandbox_key(&self, mch_id: &MchId) -> Option<ApiKey> {
        self.sandbox.read().ok()?.get(mch_id).cloned()
    }

    /// Caches a sandbox key.
    pub fn set_sandbox_key(&self, mch_id: &MchId, key: ApiKey) {
        if let Ok(mut sandbox) = self.sandbox.write() {
            sandbox.insert(mch_id.clone(), key);
        }
    }
}
