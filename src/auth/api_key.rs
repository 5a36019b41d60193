//! API keys: found by the SHA-256 of the presented key in a map built at load.
//!
//! Only digests are stored or compared; the presented key never reaches `Debug`, logs or
//! the audit trail.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::auth::principal::Partner;

/// A SHA-256 digest of a key.
pub type KeyDigest = [u8; 32];

/// One configured key.
#[derive(Debug)]
pub struct KeyEntry {
    /// The partner that holds it.
    pub partner: Arc<Partner>,
    /// The key's id from the configuration.
    pub key_id: Arc<str>,
    /// From this instant on the key is refused.
    pub expires: Option<SystemTime>,
    /// A revoked key is always refused.
    pub revoked: bool,
}

/// All keys of a snapshot, by digest.
#[derive(Default)]
pub struct KeyStore {
    by_digest: HashMap<KeyDigest, KeyEntry, crate::model::FastHash>,
}

/// A key as presented by a client; its `Debug` never shows it.
pub struct PresentedKey<'a>(pub &'a str);

// === impl KeyStore ===

impl KeyStore {
    /// Adds a key; returns the entry back if the digest is already present.
    pub fn insert(&mut self, digest: KeyDigest, entry: KeyEntry) -> Result<(), KeyEntry> {
        if self.by_digest.contains_key(&digest) {
            return Err(entry);
        }
        self.by_digest.insert(digest, entry);
        Ok(())
    }

    /// Looks a presented key up by its digest.
    ///
    /// Lookup compares digests, not keys: timing reveals at most how a digest of the
    /// attacker's own guess relates to stored digests, which does not help find a key.
    pub fn find(&self, key: &PresentedKey<'_>) -> Option<&KeyEntry> {
        self.by_digest.get(&digest(key.0.as_bytes()))
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("keys", &self.by_digest.len())
            .finish()
    }
}

// === impl PresentedKey ===

impl fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedKey(<redacted>)")
    }
}

pub use crate::digest::digest;
