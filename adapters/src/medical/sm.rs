//! 国密 primitives the NHSA envelope needs, on RustCrypto's `sm2`, `sm3` and `sm4`: SM3 digests,
//! SM4-ECB with PKCS#7 padding, and SM2 signatures with SM3 and the distinguishing identifier
//! `1234567812345678` (GM/T 0009's default). Signatures are 64 bytes `r ‖ s`. Known answers
//! (GB/T 32905, GB/T 32907, GM/T 0003.5 annex) are in the tests.

use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm3::Digest;
use sm4::cipher::block_padding::Pkcs7;
use sm4::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit};

/// The SM2 distinguishing identifier when none is agreed (GM/T 0009 §10).
pub const DEFAULT_DISTID: &str = "1234567812345678";

type Sm4EcbEncryptor = ecb::Encryptor<sm4::Sm4>;
type Sm4EcbDecryptor = ecb::Decryptor<sm4::Sm4>;

/// Why a 国密 operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmError {
    /// A key is not a valid SM2 key (or an SM4 key is not 16 bytes).
    #[error("invalid {0} key")]
    Key(&'static str),
    /// The ciphertext does not decrypt (wrong key, bad padding, not whole blocks).
    #[error("SM4 decryption failed")]
    Decrypt,
    /// The signature is malformed or does not verify.
    #[error("SM2 signature does not verify")]
    Signature,
}

/// SM3 of `data`.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(data).into()
}

/// SM4-ECB-PKCS#7 encryption.
pub fn sm4_encrypt(key: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    Sm4EcbEncryptor::new(key.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// SM4-ECB-PKCS#7 decryption.
pub fn sm4_decrypt(key: &[u8; 16], ciphertext: &[u8]) -> Result<Vec<u8>, SmError> {
    Sm4EcbDecryptor::new(key.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| SmError::Decrypt)
}

/// An SM2 private key (32 bytes) that signs with the default identifier. Its `Debug` hides it.
#[derive(Clone)]
pub struct Sm2PrivateKey(SigningKey);

impl std::fmt::Debug for Sm2PrivateKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Sm2PrivateKey(***)")
    }
}

impl Sm2PrivateKey {
    /// From the 32-byte big-endian scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sm2PrivateKey, SmError> {
        SigningKey::from_slice(DEFAULT_DISTID, bytes)
            .map(Sm2PrivateKey)
            .map_err(|_| SmError::Key("SM2 private"))
    }

    /// The matching public key.
    pub fn public_key(&self) -> Sm2PublicKey {
        Sm2PublicKey(self.0.verifying_key().clone())
    }

    /// Signs `message` (SM3 with Z); 64 bytes `r ‖ s`. Deterministic (RFC 6979 style nonces).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let signature: Signature = self.0.sign(message);
        signature.to_bytes()
    }
}

/// An SM2 public key.
#[derive(Clone, Debug)]
pub struct Sm2PublicKey(VerifyingKey);

impl PartialEq for Sm2PublicKey {
    fn eq(&self, other: &Sm2PublicKey) -> bool {
        self.to_sec1() == other.to_sec1()
    }
}

impl Eq for Sm2PublicKey {}

impl Sm2PublicKey {
    /// From SEC1 bytes (`04 ‖ x ‖ y`, or compressed).
    pub fn from_sec1(bytes: &[u8]) -> Result<Sm2PublicKey, SmError> {
        VerifyingKey::from_sec1_bytes(DEFAULT_DISTID, bytes)
            .map(Sm2PublicKey)
            .map_err(|_| SmError::Key("SM2 public"))
    }

    /// The uncompressed SEC1 bytes.
    pub fn to_sec1(&self) -> Vec<u8> {
        self.0.to_sec1_bytes().to_vec()
    }

    /// Verifies a 64-byte `r ‖ s` signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SmError> {
        let signature = Signature::from_slice(signature).map_err(|_| SmError::Signature)?;
        self.0
            .verify(message, &signature)
            .map_err(|_| SmError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap_or(0))
            .collect()
    }

    #[test]
    fn sm3_of_abc_is_the_gb_t_32905_example() {
        assert_eq!(
            sm3(b"abc").to_vec(),
            hex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
        );
    }

    #[test]
    fn sm4_encrypts_the_gb_t_32907_example_and_round_trips() {
        let key: [u8; 16] = hex("0123456789abcdeffedcba9876543210")
            .try_into()
            .unwrap_or([0; 16]);
        let ciphertext = sm4_encrypt(&key, &key);
        assert_eq!(
            ciphertext[..16].to_vec(),
            hex("681edf34d206965e86b3e94f536e4246")
        );
        assert_eq!(sm4_decrypt(&key, &ciphertext), Ok(key.to_vec()));
        let mut tampered = ciphertext.clone();
        tampered[20] ^= 1;
        assert!(
            sm4_decrypt(&key, &tampered).is_err()
                || sm4_decrypt(&key, &tampered) != Ok(key.to_vec())
        );
    }

    /// GM/T 0003.5-2012 annex example on the recommended curve (also reproduced by the
    /// independent Python `gmssl` 3.2.2 with the annex's k): the published signature verifies.
    #[test]
    fn sm2_verifies_the_gm_t_0003_5_example_and_signs_verifiably() {
        let private = Sm2PrivateKey::from_bytes(&hex(
            "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8",
        ));
        let Ok(private) = private else { panic!("key") };
        let public = private.public_key();
        let expected_public = hex("0409F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13");
        assert_eq!(public.to_sec1(), expected_public);
        let published = hex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA");
        assert_eq!(public.verify(b"message digest", &published), Ok(()));
        assert!(public.verify(b"message digesT", &published).is_err());
        let ours = private.sign(b"message digest");
        assert_eq!(public.verify(b"message digest", &ours), Ok(()));
    }
}
