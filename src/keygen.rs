//! `keygen`: a fresh partner key from the OS RNG, shown once, stored only as its SHA-256.

use std::fmt::Write as _;

use crate::auth::digest;

/// The prefix of every partner key.
pub const KEY_PREFIX: &str = "kwp_";

/// The demo's keys, published in the README and printed by `demo`: a configuration that grants
/// one to a partner grants it to anyone, so only `demo` loads them.
pub const DEMO_KEYS: [&str; 5] = [
    "kwp_demo_acme_read_only_key_0001",
    "kwp_demo_globex_workflow_key_0002",
    "kwp_demo_initech_deprecated_key_0003",
    "kwp_demo_umbrella_insights_key_0004",
    "kwp_demo_oldco_retired_key_0005",
];

/// The published demo key whose SHA-256 this is, if any.
pub fn public_demo_key(sha256: &[u8; 32]) -> Option<&'static str> {
    DEMO_KEYS
        .into_iter()
        .find(|k| digest(k.as_bytes()) == *sha256)
}

/// A generated key and the configuration line that stores its hash.
#[derive(Debug)]
pub struct Generated {
    /// The key: `kwp_` and 256 random bits in hex.
    pub key: String,
    /// Its SHA-256 in hex.
    pub sha256: String,
    /// A key id built from the partner id, the date and a random suffix.
    pub key_id: String,
}

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    /// The partner id would not be a valid config id.
    #[error("partner id {0:?} must be non-empty and use only letters, digits, '_', '.' and '-'")]
    BadPartner(String),
    /// The OS RNG failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(getrandom::Error),
}

/// Makes a key for `partner`.
pub fn generate(partner: &str) -> Result<Generated, KeygenError> {
    if !crate::config::is_valid_id(partner) {
        return Err(KeygenError::BadPartner(partner.to_owned()));
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(KeygenError::Rng)?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let sha256 = hex::encode(digest(key.as_bytes()));
    let date = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut key_id = format!("{partner}-{}", &date[..10]);
    // A short suffix from the hash keeps ids of keys made the same day apart.
    let _ = write!(key_id, "-{}", &sha256[..6]);
    Ok(Generated {
        key,
        sha256,
        key_id,
    })
}

// === impl Generated ===

impl Generated {
    /// The TOML to paste into the partner's entry (no secret in it).
    pub fn toml_line(&self) -> String {
        format!(
            "keys = [{{ id = \"{}\", sha256 = \"{}\" }}]",
            self.key_id, self.sha256
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_long_random_and_hashed() {
        let a = generate("acme").unwrap_or_else(|e| panic!("{e}"));
        let b = generate("acme").unwrap_or_else(|e| panic!("{e}"));
        assert!(a.key.starts_with("kwp_"));
        assert_eq!(a.key.len(), 4 + 64, "256 bits in hex");
        assert_ne!(a.key, b.key);
        assert_eq!(a.sha256, hex::encode(digest(a.key.as_bytes())));
        assert!(!a.toml_line().contains(&a.key));
        assert!(a.toml_line().contains(&a.sha256));
        assert!(generate("bad id").is_err());
    }
}
