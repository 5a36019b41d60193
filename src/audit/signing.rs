//! Ed25519 keys for signed checkpoints: load (PEM or raw), generate, sign and verify.
//!
//! A checkpoint signs `kwanus-gateway audit checkpoint v1\n{seq}\n{hash}`, so cutting records
//! off the tail is detectable back to the last checkpoint.

use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The content is not a key of the expected kind.
    #[error("{path}: not an Ed25519 {what} (expected PEM, 32 raw bytes or 64 hex digits)")]
    Format {
        /// The file.
        path: String,
        /// `private key` or `public key`.
        what: &'static str,
    },
    /// The OS RNG failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(getrandom::Error),
}

/// The message a checkpoint signs.
pub(super) fn checkpoint_message(seq: u64, hash: &str) -> Vec<u8> {
    format!("kwanus-gateway audit checkpoint v1\n{seq}\n{hash}").into_bytes()
}

/// Loads a private key: PKCS#8 PEM, 32 raw bytes, or 64 hex digits.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let bytes = read(path)?;
    let fail = || KeyError::Format {
        path: path.display().to_string(),
        what: "private key",
    };
    if let Ok(text) = std::str::from_utf8(&bytes) {
        if text.contains("-----BEGIN") {
            return SigningKey::from_pkcs8_pem(text).map_err(|_| fail());
        }
        if let Some(raw) = hex32(text.trim()) {
            return Ok(SigningKey::from_bytes(&raw));
        }
    }
    let raw: [u8; 32] = bytes.as_slice().try_into().map_err(|_| fail())?;
    Ok(SigningKey::from_bytes(&raw))
}

/// Loads a public key: SPKI PEM, 32 raw bytes, or 64 hex digits.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bytes = read(path)?;
    let fail = || KeyError::Format {
        path: path.display().to_string(),
        what: "public key",
    };
    if let Ok(text) = std::str::from_utf8(&bytes) {
        if text.contains("-----BEGIN") {
            return VerifyingKey::from_public_key_pem(text).map_err(|_| fail());
        }
        if let Some(raw) = hex32(text.trim()) {
            return VerifyingKey::from_bytes(&raw).map_err(|_| fail());
        }
    }
    let raw: [u8; 32] = bytes.as_slice().try_into().map_err(|_| fail())?;
    VerifyingKey::from_bytes(&raw).map_err(|_| fail())
}

/// Generates a key pair from the OS RNG; returns (private PKCS#8 PEM, public SPKI PEM).
pub fn generate_pem() -> Result<(String, String), KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(KeyError::Rng)?;
    let key = SigningKey::from_bytes(&seed);
    let fail = |what| KeyError::Format {
        path: "<generated>".into(),
        what,
    };
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| fail("private key"))?
        .to_string();
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| fail("public key"))?;
    Ok((private, public))
}

/// Signs a checkpoint; returns the hex signature.
pub(super) fn sign(key: &SigningKey, seq: u64, hash: &str) -> String {
    hex::encode(key.sign(&checkpoint_message(seq, hash)).to_bytes())
}

/// Whether `signature` (hex) signs (seq, hash) under `key`.
pub(super) fn verify(key: &VerifyingKey, seq: u64, hash: &str, signature: &str) -> bool {
    let mut sig = [0u8; 64];
    if hex::decode_to_slice(signature, &mut sig).is_err() {
        return false;
    }
    key.verify(&checkpoint_message(seq, hash), &Signature::from_bytes(&sig))
        .is_ok()
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    crate::files::read(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pem_pair_signs_and_verifies() {
        let (private, public) = generate_pem().unwrap_or_else(|e| panic!("{e}"));
        let dir = std::env::temp_dir().join(format!("kwanus-sign-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("k.pem"), private).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("k.pub.pem"), public).unwrap_or_else(|e| panic!("{e}"));
        let sk = load_signing_key(&dir.join("k.pem")).unwrap_or_else(|e| panic!("{e}"));
        let vk = load_verifying_key(&dir.join("k.pub.pem")).unwrap_or_else(|e| panic!("{e}"));
        let sig = sign(&sk, 42, "ab");
        assert!(verify(&vk, 42, "ab", &sig));
        assert!(!verify(&vk, 43, "ab", &sig));
        assert!(!verify(&vk, 42, "ac", &sig));
        // Raw hex works too.
        std::fs::write(dir.join("raw"), hex::encode(sk.to_bytes()))
            .unwrap_or_else(|e| panic!("{e}"));
        let raw = load_signing_key(&dir.join("raw")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(raw.to_bytes(), sk.to_bytes());
    }
}
