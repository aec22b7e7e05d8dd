//! Nonces (`nonce_str`, `nonceStr`) from an injected, seedable random source, so that a
//! simulated run with a fixed seed produces the same bytes every time.

use std::sync::Mutex;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::ids::Nonce;

/// Where nonces come from.
pub trait NonceSource: Send + Sync {
    /// A fresh 32-character alphanumeric nonce.
    fn next_nonce(&self) -> Nonce;
}

/// A ChaCha8 stream: seeded for deterministic runs, or from OS entropy in production.
pub struct ChaChaNonceSource {
    rng: Mutex<ChaCha8Rng>,
}

impl ChaChaNonceSource {
    /// A deterministic source: the same seed gives the same nonces.
    pub fn seeded(seed: u64) -> ChaChaNonceSource {
        ChaChaNonceSource {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// A source seeded from the operating system.
    pub fn from_entropy() -> ChaChaNonceSource {
        ChaChaNonceSource {
            rng: Mutex::new(ChaCha8Rng::from_entropy()),
        }
    }
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Draws a 32-character alphanumeric string from `rng` (rejection sampling keeps it uniform).
pub fn random_alphanumeric(rng: &mut impl RngCore) -> String {
    let mut text = String::with_capacity(32);
    while text.len() < 32 {
        let byte = (rng.next_u32() & 0xff) as u8;
        // 248 = 62 * 4: bytes at or above it would bias the first letters.
        if byte < 248 {
            text.push(char::from(ALPHABET[usize::from(byte % 62)]));
        }
    }
    text
}

impl NonceSource for ChaChaNonceSource {
    fn next_nonce(&self) -> Nonce {
        // A poisoned lock only means another thread panicked mid-draw; the generator state is
        // still a valid generator state, so keep using it.
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let text = random_alphanumeric(&mut *rng);
        // 32 alphanumeric characters always make a valid nonce, so validation is skipped.
        Nonce::from_trusted(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_nonces_repeat_and_are_32_alphanumerics() {
        let first = ChaChaNonceSource::seeded(7);
        let second = ChaChaNonceSource::seeded(7);
        for _ in 0..10 {
            let nonce = first.next_nonce();
            assert_eq!(nonce, second.next_nonce());
            assert_eq!(nonce.as_str().len(), 32);
        }
    }
}
