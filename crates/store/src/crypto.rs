//! Sealing of stored secrets (Twilio auth tokens, API key secrets) with XChaCha20-Poly1305 under the
//! installation's secret key. The database only ever sees `v1:` + base64(nonce ‖ ciphertext).

use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// The key that seals secrets. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// Why a secret key setting was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the secret key must be base64 of exactly 32 bytes: {0}")]
pub struct SecretKeyError(String);

impl SecretBox {
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Reads a key written as base64 of 32 bytes (`PALERA_SECRET_KEY`).
    pub fn from_base64(text: &str) -> Result<Self, SecretKeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretKeyError("not valid base64".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| SecretKeyError(format!("{} bytes given", b.len())))?;
        Ok(Self::from_key(key))
    }

    /// A fresh random key, as base64 (for `demo` and for operators).
    pub fn generate_base64() -> String {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .expect("encryption with a valid key cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("v1:{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<String, String> {
        let body = sealed.strip_prefix("v1:").ok_or("unknown format")?;
        let bytes = STANDARD.decode(body).map_err(|_| "not base64")?;
        if bytes.len() < 24 {
            return Err("too short".into());
        }
        let (nonce, ct) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| "wrong key or tampered data")?;
        String::from_utf8(plain).map_err(|_| "not UTF-8".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_and_hide_the_plaintext() {
        let b = SecretBox::from_base64(&SecretBox::generate_base64()).unwrap();
        let s = b.seal("super-secret-token");
        assert!(!s.contains("super-secret-token"));
        assert_eq!(b.open(&s).unwrap(), "super-secret-token");
        assert_ne!(b.seal("x"), b.seal("x"), "a fresh nonce each time");
    }

    #[test]
    fn another_key_cannot_open() {
        let a = SecretBox::from_base64(&SecretBox::generate_base64()).unwrap();
        let b = SecretBox::from_base64(&SecretBox::generate_base64()).unwrap();
        assert!(b.open(&a.seal("t")).is_err());
    }

    #[test]
    fn keys_of_the_wrong_size_are_refused() {
        assert!(SecretBox::from_base64("AAAA").is_err());
        assert!(SecretBox::from_base64("not base64!").is_err());
    }
}
